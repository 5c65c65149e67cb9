#!/bin/sh
# The command every Emporium container runs (and the native deploy test runs as it is):
#
#   SERVICE=catalog|customers|orders|gateway|storefront entrypoint.sh [serve|migrate|COMMAND...]
#
#   serve    (default) run the HTTP server and the service's event workers:
#            `python -m emporium.$SERVICE serve`, with WEB_WORKERS uvicorn workers (read by
#            the service itself). RUN_MIGRATIONS=1 applies the database migrations first
#            (a single container; compose and Kubernetes run `migrate` separately instead).
#   migrate  apply the service's database migrations and exit.
#   other    run it as it is (e.g. `sh` or `emporium-dlq list ...` for a one-off task).
#
# Everything else is configured by the service's own variables (<PREFIX>DATABASE_URL, ...).
set -eu

part="${SERVICE:-}"
case "$part" in
  catalog | customers | orders | gateway | storefront) ;;
  *)
    echo "entrypoint: set SERVICE to catalog, customers, orders, gateway or storefront (got '$part')" >&2
    exit 64
    ;;
esac

# The gateway and the storefront keep no database of their own.
has_database() {
  case "$part" in gateway | storefront) return 1 ;; *) return 0 ;; esac
}

command="${1:-serve}"
[ "$#" -gt 0 ] && shift

case "$command" in
  serve)
    if [ "${RUN_MIGRATIONS:-0}" = "1" ] && has_database; then
      # exec: the server becomes PID 1 and gets the container's SIGTERM itself.
      exec python -m "emporium.$part" serve --migrate "$@"
    fi
    exec python -m "emporium.$part" serve "$@"
    ;;
  migrate)
    if ! has_database; then
      echo "entrypoint: the $part has no database to migrate" >&2
      exit 0
    fi
    exec python -m "emporium.$part" migrate "$@"
    ;;
  *)
    exec "$command" "$@"
    ;;
esac
