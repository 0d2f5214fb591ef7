#!/usr/bin/env bash
# Runs the Core, ORM and relationship benchmarks (criterion `core`, harness `orm` with its
# `assoc.*`/`p1k.*` relationship workloads, SQLAlchemy's `orm.py`) and rewrites the "Core", "ORM"
# and "Relationships" sections of benches/RESULTS.md (the bridge section stays).
# About 10-12 minutes on 2 cores after the first build.
#   CALCINE_BENCH_POSTGRES_URL  PostgreSQL to measure; when unset, a benchmark cluster is started
#                               (or reused) by tools/pg-bench.sh (fsync=off, port 55433, CPU 1).
#                               Set it to "none" to skip PostgreSQL.
#   WARM_UP_TIME / MEASUREMENT_TIME   criterion seconds per core benchmark (default 0.5 / 1.5)
#   ORM_FLUSH_REPS, ORM_ASSOC_REPS ... see benches/benches/orm.rs; SA_FLUSH_REPEATS (default 3),
#                                     SA_REL_REPEATS / SA_LAZY_REPEATS (default 5 / 3),
#                                     SA_LARGE_REPEATS (large500k.*, default 3)
#   REPORT_ONLY=1               skip the benchmarks, rebuild the sections from target/ (the last
#                               run's data; e.g. after editing tools/core_orm_analysis.md)
set -euo pipefail
cd "$(dirname "$0")"

warm="${WARM_UP_TIME:-0.5}"
meas="${MEASUREMENT_TIME:-1.5}"
sa_flush="${SA_FLUSH_REPEATS:-3}"
sa_rel="${SA_REL_REPEATS:-5}"
sa_lazy="${SA_LAZY_REPEATS:-3}"
sa_large="${SA_LARGE_REPEATS:-3}"
date="$(date -u)"
load() { cut -d' ' -f1-3 /proc/loadavg; }

if [ -z "${CALCINE_BENCH_POSTGRES_URL:-}" ]; then
    CALCINE_BENCH_POSTGRES_URL="$(tools/pg-bench.sh | tail -n 1)"
elif [ "$CALCINE_BENCH_POSTGRES_URL" = none ]; then
    CALCINE_BENCH_POSTGRES_URL=""
fi
export CALCINE_BENCH_POSTGRES_URL
pg_version=""
if [ -n "$CALCINE_BENCH_POSTGRES_URL" ]; then
    psql_bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)/psql"
    pg_version="$("$psql_bin" "$CALCINE_BENCH_POSTGRES_URL" -qtAc 'SHOW server_version' 2>/dev/null || true)"
    pg_version="PostgreSQL $pg_version"
fi

pin=()
command -v taskset >/dev/null && pin=(taskset -c 0)
mkdir -p target
core_args="--warm-up-time $warm --measurement-time $meas"
if [ -z "${REPORT_ONLY:-}" ]; then
    rm -rf target/criterion/core_* target/orm.json target/sqlalchemy-orm.json
    cargo bench --no-run --bench core --bench orm 2>&1 | tail -n 3
    load_before="$(load)"
    # shellcheck disable=SC2086
    "${pin[@]}" cargo bench --bench core -- $core_args 2>&1 | tee target/core-criterion.log
    load_core="$(load)"
    "${pin[@]}" cargo bench --bench orm -- --json target/orm.json 2>&1 | tee target/orm.log
    load_orm="$(load)"
    "${pin[@]}" sqlalchemy/run.sh orm --flush-repeats "$sa_flush" --rel-repeats "$sa_rel" \
        --lazy-repeats "$sa_lazy" --large-repeats "$sa_large" --json target/sqlalchemy-orm.json \
        | tee target/sqlalchemy-orm.log
    load_after="$(load)"
    {
        echo "date='$date'"
        echo "load_before='$load_before'"
        echo "load_core='$load_core'"
        echo "load_orm='$load_orm'"
        echo "load_after='$load_after'"
        echo "pg_version='$pg_version'"
    } > target/core-orm-run.env
fi
# shellcheck disable=SC1091
. target/core-orm-run.env

python3 tools/core_orm_report.py --splice RESULTS.md \
    --criterion target/criterion --orm target/orm.json --sqlalchemy target/sqlalchemy-orm.json \
    --analysis tools/core_orm_analysis.md --lock Cargo.lock \
    --command "cd benches && ./run-core-orm.sh" \
    --runs "${pin[*]} cargo bench --bench core -- $core_args; ${pin[*]} cargo bench --bench orm -- --json target/orm.json; ${pin[*]} sqlalchemy/run.sh orm --flush-repeats $sa_flush --rel-repeats $sa_rel --lazy-repeats $sa_lazy --large-repeats $sa_large" \
    --date "$date" --load-before "$load_before" --load-core "$load_core" \
    --load-orm "$load_orm" --load-after "$load_after" --pg-version "$pg_version"
echo "wrote $(pwd)/RESULTS.md"
