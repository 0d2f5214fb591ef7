#!/usr/bin/env bash
# THE one command for every benchmark: runs, in order, run-bridge.sh (rewrites RESULTS.md from
# scratch, carrying the other sections over), run-core-orm.sh (Core, ORM, Relationships),
# run-peers.sh (Peers section + peers.svg) and run-concurrency.sh (Concurrency section), so
# RESULTS.md and peers.svg come out of one run. About 40 minutes on 2 cores after the first
# build; needs root for the benchmark PostgreSQL (tools/pg-bench.sh, started once here) and
# PyPI access for SQLAlchemy's venv. Every variable of the four scripts passes through
# (WARM_UP_TIME / MEASUREMENT_TIME are per-script criterion times: leave them unset to keep each
# script's defaults; CALCINE_BENCH_POSTGRES_URL, SA_*, ORM_*, WARM_UP / MEASURE, ...).
#   ONLY="bridge core-orm peers concurrency"   a subset, in this order
set -euo pipefail
cd "$(dirname "$0")"

only="${ONLY:-bridge core-orm peers concurrency}"
if [ -z "${CALCINE_BENCH_POSTGRES_URL:-}" ]; then
    CALCINE_BENCH_POSTGRES_URL="$(tools/pg-bench.sh | tail -n 1)"
fi
export CALCINE_BENCH_POSTGRES_URL
start="$(date -u)"
for step in $only; do
    echo "=== run-all.sh: $step ($(date -u +%T)) ==="
    case "$step" in
        bridge) ./run-bridge.sh ;;
        core-orm) ./run-core-orm.sh ;;
        peers) ./run-peers.sh ;;
        concurrency) ./run-concurrency.sh ;;
        *) echo "run-all.sh: unknown step $step" >&2; exit 2 ;;
    esac
done
echo "run-all.sh: $only done (started $start, finished $(date -u)); wrote $(pwd)/RESULTS.md and peers.svg"
