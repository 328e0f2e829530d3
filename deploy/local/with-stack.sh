#!/usr/bin/env bash
# Run a command with the local stack up: reuse a running stack, or start one and stop it after.
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
py="$root/.venv/bin/python"

started=0
if ! "$py" "$here/stack.py" status >/dev/null 2>&1; then
  bash "$here/ensure-postgresql.sh" || exit 1
  "$py" "$here/stack.py" start || exit 1
  started=1
fi

"$@"
code=$?

if [ $started = 1 ]; then
  "$py" "$here/stack.py" stop || true
fi
exit $code
