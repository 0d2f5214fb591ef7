#!/usr/bin/env bash
# Starts (or reuses) a throw-away PostgreSQL for the tests and prints its URL as the last line.
# Idempotent: installs Debian's `postgresql` package only when missing, creates the cluster under
# $CALCINE_PG_DIR (default /tmp/calcine-pg) only once, starts it only when it is not running, and
# creates the `calcine_test` database only when missing. Needs root (apt-get, runuser).
# Port: $CALCINE_PG_PORT (default 55432). Diagnostics go to stderr.
set -euo pipefail

PGDIR="${CALCINE_PG_DIR:-/tmp/calcine-pg}"
PORT="${CALCINE_PG_PORT:-55432}"
DB=calcine_test

log() { echo "pg.sh: $*" >&2; }

bindir() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }

if [[ -z "$(bindir)" || ! -x "$(bindir)/initdb" ]]; then
  log "installing Debian's postgresql package"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends postgresql >&2
fi
BIN="$(bindir)"
as_pg() { runuser -u postgres -- "$@"; }

if ! "$BIN/pg_isready" -q -h 127.0.0.1 -p "$PORT"; then
  if [[ ! -s "$PGDIR/PG_VERSION" ]]; then
    log "creating a cluster in $PGDIR"
    rm -rf "$PGDIR"
    mkdir -p "$PGDIR"
    chown postgres:postgres "$PGDIR"
    chmod 700 "$PGDIR"
    as_pg "$BIN/initdb" -D "$PGDIR" -U postgres -A trust -E UTF8 --locale=C -N >&2
  fi
  log "starting PostgreSQL on 127.0.0.1:$PORT"
  as_pg "$BIN/pg_ctl" -D "$PGDIR" -l "$PGDIR.log" -w -t 60 \
    -o "-p $PORT -c listen_addresses=127.0.0.1 -c unix_socket_directories=/tmp -c max_connections=200" \
    start >&2
fi

for _ in $(seq 1 50); do
  "$BIN/pg_isready" -q -h 127.0.0.1 -p "$PORT" && break
  sleep 0.2
done

PSQL=("$BIN/psql" -h 127.0.0.1 -p "$PORT" -U postgres -v ON_ERROR_STOP=1 -qtA)
if [[ "$("${PSQL[@]}" -d postgres -c "SELECT 1 FROM pg_database WHERE datname = '$DB'")" != "1" ]]; then
  log "creating database $DB"
  "${PSQL[@]}" -d postgres -c "CREATE DATABASE $DB" >&2
fi

echo "postgres://postgres@127.0.0.1:$PORT/$DB"
