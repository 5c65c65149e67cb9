#!/usr/bin/env bash
# Part of `make test`: the storefront API and session, outage, schemathesis and browser
# suites against the embedded default (`make dev`: SQLite, in-process bus), on spare ports
# (18000-18004) and a throwaway data folder, so a developer's own `make dev` data is left
# alone.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
if command -v uv >/dev/null 2>&1; then UV=(uv); else UV=(python3 -m uv); fi
devdir="$(mktemp -d)"
EMPORIUM_DEV_DIR="$devdir" EMPORIUM_DEV_PORT=18000 CATALOG_PORT=18001 CUSTOMERS_PORT=18002 \
  ORDERS_PORT=18003 STOREFRONT_PORT=18004 "${UV[@]}" run --frozen python scripts/dev.py \
  >"$devdir/dev.log" 2>&1 &
devpid=$!
stop_dev() {
  kill "$devpid" 2>/dev/null || true
  wait "$devpid" 2>/dev/null || true
  rm -rf "$devdir"
}
trap stop_dev EXIT
for _ in $(seq 1 600); do
  curl -fsS http://127.0.0.1:18000/readyz 2>/dev/null | grep -q '"status":"ok"' && break
  kill -0 "$devpid" 2>/dev/null || { tail -n 40 "$devdir/dev.log"; exit 1; }
  sleep 0.5
done
rc=0
EMPORIUM_E2E_BASE_URL=http://127.0.0.1:18000 "${UV[@]}" run --frozen pytest -q \
  tests/e2e/test_storefront_api.py tests/e2e/test_storefront_session.py tests/e2e/test_outage.py \
  tests/e2e/test_schemathesis.py \
  tests/browser || rc=$?
if [ "$rc" -ne 0 ]; then echo "[make-dev] the platform's log:"; tail -n 80 "$devdir/dev.log"; fi
exit "$rc"
