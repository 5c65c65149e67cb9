#!/bin/sh
# STAND-IN redis image (tests/containers): the real image's docker-entrypoint.sh, for the
# part Emporium's files use: arguments that start with "-" (or a .conf file) go to
# redis-server; redis-server runs as user redis in /data. Protected mode is off, as in the
# real image (it is built that way); Debian's redis-server would otherwise refuse clients
# from other containers.
set -eu
case "${1:-redis-server}" in
  -* | *.conf) set -- redis-server "$@" ;;
esac
[ "$#" -gt 0 ] || set -- redis-server
if [ "$1" = "redis-server" ]; then
  shift
  if [ "$(id -u)" = 0 ]; then
    chown -R redis:redis /data
    exec setpriv --reuid=redis --regid=redis --init-groups redis-server --protected-mode no "$@"
  fi
  exec redis-server --protected-mode no "$@"
fi
exec "$@"
