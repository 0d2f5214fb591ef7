#!/usr/bin/env bash
# Instructions per iteration of one workload (callgrind; see src/bin/icount.rs and, for diesel,
# peers/src/bin/icount.rs):
#   tools/icount.sh orm_medium 1000 [iters]
#   tools/icount.sh diesel_medium 1000 [iters]      (diesel_*: the peers' binary)
# Repeatable whatever else the machine runs, so A/B runs need no quiet machine.
# ICOUNT_PG=postgres://... runs it on PostgreSQL (client instructions only).
# ICOUNT_FEATURES=mimalloc runs it with mimalloc as the process's allocator.
# ICOUNT_PEERS=1 runs a workload of the peers' binary that has no diesel_ prefix (raw_trivial:
# rusqlite on the peers' SQLite build).
set -euo pipefail
cd "$(dirname "$0")/.."
wl=$1 n=$2 iters=${3:-20}
if [[ $wl == diesel_* || -n "${ICOUNT_PEERS:-}" ]]; then cd peers; fi
feat=${ICOUNT_FEATURES:+--features $ICOUNT_FEATURES}
# shellcheck disable=SC2086
cargo build --release --bin icount -q $feat
out=$(mktemp)
valgrind --tool=callgrind --callgrind-out-file="$out" --collect-atstart=no \
  --toggle-collect="icount::icount_common::measured*" target/release/icount "$wl" "$n" "$iters" 2>/dev/null
total=$(grep -E '^summary:' "$out" | awk '{print $2}')
echo "$wl n=$n: $((total / iters)) instructions/iteration ($iters iterations)"
echo "  callgrind file: $out (callgrind_annotate $out)"
