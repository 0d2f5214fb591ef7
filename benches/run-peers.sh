#!/usr/bin/env bash
# diesel's workloads 1-4 side by side: calcine (Core, ORM sync, ORM through run_sync on a
# current-thread and a multi-thread runtime) + rusqlite / tokio-postgres (`cargo bench --bench
# peers`), then diesel, diesel-async, sqlx, sea-orm (the `peers/` workspace, `cargo bench` there
# with the same target directory, so both write into target/criterion/peers_*), then
# the SQLite groups of both once more unpinned, then
# tools/peers_report.py, which rewrites the "Peers" section of RESULTS.md and target/../peers.svg.
# About 18 minutes on 2 cores after the first build (the first build of peers/ takes 5-10 more).
#   CALCINE_BENCH_POSTGRES_URL  as in run-core-orm.sh (unset: tools/pg-bench.sh; "none": skip PG)
#   WARM_UP_TIME / MEASUREMENT_TIME   criterion seconds per benchmark (default 0.5 / 1.5)
#   REPORT_ONLY=1               skip the benchmarks, rebuild the section from target/criterion
set -euo pipefail
cd "$(dirname "$0")"

warm="${WARM_UP_TIME:-0.5}"
meas="${MEASUREMENT_TIME:-1.5}"
load() { cut -d' ' -f1-3 /proc/loadavg; }
export CARGO_TARGET_DIR="$PWD/target"

if [ -z "${CALCINE_BENCH_POSTGRES_URL:-}" ]; then
    CALCINE_BENCH_POSTGRES_URL="$(tools/pg-bench.sh | tail -n 1)"
elif [ "$CALCINE_BENCH_POSTGRES_URL" = none ]; then
    CALCINE_BENCH_POSTGRES_URL=""
fi
export CALCINE_BENCH_POSTGRES_URL
pg_version=""
if [ -n "$CALCINE_BENCH_POSTGRES_URL" ]; then
    psql_bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)/psql"
    pg_version="PostgreSQL $("$psql_bin" "$CALCINE_BENCH_POSTGRES_URL" -qtAc 'SHOW server_version' 2>/dev/null || true)"
fi

pin=()
command -v taskset >/dev/null && pin=(taskset -c 0)
args="--warm-up-time $warm --measurement-time $meas"
mkdir -p target
if [ -z "${REPORT_ONLY:-}" ]; then
    rm -rf target/criterion/peers_*
    cargo bench --no-run --bench peers 2>&1 | tail -n 2
    (cd peers && cargo bench --no-run 2>&1 | tail -n 2)
    {
        echo "date='$(date -u)'"
        echo "load_before='$(load)'"
    } > target/peers-run.env
    # shellcheck disable=SC2086
    "${pin[@]}" cargo bench --bench peers -- $args 2>&1 | tee target/peers-calcine.log
    echo "load_mid='$(load)'" >> target/peers-run.env
    # shellcheck disable=SC2086
    (cd peers && "${pin[@]}" cargo bench --bench peers -- $args) 2>&1 | tee target/peers-peers.log
    # SQLite once more without taskset (criterion baseline `unpinned`, reported separately):
    # sqlx's SQLite worker-thread hops then cross CPUs. SKIP_UNPINNED=1 skips it.
    if [ -z "${SKIP_UNPINNED:-}" ]; then
        # shellcheck disable=SC2086
        CALCINE_BENCH_POSTGRES_URL="" cargo bench --bench peers -- $args --save-baseline unpinned \
            '^peers_sqlite_.*/(calcine_orm|calcine_run_sync_mt)/' 2>&1 | tee target/peers-calcine-unpinned.log
        # shellcheck disable=SC2086
        (cd peers && CALCINE_BENCH_POSTGRES_URL="" cargo bench --bench peers -- $args \
            --save-baseline unpinned '^peers_sqlite_.*/(diesel|sqlx|sea_orm)/') 2>&1 \
            | tee target/peers-peers-unpinned.log
    fi
    echo "load_after='$(load)'" >> target/peers-run.env
fi
# shellcheck disable=SC1091
. target/peers-run.env
sqlite_calcine="$(grep -m1 'peers-sqlite-version: calcine' target/peers-calcine.log | awk '{print $3}')"
sqlite_peers="$(grep -m1 'peers-sqlite-version: peers' target/peers-peers.log | awk '{print $3}')"
python3 tools/peers_report.py --splice RESULTS.md --svg peers.svg \
    --criterion target/criterion --lock Cargo.lock --peers-lock peers/Cargo.lock \
    --command "cd benches && ./run-peers.sh" \
    --runs "${pin[*]} cargo bench --bench peers -- $args; cd peers && ${pin[*]} cargo bench --bench peers -- $args; then the SQLite groups of both unpinned with --save-baseline unpinned" \
    --date "$date" --load-before "$load_before" --load-mid "$load_mid" --load-after "$load_after" \
    --pg-version "$pg_version" --sqlite-calcine "$sqlite_calcine" --sqlite-peers "$sqlite_peers"
