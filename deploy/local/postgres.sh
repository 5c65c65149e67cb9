# shellcheck shell=bash
# PostgreSQL: a private cluster in var/pg, TCP on 127.0.0.1:55432 with password
# auth. Sourced by infra.sh (needs lib.sh); `bash postgres.sh up|down|status`
# is a shortcut for `infra.sh <cmd> pg`.

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  exec bash "$(dirname "$0")/infra.sh" "${1:-status}" pg
fi

PG_PORT=55432
PG_USER=emporium
PG_PASSWORD=emporium
PG_DATA="$VAR/pg"
PG_SOCKET_DIR="$RUN_DIR/pg"
PG_LOG="$LOG_DIR/postgres.log"
PG_PIDFILE="$RUN_DIR/postgres.pid"
PG_URL="postgresql://$PG_USER:$PG_PASSWORD@$INFRA_HOST:$PG_PORT/postgres"
PG_MAJOR_WANTED="${EMPORIUM_PG_MAJOR:-15}"
PG_BIN=""

_pg_find_bin() {
  if [ -n "${EMPORIUM_PG_BIN:-}" ] && [ -x "$EMPORIUM_PG_BIN/initdb" ]; then
    PG_BIN="$EMPORIUM_PG_BIN"
    return 0
  fi
  if [ -x "/usr/lib/postgresql/$PG_MAJOR_WANTED/bin/initdb" ]; then
    PG_BIN="/usr/lib/postgresql/$PG_MAJOR_WANTED/bin"
    return 0
  fi
  # Any other installed major version (highest first).
  local d
  # shellcheck disable=SC2012 # fixed, well-known paths
  d="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k5 -V -r | head -n1 || true)"
  if [ -n "$d" ] && [ -x "$d/initdb" ]; then
    PG_BIN="$d"
    return 0
  fi
  return 1
}

# Run a PostgreSQL program as the server's owner: the `postgres` system user
# when we are root (the server refuses to run as root), else ourselves.
_pg_run() {
  if is_root; then
    (cd / && runuser -u postgres -- "$@")
  else
    "$@"
  fi
}

postgres_install() {
  if ! _pg_find_bin; then
    log "pg: PostgreSQL not found, installing it (apt)..."
    apt_install postgresql
    _pg_find_bin || die "pg: PostgreSQL binaries still not found after install"
  fi
  if is_root && ! id postgres >/dev/null 2>&1; then
    die "pg: running as root but there is no 'postgres' system user"
  fi
  have setsid || die "pg: setsid (util-linux) is required"
}

_pg_pid() {
  [ -f "$PG_DATA/postmaster.pid" ] || return 0
  head -n1 "$PG_DATA/postmaster.pid" 2>/dev/null | tr -dc '0-9'
}

postgres_is_running() {
  local pid
  pid="$(_pg_pid)"
  if [ -n "$pid" ] && pid_alive "$pid" && pid_matches "$pid" "$PG_DATA"; then
    echo "$pid" >"$PG_PIDFILE"
    return 0
  fi
  rm -f "$PG_PIDFILE"
  return 1
}

postgres_pid() { _pg_pid; }

# As root, the data dir must be reachable by the postgres user: give "search"
# (o+x, not read) permission on any ancestor directory that lacks it.
_pg_fix_traversal() {
  is_root || return 0
  runuser -u postgres -- test -w "$PG_DATA" 2>/dev/null && return 0
  local d="$PG_DATA" dirs=()
  while [ "$d" != "/" ]; do
    d="$(dirname "$d")"
    dirs=("$d" "${dirs[@]}")
  done
  for d in "${dirs[@]}"; do
    if ! runuser -u postgres -- test -x "$d" 2>/dev/null; then
      log "pg: chmod o+x $d (the postgres user must be able to reach var/pg)"
      chmod o+x "$d"
    fi
  done
  runuser -u postgres -- test -w "$PG_DATA" \
    || die "pg: the postgres user cannot write $PG_DATA"
}

_pg_write_conf() {
  local sockdirs="$PG_SOCKET_DIR"
  # Unix socket paths are limited to 107 bytes; fall back to TCP only.
  if [ $(( ${#PG_SOCKET_DIR} + 16 )) -gt 100 ]; then sockdirs=""; fi
  local conf="$PG_DATA/emporium.conf"
  cat >"$conf" <<EOF
# Written by deploy/local/postgres.sh on every start; do not edit.
listen_addresses = '$INFRA_HOST'
port = $PG_PORT
unix_socket_directories = '$sockdirs'
max_connections = 200
synchronous_commit = off
shared_buffers = 128MB
password_encryption = scram-sha-256
EOF
  is_root && chown postgres:postgres "$conf"
  return 0
}

_pg_initdb() {
  if [ -n "$(ls -A "$PG_DATA" 2>/dev/null)" ]; then
    die "pg: $PG_DATA is not empty but holds no cluster (no PG_VERSION); remove it"
  fi
  log "pg: initdb $PG_DATA (first time)"
  local pwfile
  pwfile="$(mktemp "$RUN_DIR/pgpw.XXXXXX")"
  printf '%s\n' "$PG_PASSWORD" >"$pwfile"
  chmod 0644 "$pwfile"
  local rc=0
  # The bootstrap superuser is `emporium` itself (password auth everywhere).
  _pg_run "$PG_BIN/initdb" -D "$PG_DATA" -U "$PG_USER" --pwfile="$pwfile" \
    -E UTF8 --locale=C.UTF-8 --auth=scram-sha-256 --no-instructions \
    >>"$PG_LOG" 2>&1 || rc=$?
  rm -f "$pwfile"
  [ $rc -eq 0 ] || fail_with_log pg "$PG_LOG" "initdb failed"
  printf "\n# Emporium local settings (port, sockets, tuning)\ninclude_if_exists = 'emporium.conf'\n" \
    >>"$PG_DATA/postgresql.conf"
}

# Is PID the postmaster of another checkout (<bin>/postgres -D <elsewhere>/var/pg)?
_pg_is_other_tree() {
  local args
  args="$(proc_args "$1")"
  case "$args" in */postgres$'\n'-D$'\n'*/var/pg) ;; *) return 1 ;; esac
  [ "$(printf '%s\n' "$args" | sed -n 3p)" != "$PG_DATA" ]
}

PG_STARTED_AT=0
postgres_start() {
  ensure_dirs
  # SIGINT = PostgreSQL's "fast" shutdown (SIGTERM would wait for clients).
  release_ports pg INT _pg_is_other_tree "$PG_PORT"
  ensure_port_free pg "$PG_PORT"
  mkdir -p "$PG_DATA" "$PG_SOCKET_DIR"
  chmod 0700 "$PG_DATA"
  rotate_log "$PG_LOG"
  touch "$PG_LOG"
  if is_root; then
    chown postgres:postgres "$PG_DATA" "$PG_SOCKET_DIR" "$PG_LOG"
    _pg_fix_traversal
  fi
  if [ -f "$PG_DATA/PG_VERSION" ]; then
    local have_major bin_major
    have_major="$(cat "$PG_DATA/PG_VERSION")"
    bin_major="$("$PG_BIN/postgres" --version | sed -E 's/.* ([0-9]+)(\.[0-9]+)*.*/\1/')"
    [ "$have_major" = "$bin_major" ] \
      || die "pg: $PG_DATA was made by PostgreSQL $have_major but the binaries are $bin_major; remove $PG_DATA"
  else
    _pg_initdb
  fi
  _pg_write_conf
  PG_STARTED_AT="$(now_ms)"
  log "pg: starting PostgreSQL ($PG_BIN)"
  _pg_run "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$PG_LOG" -W start </dev/null >/dev/null 2>&1 9>&- \
    || fail_with_log pg "$PG_LOG" "pg_ctl start failed"
}

postgres_wait() {
  local deadline=$(($(now_s) + INFRA_TIMEOUT)) t0="$PG_STARTED_AT"
  [ "$t0" -gt 0 ] || t0="$(now_ms)"
  while :; do
    if "$PG_BIN/pg_isready" -q -h "$INFRA_HOST" -p "$PG_PORT" -t 2 2>/dev/null; then
      break
    fi
    if [ "$(now_s)" -ge "$deadline" ]; then
      fail_with_log pg "$PG_LOG" "not ready after ${INFRA_TIMEOUT}s"
    fi
    if [ $(($(now_ms) - t0)) -ge 3000 ] && ! postgres_is_running; then
      fail_with_log pg "$PG_LOG" "the server exited"
    fi
    sleep 0.2
  done
  postgres_is_running || true
  _pg_ensure_role
  ready_msg pg "$INFRA_HOST:$PG_PORT" "$t0"
}

# The role `emporium` is the cluster's bootstrap superuser (made by initdb, so
# it exists exactly once); check that password auth over TCP works with it.
_pg_ensure_role() {
  PGCONNECT_TIMEOUT=5 "$PG_BIN/psql" "$PG_URL" -XAtq -c 'select 1' >/dev/null 2>>"$PG_LOG" \
    || fail_with_log pg "$PG_LOG" "cannot connect as $PG_URL"
}

postgres_stop() {
  if ! postgres_is_running; then
    log "pg: not running"
    return 0
  fi
  _pg_find_bin || die "pg: binaries not found"
  log "pg: stopping (pid $(_pg_pid))"
  _pg_run "$PG_BIN/pg_ctl" -D "$PG_DATA" -m fast -t 60 -w stop </dev/null >/dev/null 2>&1 9>&- || {
    local pid
    pid="$(_pg_pid)"
    [ -n "$pid" ] && stop_pid pg "$pid" 30
  }
  rm -f "$PG_PIDFILE"
  log "pg: stopped"
}

postgres_endpoint() { echo "$INFRA_HOST:$PG_PORT"; }
