#!/usr/bin/env bash
# The test command (README): everything that CI checks beyond fmt and clippy.
#   scripts/test.sh               SQLite only; PostgreSQL tests skip with a printed reason
#   scripts/test.sh --postgres    starts (or reuses) a throw-away PostgreSQL first (scripts/pg.sh)
# CALCINE_TEST_POSTGRES_URL selects an existing server; CALCINE_REQUIRE_POSTGRES=1 makes a missing
# server a failure instead of a skip.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ "${1:-}" == "--postgres" ]]; then
  if [[ -x scripts/pg.sh ]]; then
    url=$(scripts/pg.sh | tail -n 1)
    export CALCINE_TEST_POSTGRES_URL="$url"
    echo "PostgreSQL: $CALCINE_TEST_POSTGRES_URL"
  else
    echo "scripts/pg.sh is missing: cannot start PostgreSQL" >&2
    exit 1
  fi
fi

echo "== workspace tests (debug)"
cargo test --workspace

echo "== bridge: thread-local migration test in a release build (A12)"
cargo test --release -p calcine-greenlet --test migration

echo "== bridge: the thread backend (what Miri checks) runs the bridge suite"
CARGO_TARGET_DIR=target/thread-backend RUSTFLAGS="--cfg calcine_thread_backend" \
  cargo test -p calcine-greenlet --test bridge

echo "== docs build without warnings"
RUSTDOCFLAGS="-Dwarnings" cargo doc --workspace --no-deps --quiet
