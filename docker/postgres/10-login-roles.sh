#!/usr/bin/env bash
# First start of the compose PostgreSQL: login roles for the worker and for analysts.
#
# Migration 001 creates the privilege roles chaperone_worker and chaperone_analyst (NOLOGIN)
# and grants them their rights; here they are created early (001 skips existing ones) so the
# login roles can join them. The migrations themselves run as POSTGRES_USER, the owner.
set -euo pipefail
: "${WORKER_DB_PASSWORD:?set WORKER_DB_PASSWORD}"
: "${ANALYST_DB_PASSWORD:?set ANALYST_DB_PASSWORD}"
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v worker_password="$WORKER_DB_PASSWORD" -v analyst_password="$ANALYST_DB_PASSWORD" <<'SQL'
CREATE ROLE chaperone_worker NOLOGIN;
CREATE ROLE chaperone_analyst NOLOGIN;
CREATE ROLE chaperone_app LOGIN PASSWORD :'worker_password' IN ROLE chaperone_worker;
CREATE ROLE analyst LOGIN PASSWORD :'analyst_password' IN ROLE chaperone_analyst;
SQL
