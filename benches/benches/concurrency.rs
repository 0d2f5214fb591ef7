//! Concurrency (`shared/benchmarks.md` §4), calcine's side: 64 tokio tasks sharing a pool of 4
//! PostgreSQL connections, each running one operation in a loop for a fixed time; throughput
//! and latency percentiles of every operation (`src/concurrency.rs` times them). The peers
//! (diesel + deadpool `interact`, diesel-async + deadpool, sqlx `PgPool`, sea-orm) are
//! `peers/benches/concurrency.rs`; `run-concurrency.sh` runs both and
//! `tools/concurrency_report.py` writes the `## Concurrency` section of RESULTS.md.
//!
//! Workloads (one after the other, same seeded tables as the peers):
//! * `trivial`: `SELECT id, name, hair_color FROM users` with 1 user, decoded into a model;
//! * `assoc`: diesel's workload 4, 100 users × 10 posts × 10 comments into
//!   `Vec<(Obj<UserM>, Vec<(Obj<PostM>, Vec<Obj<CommentM>>)>)>` (nested `selectinload`).
//!
//! Implementations (engine: `pool_size(4).max_overflow(0)`, defaults otherwise, so no
//! `pool_pre_ping`; one engine per implementation):
//! * `calcine_send_orm`: `SendAsyncSession::run_sync` (Send mode: the session hops to a home
//!   thread) from 64 `tokio::spawn`ed tasks on a multi-thread runtime with 2 workers;
//! * `calcine_inline_orm`: `AsyncSession::run_sync` (inline greenlet on the task's thread)
//!   from 64 `spawn_local` tasks on a current-thread runtime + `LocalSet`;
//! * `calcine_send_core` / `calcine_inline_core` (trivial only; the Core has no relationship
//!   loading): `connect_send()` / `connect()`, `run_sync` with the Core statement decoded by
//!   `row.get` into plain structs (`core_workloads::calcine_trivial`), `close()`.
//!
//! One operation is what a request handler does: a fresh session (connection), the workload,
//! and `close()` inside the same `run_sync` (SQLAlchemy's `async with AsyncSession(engine)`), so
//! the connection is back in the pool when the operation ends. calcine autobegins, so each
//! operation is `BEGIN` (pipelined with the first statement), the statements, `ROLLBACK`.
//! Pool waits suspend the greenlet (`await_` on the pool's `Notify`), never the thread.
//!
//! `cargo bench --bench concurrency -- [--json PATH] [FILTER]`, `WARM_UP` / `MEASURE` seconds
//! (default 1 / 5), `CONC_TASKS` (64), `CALCINE_BENCH_POSTGRES_URL` (required).

use std::hint::black_box;
use std::sync::Arc;

use calcine::asyncio::{AsyncEngine, AsyncSession, SendAsyncSession};
use calcine::orm::Session;
use calcine_benches::RawPg;
use calcine_benches::concurrency::{
    Output, POOL_SIZE, Recorder, Settings, Stats, WORKER_THREADS, Window, Wl, join_all, op_loop,
    summarize,
};
use calcine_benches::core_workloads::{Schema, calcine_trivial, schema};
use calcine_benches::diesel_models::{check_graph, orm_assoc, orm_trivial};
use calcine_benches::diesel_schema::{
    ASSOC_USERS_PG, COMMENTS_PER_POST, PG_DDL, POSTS_PER_USER, seed_sql,
};

const MT: &str = "multi-thread (2 workers), tokio::spawn";
const CT: &str = "current-thread + LocalSet, spawn_local";

/// The ORM body of one operation: the workload, then `close()` (connection back to the pool).
/// Returns the number of top-level objects (the graph is built and dropped here).
fn orm_op(s: &mut Session, wl: Wl) -> usize {
    let n = match wl {
        Wl::Trivial => black_box(orm_trivial(s).expect("trivial")).len(),
        Wl::Assoc => black_box(orm_assoc(s).expect("assoc")).len(),
    };
    s.close();
    n
}

fn engine(url: &str) -> AsyncEngine {
    AsyncEngine::builder(url)
        .pool_size(POOL_SIZE)
        .max_overflow(0)
        .build()
        .expect("async engine")
}

fn multi_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(WORKER_THREADS)
        .enable_all()
        .build()
        .expect("multi-thread runtime")
}

// ---- Send mode: tokio::spawn on a multi-thread runtime ----

async fn send_orm(ae: &AsyncEngine, wl: Wl) -> usize {
    let mut s = SendAsyncSession::new(ae);
    s.run_sync(move |s| orm_op(s, wl))
        .await
        .expect("SendAsyncSession::run_sync")
}

async fn send_core(ae: &AsyncEngine, schema: &Arc<Schema>) -> usize {
    let mut conn = ae.connect_send().await.expect("connect_send");
    let schema = Arc::clone(schema);
    let n = conn
        .run_sync(move |c| black_box(calcine_trivial(c, &schema)).len())
        .await
        .expect("SendAsyncConnection::run_sync");
    conn.close().await;
    n
}

fn run_mt(
    settings: &Settings,
    url: &str,
    implementation: &str,
    wl: Wl,
    core: bool,
    note: &str,
) -> Stats {
    let rt = multi_thread();
    let ae = engine(url);
    let schema = Arc::new(schema());
    rt.block_on(async {
        // Check the result once, outside the timing.
        let n = if core {
            send_core(&ae, &schema).await
        } else {
            send_orm(&ae, wl).await
        };
        let want = wl.want(ASSOC_USERS_PG);
        assert_eq!(n, want);
        let window = settings.window();
        let handles: Vec<_> = (0..settings.tasks)
            .map(|_| {
                let ae = ae.clone();
                let schema = Arc::clone(&schema);
                tokio::spawn(async move {
                    op_loop(window, want, || async {
                        if core {
                            send_core(&ae, &schema).await
                        } else {
                            send_orm(&ae, wl).await
                        }
                    })
                    .await
                })
            })
            .collect();
        finish(
            implementation,
            wl,
            MT,
            note,
            window,
            join_all(handles).await,
        )
    })
}

// ---- inline mode: spawn_local on a current-thread runtime ----

async fn inline_orm(ae: &AsyncEngine, wl: Wl) -> usize {
    let mut s = AsyncSession::new(ae);
    s.run_sync(|s| orm_op(s, wl)).await
}

async fn inline_core(ae: &AsyncEngine, schema: &Schema) -> usize {
    let mut conn = ae.connect().await.expect("connect");
    let n = conn
        .run_sync(|c| black_box(calcine_trivial(c, schema)).len())
        .await;
    conn.close().await;
    n
}

fn run_inline(
    settings: &Settings,
    url: &str,
    implementation: &str,
    wl: Wl,
    core: bool,
    note: &str,
) -> Stats {
    let rt = calcine_benches::current_thread();
    let local = tokio::task::LocalSet::new();
    let ae = engine(url);
    let schema = std::rc::Rc::new(schema());
    local.block_on(&rt, async {
        let n = if core {
            inline_core(&ae, &schema).await
        } else {
            inline_orm(&ae, wl).await
        };
        let want = wl.want(ASSOC_USERS_PG);
        assert_eq!(n, want);
        let window = settings.window();
        let handles: Vec<_> = (0..settings.tasks)
            .map(|_| {
                let ae = ae.clone();
                let schema = std::rc::Rc::clone(&schema);
                tokio::task::spawn_local(async move {
                    op_loop(window, want, || async {
                        if core {
                            inline_core(&ae, &schema).await
                        } else {
                            inline_orm(&ae, wl).await
                        }
                    })
                    .await
                })
            })
            .collect();
        finish(
            implementation,
            wl,
            CT,
            note,
            window,
            join_all(handles).await,
        )
    })
}

fn finish(
    implementation: &str,
    wl: Wl,
    runtime: &str,
    note: &str,
    window: Window,
    recs: Vec<Recorder>,
) -> Stats {
    summarize(implementation, wl.name(), runtime, note, window, recs)
}

fn main() {
    let settings = Settings::from_env();
    let url = match std::env::var("CALCINE_BENCH_POSTGRES_URL") {
        Ok(url) if !url.is_empty() && url != "none" => url,
        _ => {
            println!("concurrency: CALCINE_BENCH_POSTGRES_URL not set; nothing to measure");
            return;
        }
    };
    println!(
        "concurrency (calcine): {} tasks, pool {POOL_SIZE}, warm-up {:?}, measure {:?}",
        settings.tasks, settings.warm_up, settings.measure
    );
    let pg = RawPg::connect(&url);
    pg.batch(PG_DDL);
    let mut out = Output::default();
    let pool_note = "pool_size 4, max_overflow 0, no pre-ping; close() inside run_sync";
    for wl in [Wl::Trivial, Wl::Assoc] {
        match wl {
            Wl::Trivial => pg.batch(&seed_sql(true, 1, 0, 0)),
            Wl::Assoc => {
                pg.batch(&seed_sql(
                    true,
                    ASSOC_USERS_PG,
                    POSTS_PER_USER,
                    COMMENTS_PER_POST,
                ));
                // The full shape once (the timed loop checks the top-level count).
                let engine = calcine::create_engine(&url).expect("engine");
                check_graph(
                    &orm_assoc(&mut Session::new(&engine)).expect("assoc"),
                    ASSOC_USERS_PG,
                );
            }
        }
        let core = wl == Wl::Trivial;
        if settings.wants("calcine_send_orm", wl.name()) {
            out.push(run_mt(
                &settings,
                &url,
                "calcine_send_orm",
                wl,
                false,
                pool_note,
            ));
        }
        if settings.wants("calcine_inline_orm", wl.name()) {
            out.push(run_inline(
                &settings,
                &url,
                "calcine_inline_orm",
                wl,
                false,
                pool_note,
            ));
        }
        if core && settings.wants("calcine_send_core", wl.name()) {
            out.push(run_mt(
                &settings,
                &url,
                "calcine_send_core",
                wl,
                true,
                pool_note,
            ));
        }
        if core && settings.wants("calcine_inline_core", wl.name()) {
            out.push(run_inline(
                &settings,
                &url,
                "calcine_inline_core",
                wl,
                true,
                pool_note,
            ));
        }
    }
    pg.batch(&seed_sql(true, 0, 0, 0));
    out.write(settings.json.as_deref());
}
