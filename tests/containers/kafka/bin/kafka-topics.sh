#!/bin/sh
# STAND-IN apache/kafka image: the real kafka-topics.sh, as the class it runs.
exec "$(dirname "$0")/kafka-run-class.sh" org.apache.kafka.tools.TopicCommand "$@"
