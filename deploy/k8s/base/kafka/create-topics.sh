#!/bin/sh
# Creates the platform's topics with their partitions (idempotent: existing topics are
# left as they are). Used by docker-compose.yml (service kafka-init) and by the Kubernetes
# Job kafka-topics; runs in the apache/kafka image.
#
#   BOOTSTRAP_SERVER     e.g. kafka:9092
#   TOPICS               space-separated topic names
#   PARTITIONS           partitions per topic: the most consumers of one group that get work
#   REPLICATION_FACTOR   1 on one broker, 3 on a real cluster
#   COMMAND_CONFIG       optional client properties file (TLS/SASL on a managed cluster)
#
# The dead-letter topics (<group>.dlq, 1 partition) are created by the consumers themselves.
set -eu

kafka_topics="${KAFKA_TOPICS_BIN:-/opt/kafka/bin/kafka-topics.sh}"
set -- --bootstrap-server "${BOOTSTRAP_SERVER:?set BOOTSTRAP_SERVER}"
if [ -n "${COMMAND_CONFIG:-}" ]; then
  set -- "$@" --command-config "$COMMAND_CONFIG"
fi

for topic in ${TOPICS:?set TOPICS}; do
  "$kafka_topics" "$@" --create --if-not-exists --topic "$topic" \
    --partitions "${PARTITIONS:?set PARTITIONS}" \
    --replication-factor "${REPLICATION_FACTOR:-1}"
  # A topic that already existed with fewer partitions is grown (never shrunk).
  current="$("$kafka_topics" "$@" --describe --topic "$topic" \
    | sed -n 's/.*PartitionCount: *\([0-9][0-9]*\).*/\1/p' | head -n 1)"
  if [ -n "$current" ] && [ "$current" -lt "$PARTITIONS" ]; then
    echo "create-topics: $topic has $current partitions, growing it to $PARTITIONS"
    "$kafka_topics" "$@" --alter --topic "$topic" --partitions "$PARTITIONS"
  fi
  echo "create-topics: $topic ready"
done
