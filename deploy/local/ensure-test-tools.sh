#!/usr/bin/env bash
# Debian packages the test suites drive as real, external programs: Chromium and Node.js (the
# dashboard's browser and accessibility tests, through tests/browser), poppler-utils (pdftotext
# and pdftoppm read the monthly report's PDF). Kafka's own console clients come from Maven Central (`stack.py tools`); Debian's
# kcat cannot log in with SCRAM to Kafka 4 (librdkafka < 2.6.1).
set -euo pipefail
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v npm >/dev/null 2>&1 || missing+=(npm)
command -v pdftotext >/dev/null 2>&1 || missing+=(poppler-utils)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "missing: ${missing[*]}; install them with 'sudo apt-get install ${missing[*]}'" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1 || {
  apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}"
}
