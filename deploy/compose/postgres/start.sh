#!/bin/sh
# The compose stack's PostgreSQL with TLS: the server refuses a key file that is not its own
# with mode 0600, and Compose bind-mounts secrets with their host owner and mode, so the key
# and certificate are copied where the server owns them before the image's entrypoint runs.
# pg_hba.conf (mounted next to this script) takes TCP only over TLS, with scram-sha-256.
set -eu
install -d -o postgres -g postgres -m 0700 /run/gayari-tls
install -o postgres -g postgres -m 0600 /run/secrets/postgres-server.key /run/gayari-tls/server.key
install -o postgres -g postgres -m 0644 /run/secrets/postgres-server.crt /run/gayari-tls/server.crt
exec docker-entrypoint.sh postgres \
  -c ssl=on \
  -c ssl_cert_file=/run/gayari-tls/server.crt \
  -c ssl_key_file=/run/gayari-tls/server.key \
  -c ssl_min_protocol_version=TLSv1.2 \
  -c hba_file=/opt/gayari/postgres/pg_hba.conf \
  -c password_encryption=scram-sha-256
