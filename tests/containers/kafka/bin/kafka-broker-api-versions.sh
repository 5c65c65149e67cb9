#!/bin/sh
# STAND-IN apache/kafka image: the real kafka-broker-api-versions.sh, as the class it runs.
exec "$(dirname "$0")/kafka-run-class.sh" org.apache.kafka.tools.BrokerApiVersionsCommand "$@"
