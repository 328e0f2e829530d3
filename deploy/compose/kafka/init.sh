#!/bin/bash
# One-shot (the compose service kafka-init), as the super user admin: gives every principal that
# has a password file its SCRAM credential if the broker lacks it (a principal added after the
# storage was formatted), then creates the ACLs. Deny by default: what is not below is refused.
#
#   agency-<a>             WRITE, DESCRIBE  topic <p>.intake.<a> (its own only; reads nothing)
#   provisioner            CREATE, DESCRIBE topics prefixed "<p>." (the topics one-shot)
#   service-*              DESCRIBE         every topic of the deployment
#   service-registry       WRITE            <p>.households
#   service-interventions  READ             <p>.households, <p>.intake.<a> (every agency)
#                          WRITE            <p>.interventions, <p>.deadletter
#                          READ             groups gayari-interventions, gayari-interventions-intake
#   service-reporting      READ             <p>.households, <p>.interventions, <p>.deadletter
#                          WRITE            <p>.deadletter (what it cannot project)
#                          READ             groups <group>, <group>-refusals
#
# <p> = GAYARI_TOPIC_PREFIX, <a> = each agency with a password file (make-secrets.sh,
# GAYARI_COMPOSE_AGENCIES), <group> = GAYARI_REPORTING_CONSUMER_GROUP. Adding an ACL that exists
# changes nothing, so the job runs on every `up`; ACLs of a removed agency are not deleted
# (deploy/README.md, "Docker Compose").
set -euo pipefail
umask 077

SECRETS=/run/gayari/kafka
BOOTSTRAP=kafka:9092
PREFIX="${GAYARI_TOPIC_PREFIX:-gayari}"
GROUP="${GAYARI_REPORTING_CONSUMER_GROUP:-gayari-reporting}"
ADMIN=/tmp/admin.properties
BIN=/opt/kafka/bin

cat > "$ADMIN" <<PROPERTIES
security.protocol=SASL_SSL
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="$(tr -d '\n' < "$SECRETS/admin.password")";
ssl.truststore.type=PEM
ssl.truststore.location=/run/gayari/ca.pem
PROPERTIES

agencies=()
for file in "$SECRETS"/agency-*.password; do
  [[ -e "$file" ]] && agencies+=("$(basename "$file" .password | sed 's/^agency-//')")
done

# SCRAM credentials the broker does not have yet.
known="$("$BIN/kafka-configs.sh" --bootstrap-server "$BOOTSTRAP" --command-config "$ADMIN" \
  --describe --entity-type users)"
for file in "$SECRETS"/*.password; do
  principal="$(basename "$file" .password)"
  [[ "$principal" == admin ]] && continue
  if ! grep -q "'$principal' are .*SCRAM-SHA-512" <<<"$known"; then
    echo "adding the SCRAM credential of $principal"
    "$BIN/kafka-configs.sh" --bootstrap-server "$BOOTSTRAP" --command-config "$ADMIN" --alter \
      --entity-type users --entity-name "$principal" \
      --add-config "SCRAM-SHA-512=[iterations=8192,password=$(tr -d '\n' < "$file")]"
  fi
done

allow() {  # allow PRINCIPAL... -- ACL OPTIONS...
  local args=()
  while [[ "$1" != -- ]]; do args+=(--allow-principal "User:$1"); shift; done
  shift
  "$BIN/kafka-acls.sh" --bootstrap-server "$BOOTSTRAP" --command-config "$ADMIN" --add \
    "${args[@]}" "$@" >/dev/null
}
topics() { local t; for t in "$@"; do printf -- '--topic\n%s\n' "$PREFIX.$t"; done; }

intakes=()
for code in "${agencies[@]}"; do
  intakes+=("intake.$code")
  allow "agency-$code" -- --operation Write --operation Describe --topic "$PREFIX.intake.$code"
done
allow provisioner -- --operation Create --operation Describe \
  --resource-pattern-type prefixed --topic "$PREFIX."
mapfile -t every_topic < <(topics households interventions "${intakes[@]}" deadletter)
allow service-registry service-interventions service-reporting -- --operation Describe \
  "${every_topic[@]}"
allow service-registry -- --operation Write --topic "$PREFIX.households"
mapfile -t reads < <(topics households "${intakes[@]}")
allow service-interventions -- --operation Read "${reads[@]}"
allow service-interventions -- --operation Write \
  --topic "$PREFIX.interventions" --topic "$PREFIX.deadletter"
allow service-interventions -- --operation Read \
  --group gayari-interventions --group gayari-interventions-intake
allow service-reporting -- --operation Read \
  --topic "$PREFIX.households" --topic "$PREFIX.interventions" --topic "$PREFIX.deadletter"
allow service-reporting -- --operation Write --topic "$PREFIX.deadletter"
allow service-reporting -- --operation Read --group "$GROUP" --group "$GROUP-refusals"

echo "ACLs in place for ${#agencies[@]} agencies (${agencies[*]}) and the three services"
