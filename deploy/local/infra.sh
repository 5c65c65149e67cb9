#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Local infrastructure for Emporium, run natively (no containers):
# PostgreSQL, Redis, Kafka and SeaweedFS (S3), on 127.0.0.1 only.
#
#   deploy/local/infra.sh up     [pg|redis|kafka|s3 ...]   install if missing, start, wait until ready
#   deploy/local/infra.sh down   [pg|redis|kafka|s3 ...]   stop what we started (data is kept)
#   deploy/local/infra.sh restart [pg|redis|kafka|s3 ...]  down, then up
#   deploy/local/infra.sh status [pg|redis|kafka|s3 ...]   exit 0 iff all of them run (else 3)
#   deploy/local/infra.sh env                              print the settings of var/infra.env
#
# No component given = all four. See deploy/local/README.md.
set -euo pipefail

# shellcheck source=lib.sh
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"
# shellcheck source=postgres.sh
. "$INFRA_DIR/postgres.sh"
# shellcheck source=redis.sh
. "$INFRA_DIR/redis.sh"
# shellcheck source=kafka.sh
. "$INFRA_DIR/kafka.sh"
# shellcheck source=seaweedfs.sh
. "$INFRA_DIR/seaweedfs.sh"

ALL_COMPONENTS=(pg redis kafka s3)

usage() {
  sed -n '3,/^set -/p' "${BASH_SOURCE[0]}" | grep '^#' | sed 's/^# \{0,1\}//' >&2
  exit 2
}

# component key -> function prefix
module_of() {
  case "$1" in
    pg | postgres | postgresql) echo postgres ;;
    redis) echo redis ;;
    kafka) echo kafka ;;
    s3 | seaweedfs | weed) echo seaweedfs ;;
    *) return 1 ;;
  esac
}

key_of() {
  case "$1" in
    postgres) echo pg ;;
    seaweedfs) echo s3 ;;
    *) echo "$1" ;;
  esac
}

# Resolve the arguments into a de-duplicated list of modules (MODULES).
resolve() {
  MODULES=()
  local args=("$@") a m seen=" "
  [ ${#args[@]} -gt 0 ] || args=("${ALL_COMPONENTS[@]}")
  for a in "${args[@]}"; do
    [ "$a" = "all" ] && { resolve; return; }
    m="$(module_of "$a")" || { log "unknown component '$a' (use: pg redis kafka s3)"; exit 2; }
    case "$seen" in *" $m "*) continue ;; esac
    seen="$seen$m "
    MODULES+=("$m")
  done
}

env_lines() {
  cat <<EOF
export EMPORIUM_POSTGRES_URL=$PG_URL
export EMPORIUM_REDIS_URL=redis://$INFRA_HOST:$REDIS_PORT/0
export EMPORIUM_KAFKA_BOOTSTRAP=$INFRA_HOST:$KAFKA_PORT
export EMPORIUM_S3_ENDPOINT=http://$INFRA_HOST:$S3_PORT
export AWS_ACCESS_KEY_ID=$S3_ACCESS_KEY
export AWS_SECRET_ACCESS_KEY=$S3_SECRET_KEY
export AWS_DEFAULT_REGION=$S3_REGION
EOF
}

write_env() {
  local tmp="$VAR/infra.env.tmp.$$"
  env_lines >"$tmp"
  mv -f "$tmp" "$VAR/infra.env"
}

# One `up`/`down` at a time per work tree.
take_lock() {
  ensure_dirs
  exec 9>"$RUN_DIR/infra.lock"
  if ! flock -n 9; then
    log "another infra.sh is running here, waiting for it..."
    flock -w 600 9 || die "timed out waiting for the lock $RUN_DIR/infra.lock"
  fi
}

cmd_up() {
  resolve "$@"
  take_lock
  local t0 m started=() running=() keys=()
  t0="$(now_ms)"
  # 1. install/fetch what is missing (sequential: apt and downloads)
  for m in "${MODULES[@]}"; do
    "${m}_install"
    keys+=("$(key_of "$m")")
  done
  reserve_ports "$PG_PORT" "$REDIS_PORT" "$KAFKA_PORT-$KAFKA_CONTROLLER_PORT" \
    "$WEED_MASTER_PORT-$WEED_DEBUG_PORT" "$WEED_ADMIN_PORT"
  # 2. launch everything that is not running yet
  for m in "${MODULES[@]}"; do
    if "${m}_is_running"; then
      log "$(key_of "$m"): already running (pid $("${m}_pid")) on $("${m}_endpoint")"
      running+=("$m")
    else
      "${m}_start"
      started+=("$m")
    fi
  done
  # 3. wait until ready: the ones we launched (they start up in parallel),
  #    and the ones already running (a previous `up` may still be starting them)
  for m in ${started[@]+"${started[@]}"}; do
    "${m}_wait"
  done
  for m in ${running[@]+"${running[@]}"}; do
    INFRA_QUIET_READY=1 "${m}_wait"
  done
  write_env
  log "up: ${keys[*]} ready in $(since "$t0"); settings in ${VAR#"$ROOT"/}/infra.env"
}

cmd_down() {
  resolve "$@"
  take_lock
  local m pids=() rc=0 p
  # All components stop in parallel (each waits for its own process to exit).
  for m in "${MODULES[@]}"; do
    if [ "$m" = postgres ] && ! _pg_find_bin; then
      log "pg: not installed"
      continue
    fi
    "${m}_stop" &
    pids+=("$!")
  done
  for p in ${pids[@]+"${pids[@]}"}; do
    wait "$p" || rc=1
  done
  return $rc
}

cmd_status() {
  resolve "$@"
  local m rc=0
  for m in "${MODULES[@]}"; do
    if "${m}_is_running"; then
      printf '%-6s running  pid %-8s %s\n' "$(key_of "$m")" "$("${m}_pid")" "$("${m}_endpoint")"
    else
      printf '%-6s stopped\n' "$(key_of "$m")"
      rc=3
    fi
  done
  return $rc
}

main() {
  local cmd="${1:-}"
  [ $# -gt 0 ] && shift
  case "$cmd" in
    up | start) cmd_up "$@" ;;
    down | stop) cmd_down "$@" ;;
    restart) cmd_down "$@"; exec 9>&-; cmd_up "$@" ;;
    status) cmd_status "$@" ;;
    env) env_lines ;;
    -h | --help | help | "") usage ;;
    *) log "unknown command '$cmd'"; usage ;;
  esac
}

main "$@"
