# PostgreSQL for the tests: a throwaway cluster of Debian's PostgreSQL 15, owned by the
# `postgres` system user (the server refuses to run as root), with its data directory and unix
# socket under target/postgres/. Source it (scripts/setup.sh and scripts/test.sh do); running it
# again is cheap: it installs the package only when missing, creates the cluster only once and
# starts the server only when it is not running.
#
# Exports SEALROOM_TEST_DATABASE_URL (role `sealroom`, database `sealroom`, CREATEDB so that the
# end-to-end harness can give every relay a fresh database). No TCP port is opened: the cluster
# listens on its socket only, with `trust` authentication, so it is for tests and nothing else.
# Tests that need PostgreSQL fail under CI=true when the variable is missing.

sealroom_pg_start() {
  local root dir data sock bin log
  root=$(pwd)
  dir="$root/target/postgres"
  data="$dir/data"
  sock="$dir"
  log="$dir/server.log"
  bin=""
  for b in /usr/lib/postgresql/15/bin /usr/lib/postgresql/*/bin; do
    if [ -x "$b/pg_ctl" ]; then bin=$b; break; fi
  done
  if [ -z "$bin" ]; then
    echo "==> installing PostgreSQL (Debian package postgresql)" >&2
    if [ "$(id -u)" -eq 0 ]; then
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    else
      sudo apt-get update -qq && sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    fi || return 1
    for b in /usr/lib/postgresql/15/bin /usr/lib/postgresql/*/bin; do
      if [ -x "$b/pg_ctl" ]; then bin=$b; break; fi
    done
    [ -n "$bin" ] || return 1
  fi
  # Run PostgreSQL's tools as `postgres` when we are root, as ourselves otherwise.
  local -a as_pg=()
  if [ "$(id -u)" -eq 0 ]; then as_pg=(runuser -u postgres --); fi
  mkdir -p "$dir" || return 1
  if [ "$(id -u)" -eq 0 ]; then
    chown postgres:postgres "$dir" || return 1
  fi
  chmod 700 "$dir"
  if [ ! -f "$data/PG_VERSION" ]; then
    "${as_pg[@]}" "$bin/initdb" -D "$data" -U postgres --auth=trust --encoding=UTF8 \
      --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; return 1; }
  fi
  if ! "${as_pg[@]}" "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1; then
    # A SIGKILLed server leaves its pid file; pg_ctl start handles a stale one itself.
    "${as_pg[@]}" "$bin/pg_ctl" -D "$data" -l "$log" -w -t 60 start \
      -o "-c listen_addresses='' -c unix_socket_directories='$sock' -c max_connections=300 -c fsync=off" \
      >/dev/null || { tail -n 20 "$log" >&2; return 1; }
  fi
  local psql=("$bin/psql" -h "$sock" -U postgres -d postgres -v ON_ERROR_STOP=1 -qtA)
  if [ "$("${psql[@]}" -c "SELECT 1 FROM pg_roles WHERE rolname = 'sealroom'")" != "1" ]; then
    "${psql[@]}" -c "CREATE ROLE sealroom LOGIN CREATEDB" || return 1
  fi
  if [ "$("${psql[@]}" -c "SELECT 1 FROM pg_database WHERE datname = 'sealroom'")" != "1" ]; then
    "${psql[@]}" -c "CREATE DATABASE sealroom OWNER sealroom" || return 1
  fi
  # The socket directory as the URL's host, percent-encoded (libpq and tokio-postgres read it so).
  export SEALROOM_TEST_DATABASE_URL="postgresql://sealroom@${sock//\//%2F}/sealroom"
  echo "==> PostgreSQL running (socket in $sock)" >&2
}

sealroom_pg_start
