#!/usr/bin/env bash
# Concurrency (shared/benchmarks.md §4): 64 tokio tasks sharing a pool of 4 PostgreSQL
# connections, trivial/1 and diesel's workload 4, throughput and p50/p99 per operation.
# Builds both bench binaries, starts (or reuses) the benchmark PostgreSQL, runs calcine's side
# (`cargo bench --bench concurrency` here) and the peers' (the same in peers/), each pinned to
# CPU 0, then tools/concurrency_report.py rewrites the "Concurrency" section of RESULTS.md.
# About 2 minutes (6 calcine + 8 peer runs of WARM_UP + MEASURE seconds, plus seeding).
#   CALCINE_BENCH_POSTGRES_URL  as in run-core-orm.sh (unset: tools/pg-bench.sh; "none": skip)
#   WARM_UP / MEASURE           seconds per implementation and workload (default 1 / 5)
#   CONC_TASKS                  tasks (default 64)
#   REPORT_ONLY=1               skip the benchmarks, rebuild the section from target/concurrency-*.json
set -euo pipefail
cd "$(dirname "$0")"

export WARM_UP="${WARM_UP:-1}"
export MEASURE="${MEASURE:-5}"
load() { cut -d' ' -f1-3 /proc/loadavg; }
export CARGO_TARGET_DIR="$PWD/target"

if [ -z "${CALCINE_BENCH_POSTGRES_URL:-}" ]; then
    CALCINE_BENCH_POSTGRES_URL="$(tools/pg-bench.sh | tail -n 1)"
elif [ "$CALCINE_BENCH_POSTGRES_URL" = none ]; then
    echo "run-concurrency.sh: the concurrency benchmark needs PostgreSQL; nothing to do" >&2
    exit 0
fi
export CALCINE_BENCH_POSTGRES_URL
psql_bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)/psql"
pg_version="PostgreSQL $("$psql_bin" "$CALCINE_BENCH_POSTGRES_URL" -qtAc 'SHOW server_version' 2>/dev/null || true)"

pin=()
command -v taskset >/dev/null && pin=(taskset -c 0)
mkdir -p target
calcine_json="$PWD/target/concurrency-calcine.json"
peers_json="$PWD/target/concurrency-peers.json"
if [ -z "${REPORT_ONLY:-}" ]; then
    rm -f "$calcine_json" "$peers_json"
    cargo bench --no-run --bench concurrency 2>&1 | tail -n 2
    (cd peers && cargo bench --no-run --bench concurrency 2>&1 | tail -n 2)
    {
        echo "date='$(date -u)'"
        echo "load_before='$(load)'"
    } > target/concurrency-run.env
    "${pin[@]}" cargo bench --bench concurrency -- --json "$calcine_json" 2>&1 \
        | tee target/concurrency-calcine.log
    echo "load_mid='$(load)'" >> target/concurrency-run.env
    (cd peers && "${pin[@]}" cargo bench --bench concurrency -- --json "$peers_json") 2>&1 \
        | tee target/concurrency-peers.log
    {
        echo "load_after='$(load)'"
        echo "warm_up='$WARM_UP'"
        echo "measure='$MEASURE'"
    } >> target/concurrency-run.env
fi
# shellcheck disable=SC1091
. target/concurrency-run.env
python3 tools/concurrency_report.py --splice RESULTS.md \
    --calcine "$calcine_json" --peers "$peers_json" --lock Cargo.lock --peers-lock peers/Cargo.lock \
    --command "cd benches && ./run-concurrency.sh" \
    --runs "WARM_UP=$warm_up MEASURE=$measure ${pin[*]} cargo bench --bench concurrency -- --json target/concurrency-calcine.json; cd peers && ${pin[*]} cargo bench --bench concurrency -- --json ../target/concurrency-peers.json" \
    --date "$date" --load-before "$load_before" --load-mid "$load_mid" --load-after "$load_after" \
    --pg-version "$pg_version" --warm-up "$warm_up" --measure "$measure"
echo "wrote $(pwd)/RESULTS.md"
