//! Concurrency (`shared/benchmarks.md` §4), the peers' side: 64 `tokio::spawn`ed tasks on a
//! multi-thread runtime with 2 workers share a pool of 4 PostgreSQL connections; each task runs
//! one operation in a loop for a fixed time (`benches/src/concurrency.rs` times every operation,
//! the same code as calcine's `benches/benches/concurrency.rs`). Workloads `trivial` (1 user
//! into `Vec<User>`) and `assoc` (diesel's workload 4, 100 users × 10 posts × 10 comments into
//! `Vec<(User, Vec<(Post, Vec<Comment>)>)>`), with the workload code of `src/workloads.rs`.
//!
//! Implementations, each with its pool's defaults apart from the size (as an application would
//! configure it; what the defaults cost is noted in the JSON and the report):
//! * `diesel_deadpool`: diesel (sync) `PgConnection` in a `deadpool-diesel` pool (`max_size` 4),
//!   the workload inside `Object::interact` (tokio's blocking pool). Default recycling
//!   `Verified`: a `SELECT 1` on every checkout of an idle connection.
//! * `diesel_async`: `AsyncPgConnection` in diesel-async's deadpool pool (`max_size` 4); default
//!   recycling `Verified` (a `SELECT 1` per checkout).
//! * `sqlx`: `PgPool` (`max_connections` 4), one `acquire()` per operation; default
//!   `test_before_acquire = true` (a ping per checkout).
//! * `sea_orm`: `DatabaseConnection` (`max_connections` 4, `sqlx_logging(false)` as in the peers
//!   bench); every statement checks a connection out of the pool (sea-orm's API), so `assoc` does
//!   three checkouts; default `test_before_acquire = true`.
//!
//! All of them run in autocommit (no `BEGIN`/`ROLLBACK`).
//!
//! `cargo bench --bench concurrency -- [--json PATH] [FILTER]`, `WARM_UP` / `MEASURE`,
//! `CONC_TASKS`, `CALCINE_BENCH_POSTGRES_URL` (required).

#[path = "../../src/concurrency.rs"]
#[allow(dead_code)]
mod concurrency;

use std::future::Future;
use std::hint::black_box;

use calcine_bench_peers::schema::{
    ASSOC_USERS_PG, COMMENTS_PER_POST, PG_DDL, POSTS_PER_USER, seed_sql,
};
use calcine_bench_peers::workloads::{diesel_async_pg, diesel_pg, sea, sqlx_pg};
use calcine_bench_peers::{Graph, check_graph};
use concurrency::{
    Output, POOL_SIZE, Settings, Stats, WORKER_THREADS, Wl, join_all, op_loop, summarize,
};
use diesel_async::pooled_connection::AsyncDieselConnectionManager;

const MT: &str = "multi-thread (2 workers), tokio::spawn";

/// Runs `op` from `settings.tasks` spawned tasks on `rt` and summarizes.
fn run<P, F, Fut>(
    rt: &tokio::runtime::Runtime,
    settings: &Settings,
    implementation: &str,
    wl: Wl,
    note: &str,
    pool: P,
    op: F,
) -> Stats
where
    P: Clone + Send + 'static,
    F: Fn(P, Wl) -> Fut + Copy + Send + 'static,
    Fut: Future<Output = usize> + Send + 'static,
{
    rt.block_on(async {
        let want = wl.want(ASSOC_USERS_PG);
        assert_eq!(op(pool.clone(), wl).await, want);
        let window = settings.window();
        let handles: Vec<_> = (0..settings.tasks)
            .map(|_| {
                let pool = pool.clone();
                tokio::spawn(op_loop(window, want, move || op(pool.clone(), wl)))
            })
            .collect();
        summarize(
            implementation,
            wl.name(),
            MT,
            note,
            window,
            join_all(handles).await,
        )
    })
}

fn graph_len(g: Graph) -> usize {
    black_box(g).len()
}

// ---- diesel (sync) + deadpool-diesel `interact` ----

async fn diesel_op(pool: deadpool_diesel::postgres::Pool, wl: Wl) -> usize {
    let conn = pool.get().await.expect("deadpool-diesel checkout");
    match wl {
        Wl::Trivial => black_box(conn.interact(diesel_pg::trivial).await.expect("interact")).len(),
        Wl::Assoc => graph_len(conn.interact(diesel_pg::assoc).await.expect("interact")),
    }
}

// ---- diesel-async + its deadpool pool ----

type DieselAsyncPool =
    diesel_async::pooled_connection::deadpool::Pool<diesel_async::AsyncPgConnection>;

async fn diesel_async_op(pool: DieselAsyncPool, wl: Wl) -> usize {
    let mut conn = pool.get().await.expect("diesel-async checkout");
    match wl {
        Wl::Trivial => black_box(diesel_async_pg::trivial(&mut conn).await).len(),
        Wl::Assoc => graph_len(diesel_async_pg::assoc(&mut conn).await),
    }
}

// ---- sqlx PgPool ----

async fn sqlx_op(pool: sqlx::PgPool, wl: Wl) -> usize {
    let mut conn = pool.acquire().await.expect("sqlx acquire");
    match wl {
        Wl::Trivial => black_box(sqlx_pg::trivial(&mut conn).await).len(),
        Wl::Assoc => graph_len(sqlx_pg::assoc(&mut conn).await),
    }
}

// ---- sea-orm ----

async fn sea_op(db: sea_orm::DatabaseConnection, wl: Wl) -> usize {
    match wl {
        Wl::Trivial => black_box(sea::trivial(&db).await).len(),
        Wl::Assoc => black_box(sea::assoc(&db).await).len(),
    }
}

fn main() {
    use diesel::connection::SimpleConnection;
    use diesel::prelude::Connection as _;

    let settings = Settings::from_env();
    let url = match std::env::var("CALCINE_BENCH_POSTGRES_URL") {
        Ok(url) if !url.is_empty() && url != "none" => url,
        _ => {
            println!("concurrency: CALCINE_BENCH_POSTGRES_URL not set; nothing to measure");
            return;
        }
    };
    println!(
        "concurrency (peers): {} tasks, pool {POOL_SIZE}, warm-up {:?}, measure {:?}",
        settings.tasks, settings.warm_up, settings.measure
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(WORKER_THREADS)
        .enable_all()
        .build()
        .expect("multi-thread runtime");
    // deadpool-diesel's connections close through `spawn_blocking` when the pool is dropped.
    let _in_runtime = rt.enter();
    let mut setup = diesel::PgConnection::establish(&url).expect("setup connection");
    setup.batch_execute(PG_DDL).expect("DDL");
    let mut out = Output::default();

    for wl in [Wl::Trivial, Wl::Assoc] {
        match wl {
            Wl::Trivial => setup.batch_execute(&seed_sql(true, 1, 0, 0)),
            Wl::Assoc => setup.batch_execute(&seed_sql(
                true,
                ASSOC_USERS_PG,
                POSTS_PER_USER,
                COMMENTS_PER_POST,
            )),
        }
        .expect("seed");
        if wl == Wl::Assoc {
            check_graph(&diesel_pg::assoc(&mut setup), ASSOC_USERS_PG);
        }
        let name = wl.name();

        if settings.wants("diesel_deadpool", name) {
            let manager = deadpool_diesel::postgres::Manager::new(
                url.clone(),
                deadpool_diesel::Runtime::Tokio1,
            );
            let pool = deadpool_diesel::postgres::Pool::builder(manager)
                .max_size(POOL_SIZE)
                .build()
                .expect("deadpool-diesel pool");
            let note = "deadpool-diesel max_size 4, interact (spawn_blocking); recycling Verified \
                        (SELECT 1 per checkout)";
            out.push(run(
                &rt,
                &settings,
                "diesel_deadpool",
                wl,
                note,
                pool,
                diesel_op,
            ));
        }
        if settings.wants("diesel_async", name) {
            let manager =
                AsyncDieselConnectionManager::<diesel_async::AsyncPgConnection>::new(url.clone());
            let pool = DieselAsyncPool::builder(manager)
                .max_size(POOL_SIZE)
                .build()
                .expect("diesel-async pool");
            let note =
                "diesel-async deadpool max_size 4; recycling Verified (SELECT 1 per checkout)";
            out.push(run(
                &rt,
                &settings,
                "diesel_async",
                wl,
                note,
                pool,
                diesel_async_op,
            ));
        }
        if settings.wants("sqlx", name) {
            let pool = rt
                .block_on(
                    sqlx::postgres::PgPoolOptions::new()
                        .max_connections(POOL_SIZE as u32)
                        .connect(&url),
                )
                .expect("sqlx pool");
            let note = "PgPool max_connections 4, one acquire per op; test_before_acquire = true \
                        (default: a ping per checkout)";
            out.push(run(&rt, &settings, "sqlx", wl, note, pool, sqlx_op));
        }
        if settings.wants("sea_orm", name) {
            let mut opt = sea_orm::ConnectOptions::new(url.clone());
            opt.max_connections(POOL_SIZE as u32).sqlx_logging(false);
            let db = rt
                .block_on(sea_orm::Database::connect(opt))
                .expect("sea-orm connect");
            let note = "max_connections 4, a checkout per statement (assoc: 3); \
                        test_before_acquire = true (default)";
            out.push(run(&rt, &settings, "sea_orm", wl, note, db, sea_op));
        }
    }
    setup
        .batch_execute(&seed_sql(true, 0, 0, 0))
        .expect("empty the tables");
    out.write(settings.json.as_deref());
}
