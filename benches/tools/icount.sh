#!/usr/bin/env bash
# Instructions per iteration of one SQLite workload (callgrind; see src/bin/icount.rs):
#   tools/icount.sh orm_medium 1000 [iters]
# Repeatable whatever else the machine runs, so A/B runs need no quiet machine.
# ICOUNT_PG=postgres://... runs it on PostgreSQL (client instructions only).
# ICOUNT_FEATURES=mimalloc runs it with mimalloc as the process's allocator.
set -euo pipefail
cd "$(dirname "$0")/.."
wl=$1 n=$2 iters=${3:-20}
feat=${ICOUNT_FEATURES:+--features $ICOUNT_FEATURES}
cargo build --release --bin icount -q $feat
out=$(mktemp)
valgrind --tool=callgrind --callgrind-out-file="$out" --collect-atstart=no \
  --toggle-collect="icount::measured*" target/release/icount "$wl" "$n" "$iters" 2>/dev/null
total=$(grep -E '^summary:' "$out" | awk '{print $2}')
echo "$wl n=$n: $((total / iters)) instructions/iteration ($iters iterations)"
echo "  callgrind file: $out (callgrind_annotate $out)"
