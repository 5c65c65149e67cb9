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
: "${HOME:=$(getent passwd "$(id -u)" | cut -d: -f6)}"
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

# now_s : seconds since epoch; now_ms : milliseconds since epoch
now_s() { date +%s; }
now_ms() { date +%s%3N; }
# since START_MS : elapsed time as e.g. "4.2s"
since() {
  local d=$(($(now_ms) - $1))
  printf '%d.%ds' $((d / 1000)) $((d % 1000 / 100))
}

# port_open PORT [HOST] : true if something accepts TCP connections there.
port_open() {
  local port="$1" host="${2:-$INFRA_HOST}"
  (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null
}

# pid_alive PID : the process exists and is not a zombie (an exited daemon
# stays a zombie until init reaps it, which can take seconds in containers).
pid_alive() {
  [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null || return 1
  local state
  state="$(sed -E 's/^.*\) ([A-Za-z]).*$/\1/' "/proc/$1/stat" 2>/dev/null || true)"
  [ "$state" != "Z" ]
}

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

# stop_pid NAME PID [TIMEOUT] [SIGNAL] : send SIGNAL (default TERM), wait up
# to TIMEOUT s (default 30) for the process to exit, then SIGKILL it.
stop_pid() {
  local name="$1" pid="$2" timeout="${3:-30}" sig="${4:-TERM}" waited=0
  pid_alive "$pid" || return 0
  kill -"$sig" "$pid" 2>/dev/null || true
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

# proc_args PID : the process's arguments, one per line
proc_args() { tr '\0' '\n' <"/proc/$1/cmdline" 2>/dev/null || true; }

# port_pids PORT : pids of the processes listening on TCP PORT (those we may see)
port_pids() {
  local hex inodes ino
  hex="$(printf '%04X' "$1")"
  inodes="$(awk -v h=":$hex" '$4 == "0A" && substr($2, length($2) - 4) == h { print $10 }' \
    /proc/net/tcp /proc/net/tcp6 2>/dev/null | sort -u)"
  for ino in $inodes; do
    find /proc/[0-9]*/fd -maxdepth 1 -lname "socket:\[$ino\]" 2>/dev/null || true
  done | cut -d/ -f3 | sort -u
}

# release_ports NAME SIGNAL IS_OTHER_FN PORT... : stop the processes listening
# on PORTs for which `IS_OTHER_FN PID` is true: the same component started by
# these scripts from another checkout of the repo (e.g. a developer's tree
# still running when CI starts in a fresh clone on the same machine).
release_ports() {
  local name="$1" sig="$2" fn="$3" p pid pids=""
  shift 3
  for p in "$@"; do
    if port_open "$p"; then pids="$pids $(port_pids "$p")"; fi
  done
  [ -n "${pids// /}" ] || return 0
  for pid in $(tr ' ' '\n' <<<"$pids" | grep . | sort -u); do
    "$fn" "$pid" || continue
    log "$name: our ports are held by the $name of another Emporium checkout, stopping it" \
      "(pid $pid: $(proc_args "$pid" | tr '\n' ' ' | cut -c1-150))"
    stop_pid "$name" "$pid" 60 "$sig"
  done
  # Give the kernel a moment to release the listening sockets.
  local i=0 busy
  while [ $i -lt 50 ]; do
    busy=0
    for p in "$@"; do
      if port_open "$p"; then busy=1; break; fi
    done
    [ $busy = 0 ] && return 0
    sleep 0.1
    i=$((i + 1))
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
  # shellcheck disable=SC2016 # $$ and $@ belong to the inner shell
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

# reserve_ports PORT|FROM-TO... : keep the kernel from handing our fixed ports
# out as ephemeral (client-side) ports: they all lie in Linux's default
# ephemeral range (32768-60999), and a busy client could otherwise grab one
# and make our server's bind fail. Root only; best effort.
reserve_ports() {
  local f=/proc/sys/net/ipv4/ip_local_reserved_ports before after list
  is_root && [ -w "$f" ] || return 0
  before="$(cat "$f" 2>/dev/null || true)"
  list="$(IFS=,; echo "$*")"
  [ -n "$before" ] && list="$before,$list"
  echo "$list" >"$f" 2>/dev/null || return 0
  after="$(cat "$f" 2>/dev/null || true)"
  [ "$before" = "$after" ] || log "reserved our ports against ephemeral use (net.ipv4.ip_local_reserved_ports=$after)"
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

# ready_msg NAME ENDPOINT START_MS (silent when INFRA_QUIET_READY=1, i.e. when
# re-checking a component that was already running)
ready_msg() {
  [ "${INFRA_QUIET_READY:-0}" = 1 ] && return 0
  log "$1: ready on $2 ($(since "$3"))"
}
