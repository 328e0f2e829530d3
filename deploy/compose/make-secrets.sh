#!/usr/bin/env bash
# Makes what deploy/compose/compose.yaml mounts as secrets, into deploy/compose/secrets/ (never
# committed): a CA, the certificates of Kafka and PostgreSQL signed by it, and one generated
# password per Kafka principal and PostgreSQL role. Run it once before `docker compose up`; it
# is idempotent: what exists is kept, certificates are renewed 30 days before they expire (or
# when the CA changed), and `--renew` makes new certificates (not passwords).
#
#   deploy/compose/make-secrets.sh [--renew]
#   env: GAYARI_COMPOSE_SECRETS_DIR (default deploy/compose/secrets)
#        GAYARI_COMPOSE_AGENCIES    agency codes, space separated (default: the four agencies;
#                                   keep it in step with GAYARI_AGENCIES)
#        GAYARI_COMPOSE_HOSTNAMES   extra names for the server certificates (space separated)
# Needs: openssl (1.1.1 or 3.x).
#
# The folder is 0700; the files in it are 0644 except the CA key (0600): Compose bind-mounts
# each secret file with its host mode, and the containers read them as non-root users
# (services 10001, Kafka 1000). The PostgreSQL key is copied to a 0600 file the server owns
# when its container starts.
set -euo pipefail
umask 022

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
OUT="${GAYARI_COMPOSE_SECRETS_DIR:-$HERE/secrets}"
AGENCIES="${GAYARI_COMPOSE_AGENCIES:-dinsos dispar distakan dkukmpp}"
EXTRA_NAMES="${GAYARI_COMPOSE_HOSTNAMES:-}"
DAYS=825
RENEW=false
[[ "${1:-}" == "--renew" ]] && RENEW=true

mkdir -p "$OUT"/kafka "$OUT"/postgres
chmod 0700 "$OUT"

# URL-safe, no ',' '=' or quotes: usable in Kafka's --add-scram and JAAS and in a URL as is.
password() {
  local file="$1"
  [[ -s "$file" ]] && return 0
  openssl rand -base64 33 | tr '+/' '-_' | tr -d '=\n' > "$file.tmp"
  mv "$file.tmp" "$file"
  echo "made $file"
}

# The CA (10 years); its key never leaves this folder.
if [[ ! -s "$OUT/ca.key" || ! -s "$OUT/ca.pem" ]]; then
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$OUT/ca.key" 2>/dev/null
  chmod 0600 "$OUT/ca.key"
  openssl req -x509 -new -key "$OUT/ca.key" -sha256 -days 3650 -subj "/CN=GAYARI compose CA" \
    -addext "basicConstraints=critical,CA:TRUE,pathlen:0" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" -out "$OUT/ca.pem"
  echo "made $OUT/ca.pem"
  RENEW=true
fi

# server NAME CERT KEY: a certificate for the compose service NAME (and the host's 127.0.0.1 /
# localhost, where its port is published), EC P-256, the key in PKCS#8 (Kafka's PEM keystore
# takes no other).
server() {
  local name="$1" cert="$2" key="$3" san="DNS:$1,DNS:localhost,IP:127.0.0.1" extra
  for extra in $EXTRA_NAMES; do san+=",DNS:$extra"; done
  if ! $RENEW && [[ -s "$cert" && -s "$key" ]] \
    && openssl x509 -in "$cert" -noout -checkend $((30 * 86400)) >/dev/null \
    && openssl verify -CAfile "$OUT/ca.pem" "$cert" >/dev/null 2>&1; then
    return 0
  fi
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$key.tmp" 2>/dev/null
  openssl req -new -key "$key.tmp" -subj "/CN=$name" -out "$cert.csr"
  openssl x509 -req -in "$cert.csr" -CA "$OUT/ca.pem" -CAkey "$OUT/ca.key" -CAcreateserial \
    -CAserial "$OUT/ca.srl" -days "$DAYS" -sha256 -out "$cert.tmp" -extfile <(printf '%s\n' \
      "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature" \
      "extendedKeyUsage=serverAuth,clientAuth" "subjectAltName=$san") 2>/dev/null
  rm -f "$cert.csr"
  chmod 0644 "$key.tmp" "$cert.tmp"
  mv "$key.tmp" "$key"
  mv "$cert.tmp" "$cert"
  echo "made $cert ($san)"
}

server kafka "$OUT/kafka/server.crt" "$OUT/kafka/server.key"
# Kafka's PEM keystore: the private key and the certificate chain in one file.
cat "$OUT/kafka/server.key" "$OUT/kafka/server.crt" > "$OUT/kafka/keystore.pem"
server postgres "$OUT/postgres/server.crt" "$OUT/postgres/server.key"

# Kafka: the super user (the broker, the ACL job), the topic provisioner, the services, and one
# principal per agency (its system publishes into its own intake topic with it).
for principal in admin provisioner service-registry service-interventions service-reporting; do
  password "$OUT/kafka/$principal.password"
done
for code in $AGENCIES; do
  [[ "$code" =~ ^[a-z0-9-]+$ ]] || { echo "bad agency code: $code" >&2; exit 2; }
  password "$OUT/kafka/agency-$code.password"
done
# PostgreSQL: the superuser and one role per service.
for role in postgres gayari_registry gayari_interventions gayari_reporting; do
  password "$OUT/postgres/$role.password"
done
password "$OUT/hash-secret"
password "$OUT/grafana-admin-password"
chmod 0644 "$OUT"/kafka/*.password "$OUT"/postgres/*.password "$OUT/hash-secret" \
  "$OUT/grafana-admin-password" "$OUT/ca.pem"
echo "secrets ready in $OUT"
