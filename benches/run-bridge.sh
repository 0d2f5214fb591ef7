#!/usr/bin/env bash
# Runs the bridge benchmarks (criterion, then SQLAlchemy's bridge in a throw-away venv) and
# writes benches/RESULTS.md. About 5-6 minutes on 2 cores, plus the first build.
#   WARM_UP_TIME / MEASUREMENT_TIME  criterion seconds per benchmark (default 2 / 8)
#   PINNED_MEASUREMENT_TIME          same, for the run pinned to CPU 0 (default 5)
#   SA_REPEATS                       repeats per SQLAlchemy figure (default 7)
#   REPORT_ONLY=1                    skip the benchmarks, rebuild the bridge part from target/
#                                    (the last run's data; e.g. after editing tools/bridge_analysis.md)
set -euo pipefail
cd "$(dirname "$0")"

warm="${WARM_UP_TIME:-2}"
meas="${MEASUREMENT_TIME:-8}"
repeats="${SA_REPEATS:-7}"
criterion_args="--warm-up-time $warm --measurement-time $meas"
date="$(date -u)"
load_before="$(cut -d' ' -f1-3 /proc/loadavg)"

mkdir -p target
if [ -z "${REPORT_ONLY:-}" ]; then
    # Old results must not leak into the report if a benchmark is renamed or fails.
    rm -rf target/criterion/round_trip target/criterion/switch target/criterion/concurrent64

    # 1. The multi-thread benchmarks with the whole process pinned to CPU 0 (no cross-vCPU wake-ups),
    #    saved as criterion baseline "pinned". First, because every run also writes "new".
    pinned_filter='^(round_trip/mt_|concurrent64/)'
    pinned_args="--warm-up-time $warm --measurement-time ${PINNED_MEASUREMENT_TIME:-5}"
    pinned_cmd="taskset -c 0 cargo bench --bench bridge -- --save-baseline pinned $pinned_args '$pinned_filter'"
    if command -v taskset >/dev/null; then
        # shellcheck disable=SC2086
        taskset -c 0 cargo bench --bench bridge -- --save-baseline pinned $pinned_args "$pinned_filter" \
            2>&1 | tee target/bridge-criterion-pinned.log
    else
        pinned_cmd=""
    fi
    # 2. Everything, unpinned (baseline "new").
    # shellcheck disable=SC2086
    cargo bench --bench bridge -- $criterion_args 2>&1 | tee target/bridge-criterion.log
    sqlalchemy/run.sh --repeats "$repeats" --json target/sqlalchemy-bridge.json \
        | tee target/sqlalchemy-bridge.log
    load_after="$(cut -d' ' -f1-3 /proc/loadavg)"
    {
        echo "date='$date'"
        echo "load_before='$load_before'"
        echo "load_after='$load_after'"
        echo "pinned_cmd=\"$pinned_cmd\""
    } > target/bridge-run.env
fi
# shellcheck disable=SC1091
. target/bridge-run.env
python3 tools/bridge_report.py \
    --criterion target/criterion \
    --sqlalchemy target/sqlalchemy-bridge.json \
    --lock Cargo.lock \
    --command "cd benches && ./run-bridge.sh" \
    --runs "${pinned_cmd:+$pinned_cmd; }cargo bench --bench bridge -- $criterion_args; sqlalchemy/run.sh --repeats $repeats" \
    --pinned-runs "$pinned_cmd" \
    --date "$date" \
    --load-before "$load_before" \
    --load-after "$load_after" \
    > RESULTS.md.tmp
# Keep the Core/ORM sections written by run-core-orm.sh, the Peers section of run-peers.sh and
# the Concurrency section of run-concurrency.sh (in that order).
python3 tools/core_orm_report.py --carry-over RESULTS.md RESULTS.md.tmp
python3 tools/peers_report.py --carry-over RESULTS.md RESULTS.md.tmp
python3 tools/concurrency_report.py --carry-over RESULTS.md RESULTS.md.tmp
mv RESULTS.md.tmp RESULTS.md
echo "wrote $(pwd)/RESULTS.md"
