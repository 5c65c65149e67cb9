#!/usr/bin/env bash
# The bench's smoke run for `make test`: every scenario of `make bench` for a few seconds,
# so the harness cannot rot (its figures are not asserted; a scenario that fails does).
# Starts `make up`'s services when they are not running and stops those it started; the
# infrastructure is left as it was found (started if needed, never stopped here).
# Run it after the main suites: it is load, and would starve them of the two cores.
# Takes ~2 min.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
started=0
if ! bash deploy/local/services.sh status >/dev/null 2>&1; then started=1; fi
stop_started() {
  if [ "$started" = 1 ]; then bash deploy/local/services.sh down || true; fi
}
trap stop_started EXIT
if command -v uv >/dev/null 2>&1; then UV=(uv); else UV=(python3 -m uv); fi
"${UV[@]}" sync --frozen --quiet
bash scripts/bench.sh --smoke
