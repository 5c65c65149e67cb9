#!/usr/bin/env bash
# `make test`: start the real infrastructure (unless it already runs), run every test
# against it, and stop what this script started. pytest's own exit code is the result, so
# "no tests collected" (exit 5) fails the run like any other failure.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
if command -v uv >/dev/null 2>&1; then UV=(uv); else UV=(python3 -m uv); fi

started=()
for part in pg redis kafka s3; do
  if ! bash deploy/local/infra.sh status "$part" >/dev/null 2>&1; then
    started+=("$part")
  fi
done
stop_started() {
  if [ ${#started[@]} -gt 0 ]; then
    echo "[test] stopping ${started[*]}"
    bash deploy/local/infra.sh down "${started[@]}" || true
  fi
}
trap stop_started EXIT

echo "[test] lint: ruff + mypy --strict"
"${UV[@]}" run --frozen ruff check .
"${UV[@]}" run --frozen ruff format --check .
"${UV[@]}" run --frozen mypy libs/kit/src libs/contracts/src services/*/src gateway/src

bash deploy/local/infra.sh up
set -a; . var/infra.env; set +a
export EMPORIUM_REQUIRE_INFRA=1

echo "[test] pytest"
"${UV[@]}" run --frozen pytest "$@"
