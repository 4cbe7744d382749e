#!/bin/bash
# One-shot set-up of the cluster for linkguard: SCRAM users, topics, ACLs per role.
# Runs as the super user "admin" over the INTERNAL listener with its TLS certificate
# (./secrets/kafka/admin.keystore.jks). Idempotent: safe to run again after a change.
set -euo pipefail
BIN=/opt/kafka/bin
SECRETS=/etc/kafka/secrets
CONFIG=/tmp/admin.properties
cat > "$CONFIG" <<PROPS
security.protocol=SSL
ssl.keystore.location=$SECRETS/admin.keystore.jks
ssl.keystore.password=$(cat "$SECRETS/keystore_creds")
ssl.key.password=$(cat "$SECRETS/key_creds")
ssl.truststore.location=$SECRETS/kafka.truststore.jks
ssl.truststore.password=$(cat "$SECRETS/truststore_creds")
PROPS
admin() { "$BIN/$1" --bootstrap-server "$BOOTSTRAP" --command-config "$CONFIG" "${@:2}"; }

P="${TOPIC_PREFIX}"
RECORDS="${P}linkage.records"; RESIDENTS="${P}registry.residents"; BY_NUMBER="${P}linkage.records-by-number"
VERIFIED="${P}linkage.verified"; HELD="${P}linkage.held"; DLQ="${P}linkage.dlq"
BY_BATCH="${P}linkage.records-by-batch"; RETRACTED="${P}linkage.retracted"
BY_IDENTITY="${P}linkage.records-by-identity"
DECISIONS="${P}linkage.decisions"; DECIDED="${P}linkage.decided"; RETURNED="${P}linkage.returned"
CONTROL="${P}linkage.control"

# -- users: one per role, SCRAM-SHA-512 --------------------------------------------------
for pair in "linkguard-guard:$GUARD_PASSWORD" "linkguard-sink:$SINK_PASSWORD" \
            "linkguard-publisher:$PUBLISHER_PASSWORD" "linkguard-registry:$REGISTRY_PASSWORD" \
            "linkguard-monitor:$MONITOR_PASSWORD" "linkguard-web:$WEB_PASSWORD"; do
  user="${pair%%:*}"; password="${pair#*:}"
  admin kafka-configs.sh --alter --entity-type users --entity-name "$user" \
    --add-config "SCRAM-SHA-512=[iterations=8192,password=$password]"
done

# -- topics: every linkage topic has the same partition count (co-partitioning) --------
for topic in "$RECORDS" "$BY_NUMBER" "$BY_IDENTITY" "$BY_BATCH" "$VERIFIED" "$HELD" "$DLQ" "$RETRACTED" \
             "$DECISIONS" "$DECIDED" "$RETURNED"; do
  admin kafka-topics.sh --create --if-not-exists --topic "$topic" --partitions "$PARTITIONS" \
    --replication-factor 3 --config min.insync.replicas=2
done
for topic in "$RESIDENTS" "$CONTROL"; do
  admin kafka-topics.sh --create --if-not-exists --topic "$topic" --partitions "$PARTITIONS" \
    --replication-factor 3 --config min.insync.replicas=2 --config cleanup.policy=compact
done

# -- ACLs per role ----------------------------------------------------------------------
allow() { admin kafka-acls.sh --add --allow-principal "User:$1" "${@:2}"; }
# business systems: write linkage.records, nothing else (idempotent producer)
allow linkguard-publisher --operation Write --operation Describe --topic "$RECORDS"
allow linkguard-publisher --operation IdempotentWrite --cluster
# the registry loader: write registry.residents
allow linkguard-registry --operation Write --operation Describe --topic "$RESIDENTS"
allow linkguard-registry --operation IdempotentWrite --cluster
# the guard (Faust): reads records and the registry, writes verdicts, owns its group and
# its internal topics (<app id>-…-changelog, created by Faust under the app id prefix)
allow linkguard-guard --operation Read --operation Describe --topic "$RECORDS" --topic "$RESIDENTS" --topic "$BY_NUMBER" \
  --topic "$BY_IDENTITY" --topic "$BY_BATCH" --topic "$DECISIONS" --topic "$CONTROL"
allow linkguard-guard --operation Write --operation Describe --topic "$BY_NUMBER" --topic "$BY_IDENTITY" --topic "$BY_BATCH" --topic "$VERIFIED" \
  --topic "$HELD" --topic "$DLQ" --topic "$RETRACTED" --topic "$DECIDED" --topic "$RETURNED"
allow linkguard-guard --operation All --topic "$APP_ID" --resource-pattern-type prefixed
allow linkguard-guard --operation All --group "$APP_ID" --resource-pattern-type prefixed
allow linkguard-guard --operation IdempotentWrite --operation Describe --cluster
# the sink: the only reader of linkage.verified
allow linkguard-sink --operation Read --operation Describe --topic "$VERIFIED" --topic "$HELD" --topic "$DLQ" \
  --topic "$DECISIONS" --topic "$DECIDED"
allow linkguard-sink --operation Read --group "${APP_ID}-sink"
# every command checks on start that the linkage topics exist (and would create missing
# ones): Describe on all of them lets it see they are there, without reading a record
for user in linkguard-sink linkguard-web linkguard-publisher linkguard-registry; do
  allow "$user" --operation Describe --topic "$RECORDS" --topic "$RESIDENTS" --topic "$BY_NUMBER" \
    --topic "$BY_BATCH" --topic "$VERIFIED" --topic "$HELD" --topic "$DLQ" --topic "$RETRACTED" \
    --topic "$DECISIONS" --topic "$DECIDED" --topic "$RETURNED" --topic "$CONTROL"
done
# the headquarters (web/CLI, four-eyes approved) stops and resumes a process's linkage
allow linkguard-web --operation Write --operation Describe --topic "$CONTROL"
# business systems read back what reviewers returned to them
allow linkguard-publisher --operation Read --operation Describe --topic "$RETURNED"
allow linkguard-publisher --operation Read --group "${APP_ID}-returned" --resource-pattern-type prefixed
# the web app: reviewer decisions and dead-letter replays go back through linkage.records
allow linkguard-web --operation Write --operation Describe --topic "$RECORDS" --topic "$DECISIONS"
allow linkguard-web --operation IdempotentWrite --cluster
# monitoring (linkguard metrics / linkguard lag): group offsets, end offsets, and the
# timestamp of each partition's oldest unconsumed record (that read needs Read on the topic)
allow linkguard-monitor --operation Describe --group "$APP_ID" --resource-pattern-type prefixed
allow linkguard-monitor --operation Describe --operation Read --topic "$RECORDS" --topic "$BY_NUMBER" \
  --topic "$BY_BATCH" --topic "$RESIDENTS" --topic "$VERIFIED" --topic "$HELD" --topic "$DLQ" --topic "$RETRACTED"
allow linkguard-monitor --operation Describe --cluster
echo "kafka-init: users, topics and ACLs in place"
