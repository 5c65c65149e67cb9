#!/usr/bin/env bash
# Install the load generators and the proxy `make bench` uses, when missing (idempotent):
#   wrk    (Debian)  closed-loop saturation
#   nginx  (Debian)  the keep-alive reverse proxy compared with direct calls
#   vegeta (Go module, pinned)  open-loop fixed-rate latency, into var/cache/go-bin
#   libbench-srcaddr.so (gcc)   makes wrk connect from many loopback source addresses
# Prints nothing on success when everything is there already.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VEGETA_VERSION="v12.13.0"
BIN="$ROOT/var/cache/go-bin"
LIB="$ROOT/var/cache/bench"
mkdir -p "$BIN" "$LIB"

missing=()
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx)
command -v gcc >/dev/null 2>&1 || missing+=(gcc)
if [ ${#missing[@]} -gt 0 ]; then
  echo "[bench-tools] apt-get install ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq "${missing[@]}" >/dev/null
  # The Debian package starts a system nginx on :80; the bench runs its own on loopback.
  if command -v systemctl >/dev/null 2>&1; then systemctl disable --now nginx >/dev/null 2>&1 || true; fi
  [ -f /run/nginx.pid ] && kill "$(cat /run/nginx.pid)" 2>/dev/null || true
fi

# `go install` leaves the version out of `vegeta -version`: a stamp file records it.
if [ ! -x "$BIN/vegeta" ] || [ "$(cat "$BIN/vegeta.version" 2>/dev/null)" != "$VEGETA_VERSION" ]; then
  echo "[bench-tools] go install vegeta $VEGETA_VERSION" >&2
  GOBIN="$BIN" GOFLAGS=-buildvcs=false go install "github.com/tsenart/vegeta/v12@$VEGETA_VERSION"
  echo "$VEGETA_VERSION" >"$BIN/vegeta.version"
fi

SRC="$ROOT/bench/srcaddr.c"
if [ ! -f "$LIB/libbench-srcaddr.so" ] || [ "$SRC" -nt "$LIB/libbench-srcaddr.so" ]; then
  gcc -O2 -shared -fPIC -o "$LIB/libbench-srcaddr.so" "$SRC" -ldl
fi
