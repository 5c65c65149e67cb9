#!/bin/sh
# STAND-IN apache/kafka image (tests/containers): `kafka-run-class.sh CLASS ARGS...` runs a
# Kafka class with the jars in /opt/kafka/libs, reading the variables the real script reads:
# KAFKA_HEAP_OPTS (default -Xmx256M), KAFKA_JVM_PERFORMANCE_OPTS, KAFKA_LOG4J_OPTS (default:
# warnings to stderr, as the tools log) and KAFKA_OPTS. One difference: a tool (not the
# broker, see kafka-server-start.sh) defaults to the quick-start JIT and the serial GC, as
# kafka-init runs some twenty short tool runs and the health check one every 10 s.
set -eu
class="$1"
shift
# shellcheck disable=SC2086 # the *_OPTS variables are lists of JVM options on purpose
exec java ${KAFKA_HEAP_OPTS:--Xmx256M} \
  ${KAFKA_JVM_PERFORMANCE_OPTS:--XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Djava.awt.headless=true} \
  ${KAFKA_LOG4J_OPTS:--Dlog4j2.configurationFile=/opt/kafka/config/tools-log4j2.properties} \
  ${KAFKA_OPTS:-} -cp '/opt/kafka/libs/*' "$class" "$@"
