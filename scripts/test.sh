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
"${UV[@]}" run --frozen mypy libs/kit/src libs/contracts/src services/*/src gateway/src storefront/src

# Tools beyond uv.lock, each installed once and idempotently: Debian's chromium for the
# browser suite (never a downloaded browser), a pinned axe-core from npm, and the bench's
# wrk, nginx and vegeta for its smoke run. The OpenAPI tests install theirs themselves.
echo "[test] tools: chromium, axe-core, wrk, nginx, vegeta"
bash scripts/test-browser-tools.sh
bash scripts/test-axe-tools.sh >/dev/null
bash scripts/bench-tools.sh

bash deploy/local/infra.sh up
set -a; . var/infra.env; set +a
export EMPORIUM_REQUIRE_INFRA=1

# tests/chaos (marker `chaos`) breaks PostgreSQL and Kafka instances of its own and shares
# no state with the rest, so it runs beside the main suite (mostly waiting out outages).
echo "[test] chaos suite in the background (log: var/log/chaos-tests.log)"
mkdir -p var/log
"${UV[@]}" run --frozen pytest -q -m chaos tests/chaos >var/log/chaos-tests.log 2>&1 &
chaospid=$!
stop_chaos() { kill "$chaospid" 2>/dev/null || true; wait "$chaospid" 2>/dev/null || true; }
trap 'stop_chaos; stop_started' EXIT

echo "[test] pytest"
"${UV[@]}" run --frozen pytest -m "not chaos" --ignore=tests/security --ignore=tests/browser "$@"

# The security suite starts a platform with settings of its own (trusted proxies, stream
# caps). Two platforms alive at once on the shared topics would answer each other's orders
# (each catalog replies to every OrderPlaced), so it runs once the e2e platform is gone.
echo "[test] security suite (its own platform)"
"${UV[@]}" run --frozen pytest tests/security

# The browser suite drives Debian's chromium through the shop and the admin of a platform
# of its own, on the e2e platform's consumer groups (caught up with the topics), so it too
# runs once the other platforms are gone.
echo "[test] browser suite (chromium, the real stack)"
"${UV[@]}" run --frozen pytest -q tests/browser

echo "[test] waiting for the chaos suite"
chaos_rc=0
wait "$chaospid" || chaos_rc=$?
cat var/log/chaos-tests.log
if [ "$chaos_rc" -ne 0 ]; then
  echo "[test] chaos suite failed (exit $chaos_rc)"
  exit "$chaos_rc"
fi
trap stop_started EXIT

# The same storefront suite against the embedded default (`make dev`), on spare ports and
# a throwaway data folder, so a developer's own `make dev` data is left alone.
echo "[test] e2e storefront suite against the embedded default (make dev)"
devdir="$(mktemp -d)"
EMPORIUM_DEV_DIR="$devdir" EMPORIUM_DEV_PORT=18000 CATALOG_PORT=18001 CUSTOMERS_PORT=18002 \
  ORDERS_PORT=18003 STOREFRONT_PORT=18004 "${UV[@]}" run --frozen python scripts/dev.py >"$devdir/dev.log" 2>&1 &
devpid=$!
stop_dev() { kill "$devpid" 2>/dev/null || true; wait "$devpid" 2>/dev/null || true; }
trap 'stop_dev; stop_started' EXIT
for _ in $(seq 1 300); do
  curl -fsS http://127.0.0.1:18000/readyz 2>/dev/null | grep -q '"status":"ok"' && break
  kill -0 "$devpid" 2>/dev/null || { tail -n 40 "$devdir/dev.log"; exit 1; }
  sleep 0.5
done
EMPORIUM_E2E_BASE_URL=http://127.0.0.1:18000 "${UV[@]}" run --frozen pytest -q \
  tests/e2e/test_storefront_api.py tests/e2e/test_outage.py tests/e2e/test_schemathesis.py \
  tests/browser
stop_dev
trap stop_started EXIT

# Every scenario of `make bench` for a few seconds against `make up`'s services, so the
# harness cannot rot (figures not asserted). After the other platforms are gone: a second
# platform on the shared topics would answer their orders.
echo "[test] bench smoke run (make bench --smoke)"
bash scripts/test-bench-smoke.sh
