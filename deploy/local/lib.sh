# shellcheck shell=bash
# Shared helpers for the local infrastructure scripts (sourced, not executed).
#
# Layout (all state is under $ROOT/var, which is gitignored):
#   var/pg  var/redis  var/kafka  var/seaweedfs   data of each component
#   var/log/<name>.log                            its log
#   var/run/<name>.pid                            its pid file
#   var/infra.env                                 connection settings (written by `up`)
# Downloads are cached outside the work tree, in $EMPORIUM_CACHE.

INFRA_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$INFRA_DIR/../.." && pwd)"
VAR="$ROOT/var"
LOG_DIR="$VAR/log"
RUN_DIR="$VAR/run"
EMPORIUM_CACHE="${EMPORIUM_CACHE:-$HOME/.cache/emporium}"
# Seconds a component may take to become ready before `up` fails.
INFRA_TIMEOUT="${INFRA_TIMEOUT:-120}"
INFRA_HOST=127.0.0.1

log() { printf '[infra] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

have() { command -v "$1" >/dev/null 2>&1; }

is_root() { [ "$(id -u)" -eq 0 ]; }

ensure_dirs() {
  mkdir -p "$VAR" "$LOG_DIR" "$RUN_DIR" "$EMPORIUM_CACHE"
}

# apt_install PKG... : non-interactive install (root only); runs `apt-get update` once.
_APT_UPDATED=""
apt_install() {
  is_root || die "missing packages ($*): install them with apt-get (needs root)"
  have apt-get || die "missing packages ($*) and no apt-get on this machine"
  local aptopts=(-y -q -o DPkg::Lock::Timeout=600)
  export DEBIAN_FRONTEND=noninteractive
  if [ -z "$_APT_UPDATED" ]; then
    log "apt-get update"
    apt-get "${aptopts[@]}" update >/dev/null || die "apt-get update failed"
    _APT_UPDATED=1
  fi
  log "apt-get install $*"
  apt-get "${aptopts[@]}" install --no-install-recommends "$@" >/dev/null \
    || die "apt-get install $* failed"
}

# now_s : seconds since epoch
now_s() { date +%s; }

# port_open PORT [HOST] : true if something accepts TCP connections there.
port_open() {
  local port="$1" host="${2:-$INFRA_HOST}"
  (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null
}

# pid_alive PID
pid_alive() { [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null; }

# read_pidfile FILE : prints the pid, or nothing
read_pidfile() {
  [ -f "$1" ] || return 0
  local pid
  pid="$(head -n1 "$1" 2>/dev/null | tr -dc '0-9')"
  printf '%s' "$pid"
}

# pid_matches PID PATTERN : the process's command line contains PATTERN
# (used to make sure a pid from a pid file is still one of ours).
pid_matches() {
  local pid="$1" pattern="$2"
  [ -r "/proc/$pid/cmdline" ] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$pattern"
}

# is_running PIDFILE PATTERN : our process recorded in PIDFILE is alive.
# Removes a stale pid file.
is_running() {
  local pidfile="$1" pattern="$2" pid
  pid="$(read_pidfile "$pidfile")"
  if [ -n "$pid" ] && pid_alive "$pid" && pid_matches "$pid" "$pattern"; then
    return 0
  fi
  [ -f "$pidfile" ] && rm -f "$pidfile"
  return 1
}

# stop_pid NAME PID [TIMEOUT] : SIGTERM, wait up to TIMEOUT s, then SIGKILL.
stop_pid() {
  local name="$1" pid="$2" timeout="${3:-30}" waited=0
  pid_alive "$pid" || return 0
  kill -TERM "$pid" 2>/dev/null || true
  while pid_alive "$pid"; do
    if [ "$waited" -ge $((timeout * 10)) ]; then
      log "$name: still running after ${timeout}s, sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      local i=0
      while pid_alive "$pid" && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
      break
    fi
    sleep 0.1
    waited=$((waited + 1))
  done
}

# spawn PIDFILE LOGFILE CMD... : start CMD detached (own session, no tty,
# stdin from /dev/null, stdout+stderr appended to LOGFILE) and record its pid.
spawn() {
  local pidfile="$1" logfile="$2"
  shift 2
  rm -f "$pidfile"
  # The inner shell writes its own pid and then execs CMD, so the pid file
  # holds CMD's pid even when setsid has to fork.
  setsid sh -c 'echo $$ >"$0"; exec "$@"' "$pidfile" "$@" \
    </dev/null >>"$logfile" 2>&1 9>&- &
  local i=0
  while [ ! -s "$pidfile" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
  [ -s "$pidfile" ] || die "could not start: $*"
}

# rotate_log FILE : keep logs from growing without bound across many restarts.
rotate_log() {
  local f="$1" max=$((50 * 1024 * 1024))
  if [ -f "$f" ] && [ "$(stat -c %s "$f")" -gt "$max" ]; then
    mv -f "$f" "$f.1"
  fi
}

# log_size FILE : current size in bytes (0 when missing)
log_size() { if [ -f "$1" ]; then stat -c %s "$1"; else echo 0; fi; }

# fail_with_log NAME LOGFILE MESSAGE
fail_with_log() {
  local name="$1" logfile="$2"
  shift 2
  log "$name: $*"
  if [ -f "$logfile" ]; then
    log "$name: last lines of $logfile:"
    tail -n 40 "$logfile" | sed 's/^/    /' >&2
  fi
  exit 1
}

# ensure_port_free NAME PORT... : fail if a port we need is taken by someone else.
ensure_port_free() {
  local name="$1" port
  shift
  for port in "$@"; do
    if port_open "$port"; then
      die "$name: port $INFRA_HOST:$port is already in use by another process (not ours)"
    fi
  done
}

# wait_for_port PORT TIMEOUT [PID] : true once the port accepts connections;
# false on timeout or when PID (if given) dies first.
wait_for_port() {
  local port="$1" timeout="$2" pid="${3:-}" deadline
  deadline=$(($(now_s) + timeout))
  while [ "$(now_s)" -lt "$deadline" ]; do
    port_open "$port" && return 0
    if [ -n "$pid" ] && ! pid_alive "$pid"; then return 1; fi
    sleep 0.2
  done
  return 1
}

# ready_msg NAME ENDPOINT START_EPOCH
ready_msg() { log "$1: ready on $2 ($(($(now_s) - $3))s)"; }
