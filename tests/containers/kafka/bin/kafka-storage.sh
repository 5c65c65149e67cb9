#!/bin/sh
# STAND-IN apache/kafka image: the real kafka-storage.sh, as the class it runs.
exec "$(dirname "$0")/kafka-run-class.sh" kafka.tools.StorageTool "$@"
