#!/bin/bash
# The compose stack's Kafka broker (one KRaft node, broker + controller), secured: every listener
# is SASL_SSL, clients log in with SCRAM-SHA-512, the StandardAuthorizer denies what no ACL
# allows. Writes server.properties from the mounted secrets, formats the storage once with a
# SCRAM credential for every principal that has a password file (users added later get theirs
# from the kafka-init job), then runs the broker. Mounted read-only at /opt/gayari/kafka.
set -euo pipefail
umask 077

SECRETS=/run/gayari/kafka          # deploy/compose/secrets/kafka (make-secrets.sh)
CA=/run/gayari/ca.pem
CONF_DIR=/tmp/gayari               # container-private; the files hold the admin password
CONF="$CONF_DIR/server.properties"
mkdir -p "$CONF_DIR"
admin="$(tr -d '\n' < "$SECRETS/admin.password")"

cat > "$CONF" <<PROPERTIES
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@kafka:9093
# INTERNAL: the compose network (services, one-shots). HOST: published on the host's
# 127.0.0.1 only. CONTROLLER: KRaft, never published. No PLAINTEXT listener: no anonymous user.
listeners=INTERNAL://:9092,HOST://:29092,CONTROLLER://:9093
advertised.listeners=INTERNAL://kafka:9092,HOST://127.0.0.1:${GAYARI_COMPOSE_KAFKA_PORT:-29092}
listener.security.protocol.map=INTERNAL:SASL_SSL,HOST:SASL_SSL,CONTROLLER:SASL_SSL
inter.broker.listener.name=INTERNAL
ssl.keystore.type=PEM
ssl.keystore.location=$SECRETS/keystore.pem
ssl.truststore.type=PEM
ssl.truststore.location=$CA
ssl.endpoint.identification.algorithm=https
sasl.enabled.mechanisms=SCRAM-SHA-512
sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512
listener.name.internal.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="$admin";
listener.name.host.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
# A KRaft controller cannot check SCRAM (the credentials live in the metadata it serves): its
# listener takes SASL/PLAIN over TLS, with one static user, admin.
controller.listener.names=CONTROLLER
sasl.mechanism.controller.protocol=PLAIN
listener.name.controller.sasl.enabled.mechanisms=PLAIN
listener.name.controller.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" password="$admin" user_admin="$admin";
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
super.users=User:admin
allow.everyone.if.no.acl.found=false
log.dirs=/var/lib/kafka/data
# Topics are provisioned by the project (the topics one-shot), never auto-created.
auto.create.topics.enable=false
num.partitions=6
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
PROPERTIES

# The admin's client settings: the healthcheck (kafka-broker-api-versions.sh) uses them.
cat > "$CONF_DIR/admin.properties" <<PROPERTIES
security.protocol=SASL_SSL
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="$admin";
ssl.truststore.type=PEM
ssl.truststore.location=$CA
PROPERTIES

# Every principal's SCRAM credential is in the metadata from the start (a no-op once formatted).
scram=()
for file in "$SECRETS"/*.password; do
  principal="$(basename "$file" .password)"
  scram+=(--add-scram "SCRAM-SHA-512=[name=$principal,iterations=8192,password=$(tr -d '\n' < "$file")]")
done
/opt/kafka/bin/kafka-storage.sh format --ignore-formatted --cluster-id "$CLUSTER_ID" \
  --config "$CONF" "${scram[@]}"

exec /opt/kafka/bin/kafka-server-start.sh "$CONF"
