#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for development and tests, from Debian's `postgresql` package.
#
#   ops/lib/postgres.sh start    start it (idempotent), create database `chaperone`, print the URL
#   ops/lib/postgres.sh stop     stop it (the data stays for the next start)
#   ops/lib/postgres.sh status   exit 0 when running, 3 when not
#   ops/lib/postgres.sh env      print export lines: eval "$(ops/lib/postgres.sh env)"
#   ops/lib/postgres.sh destroy  stop it and delete its data folder
#
# The cluster lives in a data folder of the checkout (default var/postgres, git-ignored), listens
# on a Unix socket in that folder and on a loopback TCP port (default 54329), and trusts every
# local connection: it is for tests and demos only, never for real data. Run as root, the server
# runs as the `postgres` OS user, which owns the folder.
#
# Settings (environment): CHAPERONE_POSTGRES_DIR (data folder), CHAPERONE_POSTGRES_PORT.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
dir="${CHAPERONE_POSTGRES_DIR:-$root/var/postgres}"
port="${CHAPERONE_POSTGRES_PORT:-54329}"
database="chaperone"
superuser="postgres"
data="$dir/data"
log="$dir/server.log"

die() { echo "postgres.sh: $*" >&2; exit 1; }

# The newest installed server's bin folder, installing Debian's `postgresql` when none is there.
find_bindir() {
  local found
  found="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
  if [ -z "$found" ] || [ ! -x "$found/pg_ctl" ]; then
    echo "postgres.sh: installing Debian's postgresql package" >&2
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends postgresql >/dev/null
    found="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
  fi
  [ -n "$found" ] && [ -x "$found/pg_ctl" ] || die "no PostgreSQL server found under /usr/lib/postgresql"
  echo "$found"
}

# Runs a server program as the cluster's owner: `postgres` when we are root, else ourselves.
as_owner() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

# Percent-encodes a socket folder so it can stand as the host of a postgresql:// URL.
url_encode_path() {
  local s="$1" out="" c i
  for ((i = 0; i < ${#s}; i++)); do
    c="${s:i:1}"
    case "$c" in
      [a-zA-Z0-9._~-]) out+="$c" ;;
      *) out+="$(printf '%%%02X' "'$c")" ;;
    esac
  done
  echo "$out"
}

tcp_url() { echo "postgresql://$superuser@127.0.0.1:$port/$database"; }
socket_url() { echo "postgresql://$superuser@$(url_encode_path "$dir"):$port/$database"; }

print_env() {
  echo "export CHAPERONE_TEST_POSTGRES_URL='$(tcp_url)'"
  echo "export CHAPERONE_DATABASE_URL='$(socket_url)'"
}

is_running() {
  local bindir="$1"
  [ -f "$data/PG_VERSION" ] && as_owner "$bindir/pg_ctl" -D "$data" status >/dev/null 2>&1
}

init_cluster() {
  local bindir="$1"
  mkdir -p "$dir"
  if [ "$(id -u)" -eq 0 ]; then
    id postgres >/dev/null 2>&1 || die "the 'postgres' OS user is missing (it comes with Debian's postgresql package)"
    chown postgres:postgres "$dir"
    # The server must be able to reach its folder through every parent.
    runuser -u postgres -- test -x "$dir" || die "user postgres cannot reach $dir (check the parent folders' permissions)"
  fi
  chmod 700 "$dir"
  [ -f "$data/PG_VERSION" ] && return 0
  as_owner "$bindir/initdb" -D "$data" -U "$superuser" --auth=trust --encoding=UTF8 --locale=C.UTF-8 \
    >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; die "initdb failed in $data"; }
  cat >>"$data/postgresql.conf" <<EOF

# Throwaway cluster for Chaperone's development and tests (ops/lib/postgres.sh).
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
max_connections = 200
EOF
  # Local connections only, all trusted: this cluster never holds real data.
  cat >"$data/pg_hba.conf" <<EOF
local   all   all                 trust
host    all   all   127.0.0.1/32  trust
EOF
}

start() {
  local bindir
  bindir="$(find_bindir)"
  local socket="$dir/.s.PGSQL.$port"
  [ "${#socket}" -lt 104 ] || die "socket path too long for Unix sockets: $socket (set CHAPERONE_POSTGRES_DIR to a shorter folder)"
  if ! is_running "$bindir"; then
    init_cluster "$bindir"
    as_owner touch "$log" 2>/dev/null || true
    # 9>&-: the server must not inherit the lock's descriptor, or it would hold the lock forever.
    if ! as_owner "$bindir/pg_ctl" -D "$data" -l "$log" -o "-p $port" -w -t 60 start >/dev/null 9>&-; then
      tail -n 20 "$log" >&2 || true
      die "the server did not start (log: $log; is port $port taken?)"
    fi
  fi
  local psql=("$bindir/psql" -X -q -h "$dir" -p "$port" -U "$superuser" -d postgres -v ON_ERROR_STOP=1)
  if [ "$("${psql[@]}" -tAc "SELECT 1 FROM pg_database WHERE datname = '$database'")" != "1" ]; then
    # Two starts at once may both try; the loser's "already exists" is fine.
    "${psql[@]}" -c "CREATE DATABASE $database" >/dev/null 2>&1 ||
      [ "$("${psql[@]}" -tAc "SELECT 1 FROM pg_database WHERE datname = '$database'")" = "1" ] ||
      die "could not create database $database"
  fi
  echo "postgres.sh: running in $dir (port $port); superuser URL: $(tcp_url)" >&2
  print_env
}

stop() {
  local bindir
  bindir="$(find_bindir)"
  if is_running "$bindir"; then
    as_owner "$bindir/pg_ctl" -D "$data" -m fast -w -t 60 stop >/dev/null
    echo "postgres.sh: stopped" >&2
  else
    echo "postgres.sh: not running" >&2
  fi
}

status() {
  local bindir
  bindir="$(find_bindir)"
  if is_running "$bindir"; then
    echo "running in $dir (port $port): $(tcp_url)"
  else
    echo "not running ($dir)"
    return 3
  fi
}

# Serialise start/stop/destroy of one cluster: several test runs may call this at once.
with_lock() {
  mkdir -p "$(dirname "$dir")"
  exec 9>"$dir.lock"
  flock -w 120 9 || die "timed out waiting for $dir.lock"
  "$@"
}

case "${1:-}" in
  start) with_lock start ;;
  stop) with_lock stop ;;
  status) status ;;
  env) print_env ;;
  destroy) with_lock stop; rm -rf "$dir"; echo "postgres.sh: removed $dir" >&2 ;;
  *) echo "usage: $0 start|stop|status|env|destroy" >&2; exit 2 ;;
esac
