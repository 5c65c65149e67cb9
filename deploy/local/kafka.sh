# shellcheck shell=bash
# Apache Kafka (KRaft, one combined broker+controller) on 127.0.0.1:59092
# (controller 59093), data in var/kafka/data. The jars are fetched once with
# Maven (deploy/local/kafka/pom.xml) into $EMPORIUM_CACHE/kafka-<version>/libs
# and run with the machine's Java 17+. Sourced by infra.sh;
# `bash kafka.sh up|down|status` is a shortcut for `infra.sh <cmd> kafka`.

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  exec bash "$(dirname "$0")/infra.sh" "${1:-status}" kafka
fi

KAFKA_VERSION="${EMPORIUM_KAFKA_VERSION:-4.1.1}"
KAFKA_PORT=59092
KAFKA_CONTROLLER_PORT=59093
KAFKA_DIR="$VAR/kafka"
KAFKA_DATA="$KAFKA_DIR/data"
KAFKA_CONF="$KAFKA_DIR/server.properties"
KAFKA_LOG="$LOG_DIR/kafka.log"
KAFKA_PIDFILE="$RUN_DIR/kafka.pid"
# Size of kafka.log when the running broker was started: readiness is looked
# for in the log lines after it.
KAFKA_OFFSETFILE="$RUN_DIR/kafka.log-offset"
KAFKA_LIBS="$EMPORIUM_CACHE/kafka-$KAFKA_VERSION/libs"
KAFKA_HEAP_OPTS="${EMPORIUM_KAFKA_HEAP_OPTS:--Xms256m -Xmx512m}"
KAFKA_STOP_TIMEOUT="${EMPORIUM_KAFKA_STOP_TIMEOUT:-30}"

_kafka_java_major() {
  java -version 2>&1 | sed -nE '1s/.*version "([0-9]+)(\.[0-9]+)*.*".*/\1/p'
}

_kafka_fetch_jars() {
  [ -f "$KAFKA_LIBS/.complete" ] && return 0
  have mvn || apt_install maven
  local parent tmp t0
  parent="$(dirname "$KAFKA_LIBS")"
  mkdir -p "$parent"
  tmp="$(mktemp -d "$parent/libs.tmp.XXXXXX")"
  t0="$(now_ms)"
  log "kafka: fetching jars for Kafka $KAFKA_VERSION (first time, ~1 min)..."
  if ! mvn -B -q -ntp -f "$INFRA_DIR/kafka/pom.xml" -Dkafka.version="$KAFKA_VERSION" \
      dependency:copy-dependencies -DoutputDirectory="$tmp" >"$parent/mvn.log" 2>&1; then
    rm -rf "$tmp"
    fail_with_log kafka "$parent/mvn.log" "fetching the Kafka $KAFKA_VERSION jars with Maven failed"
  fi
  [ -f "$tmp/kafka_2.13-$KAFKA_VERSION.jar" ] \
    || { rm -rf "$tmp"; die "kafka: Maven did not produce kafka_2.13-$KAFKA_VERSION.jar"; }
  touch "$tmp/.complete"
  rm -rf "$KAFKA_LIBS"
  mv "$tmp" "$KAFKA_LIBS"
  log "kafka: jars cached in $KAFKA_LIBS ($(since "$t0"))"
}

kafka_install() {
  if ! have java; then
    log "kafka: java not found, installing a JRE (apt)..."
    apt_install openjdk-17-jre-headless
  fi
  local major
  major="$(_kafka_java_major)"
  [ -n "$major" ] && [ "$major" -ge 17 ] \
    || die "kafka: Kafka $KAFKA_VERSION needs Java 17 or newer (found: ${major:-unknown})"
  _kafka_fetch_jars
}

kafka_is_running() { is_running "$KAFKA_PIDFILE" "$KAFKA_CONF"; }
kafka_pid() { read_pidfile "$KAFKA_PIDFILE"; }

# _kafka_java_cmd : sets KAFKA_CMD to the java command line (without main class).
_kafka_java_cmd() {
  # shellcheck disable=SC2206 # word splitting of the heap options is intended
  KAFKA_CMD=(java $KAFKA_HEAP_OPTS -XX:+UseG1GC -XX:MaxGCPauseMillis=20
    -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent
    -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true
    "-Dlog4j2.configurationFile=$INFRA_DIR/kafka/log4j2.properties"
    -cp "$KAFKA_LIBS/*")
}

_kafka_write_conf() {
  cat >"$KAFKA_CONF" <<EOF
# Written by deploy/local/kafka.sh on every start; do not edit.
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=$INFRA_HOST:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://$INFRA_HOST:$KAFKA_PORT,CONTROLLER://$INFRA_HOST:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://$INFRA_HOST:$KAFKA_PORT
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$KAFKA_DATA
num.partitions=3
default.replication.factor=1
min.insync.replicas=1
auto.create.topics.enable=true
delete.topic.enable=true
offsets.topic.replication.factor=1
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=10
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
# After a crash (kill -9) the restarted broker cannot register until the old
# registration's session expires: keep that short (defaults 9000/2000 ms).
broker.session.timeout.ms=4000
broker.heartbeat.interval.ms=1000
num.network.threads=2
num.io.threads=4
num.recovery.threads.per.data.dir=1
log.retention.hours=168
log.segment.bytes=104857600
EOF
}

_kafka_format() {
  local cluster_id
  # A Kafka Uuid: 16 random bytes, URL-safe base64 without padding. Passed as one
  # argument (--cluster-id=...): an id may start with "-", which would read as an option.
  cluster_id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')"
  log "kafka: formatting storage $KAFKA_DATA (cluster id $cluster_id)"
  _kafka_java_cmd
  "${KAFKA_CMD[@]}" kafka.tools.StorageTool format --standalone --cluster-id="$cluster_id" \
    -c "$KAFKA_CONF" </dev/null >>"$KAFKA_LOG" 2>&1 9>&- \
    || fail_with_log kafka "$KAFKA_LOG" "kafka-storage format failed"
}

# Is PID the broker of another checkout (kafka.Kafka <elsewhere>/var/kafka/server.properties)?
_kafka_is_other_tree() {
  local last
  last="$(proc_args "$1" | tail -n1)"
  case "$last" in */var/kafka/server.properties) ;; *) return 1 ;; esac
  [ "$last" != "$KAFKA_CONF" ] && proc_args "$1" | grep -qx 'kafka.Kafka'
}

KAFKA_STARTED_AT=0
kafka_start() {
  ensure_dirs
  mkdir -p "$KAFKA_DIR" "$KAFKA_DATA"
  release_ports kafka TERM _kafka_is_other_tree "$KAFKA_PORT" "$KAFKA_CONTROLLER_PORT"
  ensure_port_free kafka "$KAFKA_PORT" "$KAFKA_CONTROLLER_PORT"
  rotate_log "$KAFKA_LOG"
  _kafka_write_conf
  KAFKA_STARTED_AT="$(now_ms)"
  [ -f "$KAFKA_DATA/meta.properties" ] || _kafka_format
  log_size "$KAFKA_LOG" >"$KAFKA_OFFSETFILE"
  log "kafka: starting Kafka $KAFKA_VERSION"
  _kafka_java_cmd
  spawn "$KAFKA_PIDFILE" "$KAFKA_LOG" "${KAFKA_CMD[@]}" kafka.Kafka "$KAFKA_CONF"
}

_kafka_started_logged() {
  local offset
  offset="$(read_pidfile "$KAFKA_OFFSETFILE")"
  # (not `tail | grep -q`: grep quitting early fails the pipe under pipefail)
  grep -q 'Kafka Server started' <(tail -c +$((${offset:-0} + 1)) "$KAFKA_LOG" 2>/dev/null)
}

kafka_wait() {
  local deadline=$(($(now_s) + INFRA_TIMEOUT)) t0="$KAFKA_STARTED_AT" pid
  [ "$t0" -gt 0 ] || t0="$(now_ms)"
  pid="$(kafka_pid)"
  while :; do
    if _kafka_started_logged && port_open "$KAFKA_PORT"; then
      break
    fi
    if ! pid_alive "$pid"; then
      rm -f "$KAFKA_PIDFILE"
      fail_with_log kafka "$KAFKA_LOG" "the broker exited"
    fi
    if [ "$(now_s)" -ge "$deadline" ]; then
      fail_with_log kafka "$KAFKA_LOG" "not ready after ${INFRA_TIMEOUT}s"
    fi
    sleep 0.25
  done
  ready_msg kafka "$INFRA_HOST:$KAFKA_PORT" "$t0"
}

kafka_stop() {
  if ! kafka_is_running; then
    log "kafka: not running"
    return 0
  fi
  local pid t0
  pid="$(kafka_pid)"
  t0="$(now_ms)"
  log "kafka: stopping (pid $pid)"
  stop_pid kafka "$pid" "$KAFKA_STOP_TIMEOUT"
  rm -f "$KAFKA_PIDFILE"
  log "kafka: stopped ($(since "$t0"))"
}

kafka_endpoint() { echo "$INFRA_HOST:$KAFKA_PORT"; }
