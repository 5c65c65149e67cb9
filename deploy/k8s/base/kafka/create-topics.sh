#!/bin/sh
# Creates the platform's topics (idempotent). Used by docker-compose.yml (service
# kafka-init) and by the Kubernetes Job kafka-topics; runs in the apache/kafka image.
#
#   BOOTSTRAP_SERVER     e.g. kafka:9092
#   TOPICS               space-separated event topics, PARTITIONS partitions each
#   PARTITIONS           partitions per event topic: the most consumers of one group that
#                        get work
#   DLQ_TOPICS           space-separated dead-letter topics (<group>.dlq): 1 partition and
#                        retention.ms=-1, a dead letter is kept until it is replayed or
#                        deleted by hand (also set on one a consumer created first)
#   REPLICATION_FACTOR   1 on one broker, 3 on a real cluster
#   MIN_INSYNC_REPLICAS  optional: min.insync.replicas of every topic (2 with 3 replicas:
#                        an acks=all write survives the loss of one broker)
#   COMMAND_CONFIG       optional client properties file (TLS/SASL on a managed cluster)
#   KAFKA_BIN            the Kafka tool scripts' folder (default /opt/kafka/bin)
#
# An existing topic's partition count is never changed: more partitions would move keys to
# other partitions (breaking the per-key order consumers rely on) and Kafka cannot remove
# any. A topic whose count differs from PARTITIONS stops the script with exit status 3.
set -eu

: "${BOOTSTRAP_SERVER:?set BOOTSTRAP_SERVER}" "${TOPICS:?set TOPICS}" "${PARTITIONS:?set PARTITIONS}"
bin="${KAFKA_BIN:-/opt/kafka/bin}"
replication="${REPLICATION_FACTOR:-1}"

partition_count() {
  "$bin/kafka-topics.sh" "$@" --describe --topic "$topic" \
    | sed -n 's/.*PartitionCount: *\([0-9][0-9]*\).*/\1/p' | head -n 1
}

# ensure TOPIC PARTITIONS CONFIG...: create it if absent, check its partitions, set CONFIG.
ensure() {
  topic="$1" partitions="$2"
  shift 2
  configs="$*"
  set -- --bootstrap-server "$BOOTSTRAP_SERVER"
  if [ -n "${COMMAND_CONFIG:-}" ]; then
    set -- "$@" --command-config "$COMMAND_CONFIG"
  fi
  create_configs=""
  for config in $configs; do
    create_configs="$create_configs --config $config"
  done
  # shellcheck disable=SC2086 # create_configs is a list of words on purpose
  "$bin/kafka-topics.sh" "$@" --create --if-not-exists --topic "$topic" \
    --partitions "$partitions" --replication-factor "$replication" $create_configs
  current="$(partition_count "$@")"
  if [ -z "$current" ]; then
    echo "create-topics: cannot read the partition count of $topic" >&2
    exit 1
  fi
  if [ "$current" -ne "$partitions" ]; then
    echo "create-topics: $topic has $current partitions, not $partitions: refusing to change" \
      "an existing topic's partition count (keys would move and per-key order would break)." \
      "Set PARTITIONS to $current, or create a new topic and migrate to it." >&2
    exit 3
  fi
  if [ -n "$configs" ]; then
    # Also on a topic that existed before (created by a consumer, or by an older script).
    "$bin/kafka-configs.sh" "$@" --alter --entity-type topics --entity-name "$topic" \
      --add-config "$(echo "$configs" | tr ' ' ',')" >/dev/null
  fi
  echo "create-topics: $topic ready ($partitions partitions${configs:+, $configs})"
}

common=""
if [ -n "${MIN_INSYNC_REPLICAS:-}" ]; then
  common="min.insync.replicas=$MIN_INSYNC_REPLICAS"
fi

for name in $TOPICS; do
  # shellcheck disable=SC2086 # common is empty or one word
  ensure "$name" "$PARTITIONS" $common
done
for name in ${DLQ_TOPICS:-}; do
  # shellcheck disable=SC2086 # common is empty or one word
  ensure "$name" 1 retention.ms=-1 $common
done
