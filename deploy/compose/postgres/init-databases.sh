#!/bin/sh
# Runs once, when the PostgreSQL volume is first initialised (the official image runs
# /docker-entrypoint-initdb.d/* then): one database and one login per service, each login
# owning its database and no other login (but the superuser) able to connect to it.
#
#   DATABASES="catalog customers orders"   the databases (and logins) to create
#   DB_PASSWORD_<NAME>                     the password of each login (NAME upper-cased)
#
# psql variables carry the names and passwords, so no value is ever spliced into SQL.
set -eu

for name in ${DATABASES:?set DATABASES to the databases to create}; do
  variable="DB_PASSWORD_$(echo "$name" | tr '[:lower:]-' '[:upper:]_')"
  password="$(printenv "$variable" || true)"
  if [ -z "$password" ]; then
    echo "init-databases: set $variable (the password of the '$name' login)" >&2
    exit 1
  fi
  echo "init-databases: database and login '$name'"
  psql -v ON_ERROR_STOP=1 --no-psqlrc --username "${POSTGRES_USER:-postgres}" \
    --dbname "${POSTGRES_DB:-postgres}" -v name="$name" -v password="$password" <<'SQL'
SELECT format('CREATE ROLE %I LOGIN PASSWORD %L', :'name', :'password')
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'name') \gexec
SELECT format('CREATE DATABASE %I OWNER %I', :'name', :'name')
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'name') \gexec
REVOKE ALL ON DATABASE :"name" FROM PUBLIC;
GRANT ALL ON DATABASE :"name" TO :"name";
SQL
done
