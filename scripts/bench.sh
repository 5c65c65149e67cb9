#!/usr/bin/env bash
# `make bench`: every benchmark under bench/, on the real infrastructure; figures are
# written to bench/results/. Starts the infrastructure if needed (and leaves it running).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
if command -v uv >/dev/null 2>&1; then UV=(uv); else UV=(python3 -m uv); fi
bash deploy/local/infra.sh up
set -a; . var/infra.env; set +a
for bench in bench/*.py; do
  echo "[bench] $bench"
  "${UV[@]}" run --frozen python "$bench"
done
