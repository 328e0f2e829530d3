#!/usr/bin/env bash
# Installs what the browser tests drive beside Debian's Chromium (playwright-core, which
# downloads no browser, and axe-core) from the npm registry into the cache, exactly as
# package-lock.json pins them; a second run with the same lock file does nothing.
# Usage: tests/browser/install.sh   (env: DEST=<repo>/.cache/tools/browser)
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
DEST="${DEST:-$HERE/../../.cache/tools/browser}"
command -v npm >/dev/null || { echo "npm (Node.js 18+) is required: apt-get install npm" >&2; exit 1; }
mkdir -p "$DEST"
if cmp -s "$HERE/package-lock.json" "$DEST/package-lock.json" && [[ -f "$DEST/node_modules/axe-core/axe.min.js" ]] \
   && [[ -d "$DEST/node_modules/playwright-core" ]]; then
  echo "browser tools up to date in $DEST"
  exit 0
fi
cp "$HERE/package.json" "$HERE/package-lock.json" "$DEST/"
( cd "$DEST" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --ignore-scripts --no-audit --no-fund --loglevel=error )
echo "browser tools installed in $DEST"
