#!/usr/bin/env bash
# Instructions per iteration of one workload (callgrind; see src/bin/icount.rs and, for diesel,
# peers/src/bin/icount.rs):
#   tools/icount.sh orm_medium 1000 [iters]
#   tools/icount.sh diesel_medium 1000 [iters]      (diesel_*: the peers' binary)
# Repeatable whatever else the machine runs, so A/B runs need no quiet machine.
# ICOUNT_PG=postgres://... runs it on PostgreSQL (client instructions only).
# ICOUNT_FEATURES=mimalloc runs it with mimalloc as the process's allocator.
# ICOUNT_TIME=1 times it natively instead (pinned to CPU ${ICOUNT_CPU:-1}; wall clock, so
# noisy, but glibc's heap behaves as in a real run, which under valgrind it does not).
# ICOUNT_ATOMICS=1 also counts the atomic read-modify-writes executed (tools/atomics.py), by
# function: ~10 ns each here, which instruction counts do not show.
# ICOUNT_AUTOCOMMIT=1 builds calcine's engine in autocommit mode (EngineBuilder::autocommit).
# ICOUNT_PEERS=1 runs a workload of the peers' binary that has no diesel_ prefix (raw_trivial:
# rusqlite on the peers' SQLite build).
set -euo pipefail
tools="$(cd "$(dirname "$0")" && pwd)"
cd "$tools/.."
wl=$1 n=$2 iters=${3:-20}
if [[ $wl == diesel_* || -n "${ICOUNT_PEERS:-}" ]]; then cd peers; fi
feat=${ICOUNT_FEATURES:+--features $ICOUNT_FEATURES}
# shellcheck disable=SC2086
cargo build --release --bin icount -q $feat
if [[ -n "${ICOUNT_TIME:-}" ]]; then
  echo -n "$wl n=$n: "
  exec taskset -c "${ICOUNT_CPU:-1}" target/release/icount "$wl" "$n" "$iters"
fi
out=$(mktemp)
valgrind --tool=callgrind --callgrind-out-file="$out" --collect-atstart=no ${ICOUNT_ATOMICS:+--dump-instr=yes} \
  --toggle-collect="icount::icount_common::measured*" target/release/icount "$wl" "$n" "$iters" 2>/dev/null
total=$(grep -E '^summary:' "$out" | awk '{print $2}')
echo "$wl n=$n: $((total / iters)) instructions/iteration ($iters iterations)"
echo "  callgrind file: $out (callgrind_annotate $out)"
if [[ -n "${ICOUNT_ATOMICS:-}" ]]; then python3 "$tools/atomics.py" "$out" "$iters" | sed 's/^/  /'; fi
