# shellcheck shell=bash
# Redis: our own redis-server on 127.0.0.1:56379, data dir var/redis, no
# persistence. A system redis service, if any, is left alone. Sourced by
# infra.sh; `bash redis.sh up|down|status` is a shortcut for `infra.sh <cmd> redis`.

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  exec bash "$(dirname "$0")/infra.sh" "${1:-status}" redis
fi

REDIS_PORT=56379
REDIS_DIR="$VAR/redis"
REDIS_CONF="$REDIS_DIR/redis.conf"
REDIS_LOG="$LOG_DIR/redis.log"
REDIS_PIDFILE="$RUN_DIR/redis.pid"
REDIS_SERVER=""

_redis_find_bin() {
  REDIS_SERVER="$(command -v redis-server 2>/dev/null || true)"
  [ -n "$REDIS_SERVER" ] || { [ -x /usr/bin/redis-server ] && REDIS_SERVER=/usr/bin/redis-server; }
  [ -n "$REDIS_SERVER" ]
}

redis_install() {
  _redis_find_bin && return 0
  # apt-get waits for a concurrent apt/dpkg run (DPkg::Lock::Timeout), and
  # then installs nothing if that run already brought redis-server in.
  log "redis: redis-server not found, installing it (apt)..."
  apt_install redis-server
  _redis_find_bin || die "redis: redis-server still not found after install"
}

redis_is_running() { is_running "$REDIS_PIDFILE" ":$REDIS_PORT"; }
redis_pid() { read_pidfile "$REDIS_PIDFILE"; }

_redis_ping() {
  if have redis-cli; then
    [ "$(redis-cli -h "$INFRA_HOST" -p "$REDIS_PORT" ping 2>/dev/null)" = "PONG" ]
  else
    local reply
    reply="$(exec 3<>"/dev/tcp/$INFRA_HOST/$REDIS_PORT" && printf 'PING\r\n' >&3 \
      && timeout 2 head -c 7 <&3)" 2>/dev/null || return 1
    [ "${reply%$'\r'*}" = "+PONG" ]
  fi
}

# Is PID the redis-server of another checkout (working dir <elsewhere>/var/redis)?
_redis_is_other_tree() {
  local cwd
  case "$(proc_args "$1" | head -n1)" in *redis-server*) ;; *) return 1 ;; esac
  cwd="$(readlink "/proc/$1/cwd" 2>/dev/null || true)"
  case "$cwd" in */var/redis) ;; *) return 1 ;; esac
  [ "$cwd" != "$REDIS_DIR" ]
}

REDIS_STARTED_AT=0
redis_start() {
  ensure_dirs
  mkdir -p "$REDIS_DIR"
  release_ports redis TERM _redis_is_other_tree "$REDIS_PORT"
  ensure_port_free redis "$REDIS_PORT"
  rotate_log "$REDIS_LOG"
  cat >"$REDIS_CONF" <<EOF
# Written by deploy/local/redis.sh on every start; do not edit.
bind $INFRA_HOST
port $REDIS_PORT
protected-mode yes
daemonize yes
supervised no
pidfile "$REDIS_PIDFILE"
logfile "$REDIS_LOG"
dir "$REDIS_DIR"
save ""
appendonly no
databases 16
EOF
  REDIS_STARTED_AT="$(now_ms)"
  log "redis: starting redis-server ($REDIS_SERVER)"
  rm -f "$REDIS_PIDFILE"
  "$REDIS_SERVER" "$REDIS_CONF" </dev/null >>"$REDIS_LOG" 2>&1 9>&- \
    || fail_with_log redis "$REDIS_LOG" "redis-server failed to start"
}

redis_wait() {
  local deadline=$(($(now_s) + INFRA_TIMEOUT)) t0="$REDIS_STARTED_AT"
  [ "$t0" -gt 0 ] || t0="$(now_ms)"
  until _redis_ping; do
    if [ "$(now_s)" -ge "$deadline" ]; then
      fail_with_log redis "$REDIS_LOG" "not ready after ${INFRA_TIMEOUT}s"
    fi
    if [ $(($(now_ms) - t0)) -ge 3000 ] && ! redis_is_running; then
      fail_with_log redis "$REDIS_LOG" "redis-server exited"
    fi
    sleep 0.1
  done
  # daemonize writes the pid file just after forking; make sure it is there.
  local i=0
  while [ ! -s "$REDIS_PIDFILE" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
  ready_msg redis "$INFRA_HOST:$REDIS_PORT" "$t0"
}

redis_stop() {
  if ! redis_is_running; then
    log "redis: not running"
    return 0
  fi
  local pid
  pid="$(redis_pid)"
  log "redis: stopping (pid $pid)"
  stop_pid redis "$pid" 20
  rm -f "$REDIS_PIDFILE"
  log "redis: stopped"
}

redis_endpoint() { echo "$INFRA_HOST:$REDIS_PORT"; }
