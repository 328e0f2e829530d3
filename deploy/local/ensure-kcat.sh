#!/usr/bin/env bash
# kcat (Debian's package) is the external Kafka client the intake tests publish with: a real
# agency system would use its own client, not ours.
set -euo pipefail
command -v kcat >/dev/null 2>&1 && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "kcat is missing: install it with 'sudo apt-get install kcat'" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -qq kcat >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq kcat; }
kcat -V | head -1
