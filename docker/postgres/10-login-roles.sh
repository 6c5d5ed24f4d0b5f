#!/usr/bin/env bash
# First start of the compose PostgreSQL: login roles for the worker, for analysts and for the
# audit console.
#
# Migrations 001 and 005 create the privilege roles chaperone_worker, chaperone_analyst and
# chaperone_console (NOLOGIN) and grant them their rights; here they are created early (the
# migrations skip existing ones, and make chaperone_console NOINHERIT as here) so the login roles
# can join them. The migrations themselves run as POSTGRES_USER, the owner.
set -euo pipefail
: "${WORKER_DB_PASSWORD:?set WORKER_DB_PASSWORD}"
: "${ANALYST_DB_PASSWORD:?set ANALYST_DB_PASSWORD}"
: "${CONSOLE_DB_PASSWORD:?set CONSOLE_DB_PASSWORD}"
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v worker_password="$WORKER_DB_PASSWORD" -v analyst_password="$ANALYST_DB_PASSWORD" \
  -v console_password="$CONSOLE_DB_PASSWORD" <<'SQL'
CREATE ROLE chaperone_worker NOLOGIN;
CREATE ROLE chaperone_analyst NOLOGIN;
CREATE ROLE chaperone_app LOGIN PASSWORD :'worker_password' IN ROLE chaperone_worker;
CREATE ROLE chaperone_console NOLOGIN NOINHERIT;
CREATE ROLE analyst LOGIN PASSWORD :'analyst_password' IN ROLE chaperone_analyst;
CREATE ROLE console_app LOGIN PASSWORD :'console_password' IN ROLE chaperone_console;
SQL
