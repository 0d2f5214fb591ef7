#!/usr/bin/env bash
# Starts (or reuses) a throw-away PostgreSQL cluster for benchmarks and prints its URL as the last
# line. Unlike the tests' `scripts/pg.sh` (defaults, port 55432), this one runs with
# `fsync=off synchronous_commit=off full_page_writes=off` (no disk noise; see
# shared/postgres.md) on its own port and data dir, with the server pinned to the last CPU so
# `run-core-orm.sh` can pin the benchmarks to CPU 0. Needs root (initdb/pg_ctl via runuser);
# installs nothing itself: `scripts/pg.sh` installs Debian's postgresql package when missing.
#   CALCINE_BENCH_PG_DIR  (default /tmp/calcine-pg-bench)   CALCINE_BENCH_PG_PORT (default 55433)
set -euo pipefail
PGDIR="${CALCINE_BENCH_PG_DIR:-/tmp/calcine-pg-bench}"
PORT="${CALCINE_BENCH_PG_PORT:-55433}"
DB=calcine_bench
log() { echo "pg-bench.sh: $*" >&2; }
BIN="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
if [[ -z "$BIN" || ! -x "$BIN/initdb" ]]; then
  log "no PostgreSQL binaries; running scripts/pg.sh once to install them"
  "$(dirname "$0")/../../scripts/pg.sh" >/dev/null
  BIN="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)"
fi
as_pg() { runuser -u postgres -- "$@"; }
cpu=$(( $(nproc) - 1 ))
if ! "$BIN/pg_isready" -q -h 127.0.0.1 -p "$PORT"; then
  if [[ ! -s "$PGDIR/PG_VERSION" ]]; then
    log "creating a cluster in $PGDIR"
    rm -rf "$PGDIR"; mkdir -p "$PGDIR"; chown postgres:postgres "$PGDIR"; chmod 700 "$PGDIR"
    as_pg "$BIN/initdb" -D "$PGDIR" -U postgres -A trust -E UTF8 --locale=C -N >&2
  fi
  log "starting PostgreSQL on 127.0.0.1:$PORT (fsync=off), pinned to CPU $cpu"
  pin=()
  command -v taskset >/dev/null && pin=(taskset -c "$cpu")
  "${pin[@]}" runuser -u postgres -- "$BIN/pg_ctl" -D "$PGDIR" -l "$PGDIR.log" -w -t 60 \
    -o "-p $PORT -c listen_addresses=127.0.0.1 -c unix_socket_directories=/tmp -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
    start >&2
fi
for _ in $(seq 1 50); do "$BIN/pg_isready" -q -h 127.0.0.1 -p "$PORT" && break; sleep 0.2; done
PSQL=("$BIN/psql" -h 127.0.0.1 -p "$PORT" -U postgres -v ON_ERROR_STOP=1 -qtA)
if [[ "$("${PSQL[@]}" -d postgres -c "SELECT 1 FROM pg_database WHERE datname = '$DB'")" != "1" ]]; then
  "${PSQL[@]}" -d postgres -c "CREATE DATABASE $DB" >&2
fi
echo "postgres://postgres@127.0.0.1:$PORT/$DB"
