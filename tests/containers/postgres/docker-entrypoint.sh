#!/bin/bash
# STAND-IN postgres image (tests/containers): the real image's docker-entrypoint.sh, for the
# part of its documented contract Emporium's files use:
#   POSTGRES_PASSWORD (required), POSTGRES_USER (default postgres), POSTGRES_DB (default
#   POSTGRES_USER), POSTGRES_INITDB_ARGS, PGDATA (default /var/lib/postgresql/data);
#   the first time (PGDATA empty): initdb, then every /docker-entrypoint-initdb.d/ file in
#   order (*.sh run if executable, else sourced; *.sql through psql) against a server that
#   listens on its Unix socket only, then the real server on every address with
#   password (scram-sha-256) logins over TCP.
# Started as root, it fixes PGDATA's owner and runs as postgres (uid 999), as the real one.
set -Eeuo pipefail

if [ "${1:-postgres}" != "postgres" ] && [ "${1:0:1}" != "-" ]; then
  exec "$@"
fi
[ "${1:-}" = "postgres" ] && shift

: "${PGDATA:=/var/lib/postgresql/data}"
export PGDATA
if [ "$(id -u)" = 0 ]; then
  mkdir -p "$PGDATA" /var/run/postgresql
  chown -R postgres:postgres "$PGDATA" /var/run/postgresql
  chmod 0700 "$PGDATA"
  exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" postgres "$@"
fi

if [ ! -s "$PGDATA/PG_VERSION" ]; then
  if [ -z "${POSTGRES_PASSWORD:-}" ]; then
    echo "postgres stand-in: POSTGRES_PASSWORD is not set (the real image refuses too)" >&2
    exit 1
  fi
  export POSTGRES_USER="${POSTGRES_USER:-postgres}"
  export POSTGRES_DB="${POSTGRES_DB:-$POSTGRES_USER}"
  # shellcheck disable=SC2086 # POSTGRES_INITDB_ARGS is a list of options
  initdb --username="$POSTGRES_USER" --pwfile=<(printf '%s\n' "$POSTGRES_PASSWORD") \
    --auth-local=trust --auth-host=scram-sha-256 ${POSTGRES_INITDB_ARGS:-}
  echo "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
  echo "listen_addresses = '*'" >>"$PGDATA/postgresql.conf"
  pg_ctl -D "$PGDATA" -o "-c listen_addresses=''" -w start
  if [ "$POSTGRES_DB" != "postgres" ]; then
    psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
      -c "CREATE DATABASE \"$POSTGRES_DB\""
  fi
  for f in /docker-entrypoint-initdb.d/*; do
    case "$f" in
      *.sh)
        if [ -x "$f" ]; then
          echo "postgres stand-in: running $f"
          "$f"
        else
          echo "postgres stand-in: sourcing $f"
          # shellcheck disable=SC1090 # the init scripts are the user's
          . "$f"
        fi
        ;;
      *.sql)
        echo "postgres stand-in: running $f"
        psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" -f "$f"
        ;;
      *) [ -e "$f" ] && echo "postgres stand-in: ignoring $f" ;;
    esac
  done
  pg_ctl -D "$PGDATA" -m fast -w stop
  echo "postgres stand-in: init process complete; ready for start up"
fi
exec postgres "$@"
