#!/usr/bin/env bash
# `make bench`: the platform under load (issue 12's scenarios) against `make up`, plus the
# micro-benchmarks under bench/. Figures go to bench/results/latest.{json,md}.
#
#   scripts/bench.sh            the full run (~12 min)
#   scripts/bench.sh --smoke    a few seconds of every scenario, into var/bench/smoke/
#
# Installs its tools (scripts/bench-tools.sh), starts the infrastructure and the services
# when they are not running (and leaves them running), and gives the gateway the bench's
# rate limits (see bench/README.md): a gateway already running with other limits is
# restarted with them.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
if command -v uv >/dev/null 2>&1; then UV=(uv); else UV=(python3 -m uv); fi

bash scripts/bench-tools.sh
# 5,000 shoppers are 5,000 sockets in the generator and as many in the gateway: the
# services started from here inherit this limit.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
bash deploy/local/infra.sh up
set -a; . var/infra.env; set +a

# Per-address and per-customer windows of 6,000 requests a minute (100/s: a busy office
# behind one address), still counted in Redis on every request; the generators spread
# their load so that no address or customer reaches it (each 429 is reported).
export GATEWAY_RATE_LIMIT_ANONYMOUS="${GATEWAY_RATE_LIMIT_ANONYMOUS:-6000}"
export GATEWAY_RATE_LIMIT_CUSTOMER="${GATEWAY_RATE_LIMIT_CUSTOMER:-6000}"
bash deploy/local/services.sh status >/dev/null 2>&1 || bash deploy/local/services.sh up
limit="$(curl -s -o /dev/null -D - http://127.0.0.1:8000/api/v1/categories \
  | awk 'tolower($1) == "ratelimit-limit:" { print $2 }' | tr -d '\r')"
if [ "$limit" != "$GATEWAY_RATE_LIMIT_ANONYMOUS" ]; then
  echo "[bench] the gateway runs with an anonymous limit of ${limit:-?}: restarting it with $GATEWAY_RATE_LIMIT_ANONYMOUS"
  bash deploy/local/services.sh down gateway
  bash deploy/local/services.sh up gateway
fi

PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" "${UV[@]}" run --frozen python -m bench.load "$@"
