#!/usr/bin/env bash
# Debian packages the test suites drive as real, external programs: kcat (a Kafka client that
# nobody here wrote, for the intake tests) and Chromium (the dashboard's browser test).
set -euo pipefail
missing=()
command -v kcat >/dev/null 2>&1 || missing+=(kcat)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "missing: ${missing[*]}; install them with 'sudo apt-get install ${missing[*]}'" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1 || {
  apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}"
}
