#!/usr/bin/env bash
# Start, stop and list Emporium's services and gateway as separate processes on the real
# infrastructure (`make up` runs deploy/local/infra.sh up first).
#
#   deploy/local/services.sh up [catalog|customers|orders|gateway|storefront ...]
#   deploy/local/services.sh down [...]
#   deploy/local/services.sh status [...]      exit 0 iff all of them run
#
# Each service gets its own PostgreSQL database (created here), migrates at start
# (`python -m emporium.<service> serve --migrate`), logs to var/log/<service>.log and keeps
# its pid in var/run/<service>.pid. Ports: gateway 8000, catalog 8001, customers 8002,
# orders 8003, storefront 8004 (the web shop; the gateway passes it every non-API path, so
# the shop is at http://localhost:8000/).
set -euo pipefail
# shellcheck source=deploy/local/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ALL=(catalog customers orders gateway storefront)
declare -A PORT=([gateway]=8000 [catalog]=8001 [customers]=8002 [orders]=8003 [storefront]=8004)
if command -v uv >/dev/null 2>&1; then UV=(uv); else UV=(python3 -m uv); fi

slog() { printf '[services] %s\n' "$*" >&2; }

service_env() {
  # The environment a service reads (its own prefix only), from var/infra.env.
  local name="$1" prefix
  prefix="$(echo "$name" | tr '[:lower:]' '[:upper:]')_"
  local pg_base="${EMPORIUM_POSTGRES_URL%/*}"
  echo "${prefix}ENVIRONMENT=dev"
  echo "${prefix}HOST=127.0.0.1"
  echo "${prefix}PORT=${PORT[$name]}"
  if [ "$name" = storefront ]; then
    # A client of the public API only: no database, no bus, no cache of its own.
    echo "STOREFRONT_API_URL=http://127.0.0.1:${PORT[gateway]}/api/v1"
    return
  fi
  echo "${prefix}REDIS_URL=$EMPORIUM_REDIS_URL"
  # HTTP worker processes (the background loops run in one of them): EMPORIUM_<NAME>_WORKERS
  # (EMPORIUM_CATALOG_WORKERS=2 ...), default 1: four parts on 2 cores already fill them.
  local workers_var="EMPORIUM_${prefix}WORKERS"
  echo "${prefix}WORKERS=${!workers_var:-1}"
  # Everyone but the issuer verifies tokens with the customers service's keys.
  [ "$name" = customers ] || echo "${prefix}JWKS_URL=http://127.0.0.1:${PORT[customers]}/auth/jwks"
  if [ "$name" = gateway ]; then
    for upstream in catalog customers orders; do
      echo "GATEWAY_$(echo "$upstream" | tr '[:lower:]' '[:upper:]')_URL=http://127.0.0.1:${PORT[$upstream]}"
    done
    echo "GATEWAY_STOREFRONT_URL=http://127.0.0.1:${PORT[storefront]}"
    # The storefront calls the API from loopback on behalf of each shopper (X-Forwarded-For).
    echo "GATEWAY_TRUSTED_PROXIES=127.0.0.1/32"
    return
  fi
  echo "${prefix}DATABASE_URL=${pg_base/postgresql:/postgresql+asyncpg:}/$name"
  echo "${prefix}BUS=kafka"
  echo "${prefix}KAFKA_BOOTSTRAP_SERVERS=$EMPORIUM_KAFKA_BOOTSTRAP"
  if [ "$name" = catalog ]; then
    echo "CATALOG_STORAGE=s3"
    echo "CATALOG_S3_ENDPOINT_URL=$EMPORIUM_S3_ENDPOINT"
    echo "CATALOG_S3_ACCESS_KEY_ID=$AWS_ACCESS_KEY_ID"
    echo "CATALOG_S3_SECRET_ACCESS_KEY=$AWS_SECRET_ACCESS_KEY"
  fi
}

ensure_database() {
  local name="$1"
  if ! psql "$EMPORIUM_POSTGRES_URL" -tAc "SELECT 1 FROM pg_database WHERE datname = '$name'" | grep -q 1; then
    psql "$EMPORIUM_POSTGRES_URL" -qc "CREATE DATABASE \"$name\"" >/dev/null
    slog "$name: created database $name"
  fi
}

launch_one() {
  # Start NAME in the background unless it runs; prints nothing, returns at once.
  local name="$1" pidfile="$RUN_DIR/$1.pid"
  if pid_alive "$(read_pidfile "$pidfile")"; then
    slog "$name: already running (pid $(read_pidfile "$pidfile"))"
    return 0
  fi
  local args=(serve)
  case "$name" in
    gateway | storefront) ;;
    *) ensure_database "$name"; args+=(--migrate) ;;
  esac
  (
    set -a
    while IFS= read -r line; do export "${line?}"; done < <(service_env "$name")
    cd "$ROOT"
    exec nohup "${UV[@]}" run --frozen --no-sync python -m "emporium.$name" "${args[@]}" \
      >>"$LOG_DIR/$name.log" 2>&1 </dev/null
  ) &
  echo $! >"$pidfile"
}

wait_ready() {
  local name="$1" pidfile="$RUN_DIR/$1.pid" started="$2"
  local deadline=$(($(now_s) + INFRA_TIMEOUT))
  until curl -fsS "http://127.0.0.1:${PORT[$name]}/healthz" >/dev/null 2>&1; do
    if ! pid_alive "$(read_pidfile "$pidfile")"; then
      tail -n 30 "$LOG_DIR/$name.log" >&2 || true
      die "$name exited during start (log: var/log/$name.log)"
    fi
    [ "$(now_s)" -lt "$deadline" ] || die "$name not up within ${INFRA_TIMEOUT}s (log: var/log/$name.log)"
    sleep 0.2
  done
  slog "$name: ready on http://127.0.0.1:${PORT[$name]} ($(since "$started"))"
}

stop_one() {
  local name="$1" pidfile="$RUN_DIR/$1.pid" pid
  pid="$(read_pidfile "$pidfile")"
  if ! pid_alive "$pid"; then
    rm -f "$pidfile"
    return 0
  fi
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 150); do pid_alive "$pid" || break; sleep 0.1; done
  pid_alive "$pid" && kill -KILL "$pid" 2>/dev/null || true
  rm -f "$pidfile"
  slog "$name: stopped"
}

main() {
  local command="${1:-status}"
  shift || true
  local names=("$@")
  [ ${#names[@]} -gt 0 ] || names=("${ALL[@]}")
  ensure_dirs
  case "$command" in
    up)
      [ -f "$VAR/infra.env" ] || die "no var/infra.env: run deploy/local/infra.sh up first"
      set -a; . "$VAR/infra.env"; set +a
      # All at once (each migrates its own database), then wait for each to answer.
      local started
      started="$(now_ms)"
      for name in "${names[@]}"; do launch_one "$name"; done
      for name in "${names[@]}"; do wait_ready "$name" "$started"; done
      slog "gateway: http://localhost:8000 (API docs: /docs)" ;;
    down)
      local reversed=()
      for name in "${names[@]}"; do reversed=("$name" "${reversed[@]}"); done
      for name in "${reversed[@]}"; do stop_one "$name"; done ;;
    status)
      local rc=0
      for name in "${names[@]}"; do
        if pid_alive "$(read_pidfile "$RUN_DIR/$name.pid")"; then
          echo "$name: running (pid $(read_pidfile "$RUN_DIR/$name.pid"), port ${PORT[$name]})"
        else
          echo "$name: stopped"; rc=3
        fi
      done
      return $rc ;;
    *) die "usage: services.sh up|down|status [catalog|customers|orders|gateway ...]" ;;
  esac
}

main "$@"
