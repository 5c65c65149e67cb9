#!/usr/bin/env bash
# make test-compose: docker-compose.yml, as committed, run in a real container engine.
#
#   bash scripts/test-compose.sh
#
# 1. Installs what it needs, idempotently (podman, runc, debootstrap, maven, unzip from
#    Debian) and builds the `docker compose` v2 CLI once from the Go module proxy into
#    $EMPORIUM_CACHE (default ~/.cache/emporium).
# 2. Builds the stand-ins for the base images (tests/containers/build.sh: cached in podman's
#    storage) and the project image from deploy/docker/Dockerfile, with podman.
# 3. In a network namespace of its own (nothing else on this machine is reached, and
#    nothing here clashes with a platform already on 127.0.0.1:8000), it starts podman's
#    Docker-compatible API (`podman system service`) and runs, with the project's
#    docker-compose.yml unmodified: `docker compose up -d --wait`; the end-to-end storefront
#    suite against http://localhost:8000; tests/deploy/test_compose_stack.py (the file used
#    is the committed one, an image uploaded and read back through S3, a killed service
#    restarted by its restart policy with no order lost); then `docker compose down -v`.
# 4. Reports the times, the e2e figures and the stack's peak memory, in the log and in
#    var/compose-test/report.txt; every container's whole log (timestamped), its state and
#    the engine's events go to var/compose-test/logs/ (kept until the next run).
#
# Everything it started (containers, volumes, networks, the API service, its helpers) is
# removed on exit, on failure and on Ctrl-C too. Exit status: 0 when every step passed.
#
# podman here: runc with the cgroupfs manager and no rlimits (the sandbox refuses rlimit
# changes and crun's cgroup layout) -- written to var/compose-test/containers.conf and used
# through CONTAINERS_CONF, the machine's own configuration is left alone. The run also has a
# mount namespace of its own, for the containers' resolver settings (see setup_resolver). Without systemd,
# podman cannot schedule health checks: a ticker here runs `podman healthcheck run` for
# every container with a check every few seconds instead (see tick_health).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
STATE="${EMPORIUM_COMPOSE_STATE:-$ROOT/var/compose-test}"
CACHE="${EMPORIUM_CACHE:-$HOME/.cache/emporium}"
COMPOSE_VERSION="${EMPORIUM_COMPOSE_VERSION:-v2.40.3}"
COMPOSE="$CACHE/compose-$COMPOSE_VERSION/docker-compose"
SOCKET="$STATE/podman.sock"
PROJECT=emporium # docker-compose.yml's name:
REPORT="$STATE/report.txt"
LOGS="$STATE/logs" # every container's log of the last run (collect_logs)
UV="$(command -v uv 2>/dev/null || echo "python3 -m uv")"
export EMPORIUM_CACHE="$CACHE" CONTAINERS_CONF="$STATE/containers.conf" UV_LINK_MODE=copy

log() { printf '[test-compose] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }
now() { date +%s; }
report() { printf '%s\n' "$*" | tee -a "$REPORT" >&2; }

# -- outside the namespace: installs and builds (they need the registries) -----------------

APT_UPDATED=0
apt_install() {
  [ "$APT_UPDATED" = 1 ] || { apt-get update -qq; APT_UPDATED=1; }
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

install_tools() {
  local missing=()
  command -v podman >/dev/null || missing+=(podman)
  command -v runc >/dev/null || missing+=(runc)
  command -v debootstrap >/dev/null || missing+=(debootstrap)
  command -v mvn >/dev/null || missing+=(maven)
  command -v unzip >/dev/null || missing+=(unzip)
  command -v unshare >/dev/null || missing+=(util-linux)
  command -v ip >/dev/null || missing+=(iproute2)
  if [ "${#missing[@]}" -gt 0 ]; then
    log "installing ${missing[*]} (apt)"
    apt_install "${missing[@]}"
  fi
  cat >"$CONTAINERS_CONF" <<'EOF'
# Written by scripts/test-compose.sh (used through CONTAINERS_CONF for its runs only).
[containers]
# The sandbox refuses rlimit changes: no default ulimits for the containers.
default_ulimits = []

[engine]
# crun refuses this machine's cgroup layout; runc with cgroupfs (no systemd) works.
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
EOF
}

# The real Compose v2 CLI, built from its module (as the main module: `go install pkg@v`
# refuses compose's go.mod, which has exclude directives).
build_compose() {
  [ -x "$COMPOSE" ] && "$COMPOSE" version 2>/dev/null | grep -q "$COMPOSE_VERSION" && return 0
  command -v go >/dev/null || die "go is not installed: it builds the docker compose CLI"
  local t0 dir src
  t0="$(now)"
  log "building docker compose $COMPOSE_VERSION with go (first time, a few minutes) ..."
  dir="$(GOFLAGS=-mod=mod go mod download -json "github.com/docker/compose/v2@$COMPOSE_VERSION" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')"
  src="$(mktemp -d "$CACHE/compose-src.XXXXXX")"
  cp -r "$dir/." "$src"
  chmod -R u+w "$src"
  mkdir -p "$(dirname "$COMPOSE")"
  if ! (cd "$src" && CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath \
      -ldflags "-s -w -X github.com/docker/compose/v2/internal.Version=$COMPOSE_VERSION" \
      -o "$COMPOSE.tmp" ./cmd) >"$STATE/compose-build.log" 2>&1; then
    rm -rf "$src"
    tail -n 30 "$STATE/compose-build.log" >&2
    die "building docker compose failed (log: $STATE/compose-build.log)"
  fi
  rm -rf "$src"
  mv "$COMPOSE.tmp" "$COMPOSE"
  log "docker compose $COMPOSE_VERSION built in $(($(now) - t0)) s"
}

# The image the compose file builds (x-app: image + build), built here with podman.
build_project_image() {
  local image t0
  image="$("$COMPOSE" -f docker-compose.yml config --format json | python3 -c '
import json, sys
services = json.load(sys.stdin)["services"].values()
print(" ".join(sorted({s["image"] for s in services if "build" in s})))')"
  [ -n "$image" ] || die "docker-compose.yml names no image of its own"
  t0="$(now)"
  log "building $image from deploy/docker/Dockerfile (podman) ..."
  if ! podman build --isolation=chroot --pull=never -f deploy/docker/Dockerfile -t "$image" . \
      >"$STATE/image-build.log" 2>&1; then
    tail -n 40 "$STATE/image-build.log" >&2
    die "building $image failed (log: $STATE/image-build.log)"
  fi
  log "built $image in $(($(now) - t0)) s"
  # Earlier builds of it, now untagged: not kept (one run after another would pile them up).
  podman image prune -f --filter "label=org.opencontainers.image.title=emporium" >/dev/null 2>&1 || true
}

# -- the clean-up, whichever way the run ends -------------------------------------------

# Everything of the project in podman's storage: containers, volumes, networks.
remove_project() {
  local ids pid
  ids="$(podman ps -aq --filter "label=com.docker.compose.project=$PROJECT" 2>/dev/null || true)"
  # shellcheck disable=SC2086 # a list of container ids
  [ -z "$ids" ] || podman rm -f -t 0 $ids >/dev/null 2>&1 || true
  # The monitors of the containers' exec sessions (health checks) linger up to 5 minutes
  # after their container is gone (conmon --exit-delay): end those of this project's
  # containers (named <project>-<service>-<n>), by pid.
  for pid in $(pgrep -f -- "^/usr/bin/conmon .* -n $PROJECT-[a-z0-9-]+-[0-9]+ " 2>/dev/null || true); do
    kill "$pid" 2>/dev/null || true
  done
  ids="$(podman volume ls -q --filter "label=com.docker.compose.project=$PROJECT" 2>/dev/null || true)"
  # shellcheck disable=SC2086 # a list of volume names
  [ -z "$ids" ] || podman volume rm -f $ids >/dev/null 2>&1 || true
  ids="$(podman network ls -q --filter "label=com.docker.compose.project=$PROJECT" 2>/dev/null || true)"
  # shellcheck disable=SC2086 # a list of network names
  [ -z "$ids" ] || podman network rm -f $ids >/dev/null 2>&1 || true
}

# -- inside the namespace: the run ------------------------------------------------------

HELPERS=()
SERVICE_PID=""
stop_helpers() {
  local pid
  for pid in "${HELPERS[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${HELPERS[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  HELPERS=()
}

compose() { "$COMPOSE" -f "$ROOT/docker-compose.yml" -p "$PROJECT" "$@"; }

# Every container's whole log, with timestamps, one file per service in $LOGS (plus each
# container's state and the engine's events), taken while the containers still exist: before
# `compose down`, whichever way the run ends. Once per run.
LOGS_TAKEN=0
collect_logs() {
  local service name
  [ "$LOGS_TAKEN" = 0 ] || return 0
  LOGS_TAKEN=1
  mkdir -p "$LOGS"
  for service in $(compose ps -a --format '{{.Service}}' 2>/dev/null | sort -u); do
    compose logs --no-color --timestamps "$service" >"$LOGS/$service.log" 2>&1 || true
  done
  podman ps -a --filter "label=com.docker.compose.project=$PROJECT" --format '{{.Names}}' \
    2>/dev/null | sort | while read -r name; do
    podman inspect --format "$name {{.State.Status}} exit={{.State.ExitCode}} restarts={{.RestartCount}} health={{json .State.Health}}" \
      "$name" 2>/dev/null | cut -c1-1500
  done >"$LOGS/state.txt"
  # Starts, deaths, restarts and health results, timestamped (exec sessions left out).
  podman events --stream=false --since "$RUN_STARTED" \
    --filter "label=com.docker.compose.project=$PROJECT" \
    --format '{{.Time}} {{.Name}} {{.Status}} {{.HealthStatus}}' 2>/dev/null \
    | grep -v -E ' exec(_died)? ' >"$LOGS/events.txt" || true
}

# On failure: where it went wrong, in the log itself (the whole story is in $LOGS).
show_failure() {
  local file
  log "the containers' state (every container's whole log: $LOGS/<service>.log)"
  cat "$LOGS/state.txt" >&2 2>/dev/null || true
  # 5xx answers and warnings of the app containers, then the last lines of every log.
  grep -h -E '"status":5[0-9][0-9]|"level":"(WARNING|ERROR|CRITICAL)"' "$LOGS"/*.log 2>/dev/null \
    | tail -n 40 | cut -c1-400 >&2 || true
  for file in "$LOGS"/*.log; do
    [ -s "$file" ] || continue
    tail -n 8 "$file" | cut -c1-400 >&2
  done
}

inside_cleanup() {
  local status=$?
  trap - EXIT INT TERM
  collect_logs
  if [ "$status" -ne 0 ]; then
    log "failed (status $status)"
    show_failure
  fi
  stop_helpers # the health ticker and the memory sampler first: nothing new is started
  compose down -v --remove-orphans -t 10 >/dev/null 2>&1 || true
  remove_project
  if [ -n "$SERVICE_PID" ]; then
    kill "$SERVICE_PID" 2>/dev/null || true
    wait "$SERVICE_PID" 2>/dev/null || true
  fi
  rm -f "$SOCKET"
  exit "$status"
}

# podman schedules health checks with systemd timers; with no systemd, nothing runs them.
# This stands in for those timers: each running container's check (the image's or the
# compose file's) is run by `podman healthcheck run` every `interval` of its own, never two
# at once, which records the result as the engine would (start period, retries, timeout);
# compose's --wait and depends_on: service_healthy read it.
tick_health() {
  declare -A next_at=() every=() running=()
  local id t interval
  while :; do
    t="$(now)"
    for id in $(podman ps -q --filter "label=com.docker.compose.project=$PROJECT" 2>/dev/null); do
      if [ -z "${every[$id]:-}" ]; then
        # Interval in nanoseconds; 0 (none set) means the engine's default, 30 s.
        interval="$(podman inspect --format '{{if .Config.Healthcheck}}{{json .Config.Healthcheck.Interval}}{{else}}-1{{end}}' "$id" 2>/dev/null || echo -1)"
        case "$interval" in
          -1 | "" | "[]") every[$id]=none ;;
          0) every[$id]=30 ;;
          *[!0-9]*) every[$id]=10 ;;
          *) every[$id]=$(((interval + 999999999) / 1000000000)) ;;
        esac
        next_at[$id]=$t
      fi
      [ "${every[$id]}" != none ] || continue
      [ "$t" -ge "${next_at[$id]}" ] || continue
      if [ -n "${running[$id]:-}" ] && kill -0 "${running[$id]}" 2>/dev/null; then
        continue
      fi
      podman healthcheck run "$id" >/dev/null 2>&1 &
      running[$id]=$!
      next_at[$id]=$((t + every[$id]))
    done
    sleep 1
  done
}

# The stack's memory: podman (cgroupfs) puts every container (and its conmon) under one
# parent cgroup, whose total_rss is their resident memory summed (page cache left out: the
# kernel gives it back under pressure). Its highest value, sampled every 2 s, goes to
# $STATE/memory-peak; the parent's max_usage_in_bytes (page cache included) is reported too.
sample_memory() {
  local peak=0 total stat=/sys/fs/cgroup/memory/libpod_parent/memory.stat
  while :; do
    total="$(awk '$1 == "total_rss" { printf "%d\n", $2 }' "$stat" 2>/dev/null || true)"
    if [ -n "$total" ] && [ "$total" -gt "$peak" ]; then
      peak="$total"
      echo "$peak" >"$STATE/memory-peak"
    fi
    sleep 2
  done
}

# The containers' resolver, fitted to the run's namespaces. podman gives each container the
# network's aardvark-dns first, then the host's nameservers, which this network namespace
# cannot reach. A query aardvark-dns (1.4, Debian's) leaves unanswered -- seen now and then,
# for 5-10 s -- then cost the resolver's default 5 s timeout, and 5 s more at the unreachable
# host server: a connection's lookup took 10 s (SeaweedFS's first write to its own volume
# server, "lookup seaweedfs: i/o timeout"; a new database connection), and the gateway
# answered 504. So, in the run's own mount namespace (the machine's file is left alone),
# /etc/resolv.conf names a local address that refuses at once instead of the host's, with a
# 1 s timeout and 3 attempts: podman copies both into every container's resolv.conf.
NO_RESOLVER=192.0.2.53 # TEST-NET-1, never routed: on this namespace's loopback, nothing listens
setup_resolver() {
  ip addr add "$NO_RESOLVER/32" dev lo
  printf '%s\n' "# Written by scripts/test-compose.sh for its run's namespaces (setup_resolver)." \
    "nameserver $NO_RESOLVER" "options timeout:1 attempts:3" >"$STATE/resolv.conf"
  mount --bind "$STATE/resolv.conf" /etc/resolv.conf
}

# An aardvark-dns left by a run that was killed (its network namespace gone) still owns the
# engine's DNS configuration directory: podman would signal it instead of starting one here,
# and no name would resolve. Ended by its pid, only when it is not in this namespace.
stop_stale_aardvark() {
  local dir=/run/containers/networks/aardvark-dns pid
  pid="$(cat "$dir/aardvark.pid" 2>/dev/null || true)"
  [ -n "$pid" ] && [ -d "/proc/$pid" ] || return 0
  grep -q aardvark-dns "/proc/$pid/cmdline" 2>/dev/null || return 0
  [ "$(readlink "/proc/$pid/ns/net")" != "$(readlink /proc/self/ns/net)" ] || return 0
  log "ending a stale aardvark-dns (pid $pid) of an earlier run"
  kill "$pid" 2>/dev/null || true
  rm -f "$dir/aardvark.pid" "$dir/${PROJECT}_"*
}

# A Linux bridge whose address was never set takes the lowest address of its ports, so it
# changes as containers join and leave (netavark 1.4 leaves it so). A container that learnt
# the gateway's (10.210.0.1, aardvark-dns) address before, say, a migration container left
# then sends to an address nobody has: its DNS queries vanish until its ARP entry expires,
# 10-30 s (measured: SeaweedFS's lookup of its own name on the first upload, Kafka's at
# start). So each bridge of this namespace gets its address set, to the one it has, the
# moment it appears: the kernel keeps a set address.
pin_bridge_addresses() {
  declare -A pinned=()
  local index name mac
  ip -o monitor link 2>/dev/null | while read -r _; do
    while read -r index name mac; do
      [ -n "${pinned[$index]:-}" ] && continue
      ip link set dev "$name" address "$mac" 2>/dev/null || continue
      pinned[$index]=1
      echo "$(date -u +%T.%N | cut -c1-12) $name $mac" >>"$LOGS/bridges.txt"
    done < <(ip -o link show type bridge | sed -E 's/^([0-9]+): ([^:@]+)[:@].* link\/ether ([0-9a-f:]+).*/\1 \2 \3/')
  done
}

inside() {
  local t0 t_up rc e2e_rc stack_rc peak_rss peak_cache
  trap inside_cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  ip link set lo up
  setup_resolver
  stop_stale_aardvark
  RUN_STARTED="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  rm -rf "$LOGS" "$STATE/compose-logs.txt" "$STATE/compose-state.txt"
  mkdir -p "$LOGS"
  rm -f "$SOCKET"
  podman system service --time=0 "unix://$SOCKET" >"$STATE/podman-service.log" 2>&1 &
  SERVICE_PID=$!
  export DOCKER_HOST="unix://$SOCKET"
  for _ in $(seq 100); do [ -S "$SOCKET" ] && break; sleep 0.1; done
  [ -S "$SOCKET" ] || die "podman system service did not start (log: $STATE/podman-service.log)"
  remove_project
  pin_bridge_addresses &
  HELPERS+=($!)
  tick_health &
  HELPERS+=($!)
  echo 0 >"$STATE/memory-peak"
  echo 0 >/sys/fs/cgroup/memory/libpod_parent/memory.max_usage_in_bytes 2>/dev/null || true
  sample_memory &
  HELPERS+=($!)

  # The file the run uses, kept to compare with the committed one (test_compose_stack.py).
  cp docker-compose.yml "$STATE/docker-compose.used.yml"
  t0="$(now)"
  log "docker compose up -d --wait (the project's docker-compose.yml, unmodified) ..."
  # The e2e suite's shoppers each call from an address of their own (X-Forwarded-For), as
  # behind a reverse proxy: the proxy here is the host, which reaches the published port
  # from its bridges' addresses (the documented EMPORIUM_TRUSTED_PROXIES, not a file edit).
  EMPORIUM_TRUSTED_PROXIES="10.210.0.1/32,10.210.1.1/32" \
    compose up -d --wait --wait-timeout 900 >"$STATE/compose-up.log" 2>&1 \
    || { tail -n 40 "$STATE/compose-up.log" >&2; die "docker compose up failed"; }
  t_up=$(($(now) - t0))
  report "compose up --wait: ${t_up} s (stack healthy)"

  export EMPORIUM_E2E_BASE_URL=http://localhost:8000 UV_OFFLINE=1
  export EMPORIUM_COMPOSE_SOCKET="$SOCKET" EMPORIUM_COMPOSE_PROJECT="$PROJECT"
  export EMPORIUM_COMPOSE_USED="$STATE/docker-compose.used.yml"
  t0="$(now)"
  e2e_rc=0
  $UV run --frozen pytest -q -p no:cacheprovider tests/e2e/test_storefront_api.py \
    >"$STATE/e2e.log" 2>&1 || e2e_rc=$?
  tail -n 15 "$STATE/e2e.log" >&2
  report "e2e storefront suite in containers: $(($(now) - t0)) s: $(grep -E 'passed|failed' "$STATE/e2e.log" | tail -n 1)"

  t0="$(now)"
  stack_rc=0
  $UV run --frozen pytest -q -p no:cacheprovider tests/deploy/test_compose_stack.py \
    >"$STATE/stack.log" 2>&1 || stack_rc=$?
  tail -n 15 "$STATE/stack.log" >&2
  report "stack checks (file, S3, restart): $(($(now) - t0)) s: $(grep -E 'passed|failed' "$STATE/stack.log" | tail -n 1)"

  peak_rss="$(cat "$STATE/memory-peak")"
  peak_cache="$(cat /sys/fs/cgroup/memory/libpod_parent/memory.max_usage_in_bytes 2>/dev/null || echo 0)"
  report "peak memory of the stack: $((peak_rss / 1048576)) MiB resident (RSS of all its containers);" \
    "$((peak_cache / 1048576)) MiB with the page cache"
  collect_logs # before down: a removed container has no log left to give
  t0="$(now)"
  compose down -v --remove-orphans -t 10 >"$STATE/compose-down.log" 2>&1 \
    || { tail -n 20 "$STATE/compose-down.log" >&2; die "docker compose down -v failed"; }
  report "compose down -v: $(($(now) - t0)) s"
  rc=0
  [ "$e2e_rc" = 0 ] || { log "the e2e suite failed (log: $STATE/e2e.log)"; rc=1; }
  [ "$stack_rc" = 0 ] || { log "the stack checks failed (log: $STATE/stack.log)"; rc=1; }
  return "$rc"
}

main() {
  local t0 t1 status=0
  if [ "${1:-}" = "--inside" ]; then
    inside
    return
  fi
  [ "$(id -u)" = 0 ] || die "run as root (podman builds and runs the containers as root)"
  mkdir -p "$STATE"
  # One run at a time: the project's name, the engine's storage and its DNS configuration
  # are the machine's, whatever namespaces a run has.
  # (A pid file, not flock: the engine's monitors would inherit the lock and outlive the run.)
  if [ -s "$STATE/run.pid" ] && kill -0 "$(cat "$STATE/run.pid")" 2>/dev/null; then
    die "another make test-compose is running (pid $(cat "$STATE/run.pid"))"
  fi
  echo "$$" >"$STATE/run.pid"
  : >"$REPORT"
  t0="$(now)"
  install_tools
  trap 'remove_project; rm -f "$STATE/run.pid"' EXIT
  # The compose CLI's build (CPU) beside the stand-ins' (mostly downloads and unpacking).
  build_compose >"$STATE/compose-build.out" 2>&1 &
  local compose_pid=$!
  $UV sync --frozen --quiet
  t1="$(now)"
  bash tests/containers/build.sh
  report "stand-in images: $(($(now) - t1)) s"
  wait "$compose_pid" || { cat "$STATE/compose-build.out" >&2; die "no docker compose CLI"; }
  cat "$STATE/compose-build.out" >&2
  report "docker compose CLI ready: $(($(now) - t0)) s after the start"
  t1="$(now)"
  build_project_image
  report "project image: $(($(now) - t1)) s"
  report "installs and builds: $(($(now) - t0)) s"
  # The run, in a network namespace of its own (see the header). In the background, so a
  # TERM or Ctrl-C here is passed on and the run cleans up after itself.
  unshare --net --mount -- bash "$ROOT/scripts/test-compose.sh" --inside &
  RUN_PID=$!
  trap 'kill -TERM "$RUN_PID" 2>/dev/null; wait "$RUN_PID"; remove_project; exit 143' TERM
  trap 'kill -INT "$RUN_PID" 2>/dev/null; wait "$RUN_PID"; remove_project; exit 130' INT
  wait "$RUN_PID" || status=$?
  trap - EXIT INT TERM
  remove_project
  rm -f "$STATE/run.pid"
  report "make test-compose: $(($(now) - t0)) s in all ($([ "$status" = 0 ] && echo passed || echo FAILED))"
  return "$status"
}

main "$@"
