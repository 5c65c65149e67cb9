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

mkdir -p var/log

# Suites that share no state run side by side: each platform a suite starts takes a Kafka
# topic prefix, databases and Redis keys of its own. `bg NAME CMD...` runs one in the
# background with its output in var/log/NAME.log; `wait_bg` waits for them all, prints
# each log and fails with the first failing suite's exit code.
bgnames=(); bgpids=()
bg() {
  local name="$1"; shift
  echo "[test] $name in the background (log: var/log/$name.log)"
  # A session (and process group) of its own, so stop_bg ends the suite's children too
  # (pytest's platforms, uv's child) and not only uv. setsid does not fork here (a
  # background job is no group leader), so $! is the group's id.
  setsid "$@" >"var/log/$name.log" 2>&1 &
  bgnames+=("$name"); bgpids+=("$!")
}
stop_bg() {
  local pid
  for pid in "${bgpids[@]}"; do kill -- "-$pid" 2>/dev/null || kill "$pid" 2>/dev/null || true; done
  for pid in "${bgpids[@]}"; do wait "$pid" 2>/dev/null || true; done
}
wait_bg() {
  local i rc first=0
  for i in "${!bgpids[@]}"; do
    rc=0
    wait "${bgpids[$i]}" || rc=$?
    echo "[test] ===== ${bgnames[$i]} (exit $rc): var/log/${bgnames[$i]}.log ====="
    cat "var/log/${bgnames[$i]}.log"
    if [ "$rc" -ne 0 ] && [ "$first" -eq 0 ]; then first=$rc; echo "[test] ${bgnames[$i]} failed"; fi
  done
  bgnames=(); bgpids=()
  return "$first"
}
trap 'stop_bg; stop_started' EXIT

# The tests marked kafka_restart stop and restart the shared broker: alone, before the rest.
echo "[test] pytest -m kafka_restart (restarts the shared Kafka broker, so alone)"
"${UV[@]}" run --frozen pytest -q -m kafka_restart libs

# tests/chaos breaks PostgreSQL and Kafka instances of its own (mostly waiting out outages).
bg chaos "${UV[@]}" run --frozen pytest -q -m chaos tests/chaos
# The security and browser suites each start a platform with settings of their own; then
# the storefront, outage, schemathesis and browser suites against the embedded default
# (`make dev`: SQLite, in-process bus) on spare ports and a throwaway data folder. One
# after another: all at once beside the main run starve the embedded SQLite's writers.
bg security-browser-make-dev bash -c \
  '"$@" pytest tests/security && "$@" pytest -q tests/browser && bash scripts/test-against-dev.sh' \
  _ "${UV[@]}" run --frozen

# The main run: everything else, in four shards side by side. Most of its time is waiting
# (consumers, relays, polls), not CPU: one process alone keeps the cores about half busy.
# Arguments (`bash scripts/test.sh <pytest args>`) run it as one process instead.
main=(-m "not chaos and not kafka_restart" --durations=10 -p no:cacheprovider)
if [ "$#" -gt 0 ]; then
  bg main "${UV[@]}" run --frozen pytest "${main[@]}" --ignore=tests/security \
    --ignore=tests/browser "$@"
else
  bg main-libs-gateway-storefront-customers "${UV[@]}" run --frozen pytest "${main[@]}" \
    libs gateway storefront services/customers
  # The deployment and platform checks beside catalog: with the end-to-end suites they
  # made the longest shard (25 min of a 31 min run on a slow host).
  bg main-catalog-deploy "${UV[@]}" run --frozen pytest "${main[@]}" services/catalog \
    tests/deploy tests/platform
  bg main-orders "${UV[@]}" run --frozen pytest "${main[@]}" services/orders
  bg main-tests "${UV[@]}" run --frozen pytest "${main[@]}" tests \
    --ignore=tests/security --ignore=tests/browser --ignore=tests/deploy --ignore=tests/platform
fi
bg_rc=0
wait_bg || bg_rc=$?
trap stop_started EXIT
if [ "$bg_rc" -ne 0 ]; then exit "$bg_rc"; fi

# Every scenario of `make bench` for a few seconds against `make up`'s services, so the
# harness cannot rot (figures not asserted). Last and alone: it is load, and would starve
# the suites above of the two cores.
echo "[test] bench smoke run (make bench --smoke)"
bash scripts/test-bench-smoke.sh
