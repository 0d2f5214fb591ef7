//! diesel's benchmark workloads 1-4 (`shared/benchmarks.md` §1), calcine's side of the peer
//! comparison: calcine Core, calcine ORM (`Session`), the ORM through `AsyncSession::run_sync`
//! on a current-thread and on a multi-thread tokio runtime, and the raw drivers calcine wraps
//! (rusqlite, tokio-postgres). The peers (diesel, diesel-async, sqlx, sea-orm) are
//! `benches/peers/` (own workspace: their SQLite library cannot be linked next to rusqlite
//! 0.43); `run-peers.sh` runs both into one criterion directory, `tools/peers_report.py`
//! writes the `## Peers` section of RESULTS.md.
//!
//! Groups `peers_<backend>_<workload>/<impl>/<n>` (same names as the peer binary). Every
//! iteration is one self-contained unit of work as an application writes it:
//! * `calcine_core`: `engine.connect()` (pool checkout), the Core statement (`select(...)` /
//!   `insert(...).values_many(...)`, built each time), rows read with `.tuples::<User>()` (every
//!   value moved out of the fetched chunk with `RowRef::take`)
//!   into the same plain structs as diesel, then commit (insert) or drop (the connection
//!   returns to the pool; its autobegun transaction rolls back);
//! * `calcine_orm`: a fresh `Session`; `scalars(select::<User>())` (trivial);
//!   `select::<User>().where_(hair_color = 'black').options(joinedload(User::POSTS))` flattened
//!   into `Vec<(Obj<User>, Option<Obj<Post>>)>` (medium: the ORM has no two-entity `select`, the
//!   joined eager load sends the same single `LEFT OUTER JOIN`); `add_all` + `commit` (insert);
//!   `selectinload(User::POSTS).selectinload(Post::COMMENTS)` walked into
//!   `Vec<(Obj<User>, Vec<(Obj<Post>, Vec<Obj<Comment>>)>)>` (assoc);
//! * `calcine_run_sync_ct` / `calcine_run_sync_mt`: the same ORM body inside
//!   `AsyncSession::run_sync`, the future driven by `block_on` of a current-thread / a
//!   multi-thread runtime (inline mode on the `block_on` thread; not a spawned task);
//! * `rusqlite` / `tokio_postgres` (workloads 1-3): cached prepared statement, typed `get`,
//!   autocommit, like the peers.
//!
//! The peers run in autocommit mode (one statement, no `BEGIN`); calcine, like SQLAlchemy,
//! autobegins, so each calcine iteration is `BEGIN`, the statement(s), `ROLLBACK`/`COMMIT`
//! (that cost is part of the ratio). `calcine_core_ac` / `calcine_orm_ac` run the same code on
//! `engine.with_autocommit(true)` (workloads 1, 2 and 4): the peers' transaction mode, shown
//! beside the default.

use std::hint::black_box;
use std::time::Duration;

use calcine::asyncio::{AsyncEngine, AsyncSession};
use calcine::orm::Session;
use calcine::{Engine, create_engine};
use calcine_benches::core_workloads::{
    MEDIUM_PG, MEDIUM_SQLITE, Post, Schema, TRIVIAL_SQLITE, User, calcine_insert, calcine_medium,
    calcine_trivial, floor, multi_insert_sql, pg_user, rusqlite_user, schema,
};
use calcine_benches::diesel_models::{
    Rows, check_graph, orm_assoc, orm_insert, orm_medium, orm_trivial,
};
use calcine_benches::diesel_schema::{
    ASSOC_USERS_PG, ASSOC_USERS_SQLITE, COMMENTS_PER_POST, INSERT_SIZES, PG_DDL, POSTS_PER_USER,
    QUERY_SIZES, SQLITE_DDL, insert_rows, seed_sql, statements,
};
use criterion::{BenchmarkGroup, BenchmarkId, Criterion, SamplingMode, measurement::WallTime};

// ---- calcine Core: one pooled connection per iteration ----

fn core_trivial(engine: &Engine, s: &Schema) -> Vec<User> {
    let mut conn = engine.connect().unwrap();
    calcine_trivial(&mut conn, s)
}

fn core_medium(engine: &Engine, s: &Schema) -> Vec<(User, Option<Post>)> {
    let mut conn = engine.connect().unwrap();
    calcine_medium(&mut conn, s)
}

fn core_insert(engine: &Engine, s: &Schema, rows: &Rows) {
    let mut conn = engine.connect().unwrap();
    calcine_insert(&mut conn, s, rows);
    conn.commit().unwrap();
}

#[derive(Clone, Copy, PartialEq)]
enum Wl {
    Trivial,
    Medium,
    Assoc,
}

/// One ORM iteration (fresh `Session`); returns the number of top-level results.
fn orm_sync(engine: &Engine, wl: Wl) -> usize {
    let mut s = Session::new(engine);
    match wl {
        Wl::Trivial => black_box(orm_trivial(&mut s).unwrap()).len(),
        Wl::Medium => black_box(orm_medium(&mut s).unwrap()).len(),
        Wl::Assoc => black_box(orm_assoc(&mut s).unwrap()).len(),
    }
}

/// The same through `AsyncSession::run_sync`, driven by `rt.block_on`.
fn orm_run_sync(rt: &tokio::runtime::Runtime, ae: &AsyncEngine, wl: Wl) -> usize {
    rt.block_on(async {
        let mut s = AsyncSession::new(ae);
        match wl {
            Wl::Trivial => black_box(s.run_sync(orm_trivial).await.unwrap()).len(),
            Wl::Medium => black_box(s.run_sync(orm_medium).await.unwrap()).len(),
            Wl::Assoc => black_box(s.run_sync(orm_assoc).await.unwrap()).len(),
        }
    })
}

fn orm_insert_sync(engine: &Engine, rows: &Rows) {
    let mut s = Session::new(engine);
    orm_insert(&mut s, rows).unwrap();
}

fn orm_insert_run_sync(rt: &tokio::runtime::Runtime, ae: &AsyncEngine, rows: &Rows) {
    rt.block_on(async {
        let mut s = AsyncSession::new(ae);
        s.run_sync(|s| orm_insert(s, rows)).await.unwrap();
    });
}

// ---- the benchmarks ----

fn group<'a>(c: &'a mut Criterion, name: &str, samples: usize) -> BenchmarkGroup<'a, WallTime> {
    let mut g = c.benchmark_group(name);
    g.sample_size(samples).sampling_mode(SamplingMode::Flat);
    g
}

/// Every calcine variant of workloads 1, 2 and 4 at size `n` (already seeded).
#[allow(clippy::too_many_arguments)]
fn bench_calcine_queries(
    g: &mut BenchmarkGroup<'_, WallTime>,
    engine: &Engine,
    ae: &AsyncEngine,
    s: &Schema,
    ct: &tokio::runtime::Runtime,
    mt: &tokio::runtime::Runtime,
    wl: Wl,
    n: usize,
    want: usize,
) {
    match wl {
        Wl::Trivial => assert_eq!(core_trivial(engine, s).len(), want),
        Wl::Medium => assert_eq!(core_medium(engine, s).len(), want),
        Wl::Assoc => {
            check_graph(&orm_assoc(&mut Session::new(engine)).unwrap(), n);
        }
    }
    assert_eq!(orm_sync(engine, wl), want);
    assert_eq!(orm_run_sync(ct, ae, wl), want);
    assert_eq!(orm_run_sync(mt, ae, wl), want);
    match wl {
        Wl::Trivial => {
            g.bench_function(BenchmarkId::new("calcine_core", n), |b| {
                b.iter(|| black_box(core_trivial(engine, s)));
            });
        }
        Wl::Medium => {
            g.bench_function(BenchmarkId::new("calcine_core", n), |b| {
                b.iter(|| black_box(core_medium(engine, s)));
            });
        }
        // The Core has no relationship loading: workload 4 is an ORM workload.
        Wl::Assoc => {}
    }
    g.bench_function(BenchmarkId::new("calcine_orm", n), |b| {
        b.iter(|| orm_sync(engine, wl));
    });
    g.bench_function(BenchmarkId::new("calcine_run_sync_ct", n), |b| {
        b.iter(|| orm_run_sync(ct, ae, wl));
    });
    g.bench_function(BenchmarkId::new("calcine_run_sync_mt", n), |b| {
        b.iter(|| orm_run_sync(mt, ae, wl));
    });
    // The same Core and ORM code on the engine's autocommit twin (same pool): no BEGIN /
    // ROLLBACK around the reads, as the peers read (reported beside the default, no verdict).
    let ac = engine.with_autocommit(true);
    assert_eq!(orm_sync(&ac, wl), want);
    match wl {
        Wl::Trivial => {
            g.bench_function(BenchmarkId::new("calcine_core_ac", n), |b| {
                b.iter(|| black_box(core_trivial(&ac, s)));
            });
        }
        Wl::Medium => {
            g.bench_function(BenchmarkId::new("calcine_core_ac", n), |b| {
                b.iter(|| black_box(core_medium(&ac, s)));
            });
        }
        Wl::Assoc => {}
    }
    g.bench_function(BenchmarkId::new("calcine_orm_ac", n), |b| {
        b.iter(|| orm_sync(&ac, wl));
    });
}

fn bench_calcine_insert(
    g: &mut BenchmarkGroup<'_, WallTime>,
    engine: &Engine,
    ae: &AsyncEngine,
    s: &Schema,
    ct: &tokio::runtime::Runtime,
    mt: &tokio::runtime::Runtime,
    rows: &Rows,
) {
    let n = rows.len();
    g.bench_function(BenchmarkId::new("calcine_core", n), |b| {
        b.iter(|| core_insert(engine, s, rows));
    });
    g.bench_function(BenchmarkId::new("calcine_orm", n), |b| {
        b.iter(|| orm_insert_sync(engine, rows));
    });
    g.bench_function(BenchmarkId::new("calcine_run_sync_ct", n), |b| {
        b.iter(|| orm_insert_run_sync(ct, ae, rows));
    });
    g.bench_function(BenchmarkId::new("calcine_run_sync_mt", n), |b| {
        b.iter(|| orm_insert_run_sync(mt, ae, rows));
    });
}

fn exec_batch(engine: &Engine, sql: &str) {
    let mut conn = engine.connect().unwrap();
    for st in statements(sql) {
        conn.exec_driver_sql(st, &[]).unwrap();
    }
    conn.commit().unwrap();
}

fn bench_sqlite(c: &mut Criterion) {
    let s = schema();
    let engine = create_engine("sqlite://").unwrap();
    let ae = AsyncEngine::from_engine(engine.clone()).unwrap();
    let (ct, mt) = (
        calcine_benches::current_thread(),
        calcine_benches::multi_thread(),
    );
    let raw = calcine_benches::raw_sqlite(None);
    exec_batch(&engine, SQLITE_DDL);
    raw.execute_batch(SQLITE_DDL).unwrap();

    for (wl, name) in [(Wl::Trivial, "trivial"), (Wl::Medium, "medium")] {
        let mut g = group(c, &format!("peers_sqlite_{name}"), 30);
        for n in QUERY_SIZES {
            let sql = seed_sql(false, n, 0, 0);
            exec_batch(&engine, &sql);
            raw.execute_batch(&sql).unwrap();
            let want = if wl == Wl::Medium { n / 2 } else { n };
            bench_calcine_queries(&mut g, &engine, &ae, &s, &ct, &mt, wl, n, want);
            g.bench_function(BenchmarkId::new("rusqlite", n), |b| {
                if wl == Wl::Medium {
                    b.iter(|| {
                        let mut st = raw.prepare_cached(MEDIUM_SQLITE).unwrap();
                        let out: Vec<(User, Option<Post>)> = st
                            .query_map(["black"], |row| {
                                let user = rusqlite_user(row)?;
                                let post = match row.get::<_, Option<i32>>(3)? {
                                    Some(id) => Some(Post {
                                        id,
                                        user_id: row.get(4)?,
                                        title: row.get(5)?,
                                        body: row.get(6)?,
                                    }),
                                    None => None,
                                };
                                Ok((user, post))
                            })
                            .unwrap()
                            .collect::<rusqlite::Result<_>>()
                            .unwrap();
                        black_box(out)
                    });
                } else {
                    b.iter(|| {
                        let mut st = raw.prepare_cached(TRIVIAL_SQLITE).unwrap();
                        let out: Vec<User> = st
                            .query_map([], rusqlite_user)
                            .unwrap()
                            .collect::<rusqlite::Result<_>>()
                            .unwrap();
                        black_box(out)
                    });
                }
            });
            if wl == Wl::Trivial {
                g.bench_function(BenchmarkId::new("identity_floor", n), |b| {
                    b.iter(|| {
                        let mut st = raw.prepare_cached(TRIVIAL_SQLITE).unwrap();
                        // Collected first, so the map is sized once, as calcine's is per chunk.
                        let users: Vec<User> = st
                            .query_map([], rusqlite_user)
                            .unwrap()
                            .collect::<rusqlite::Result<_>>()
                            .unwrap();
                        black_box(floor::track(users.into_iter()))
                    });
                });
            }
        }
        g.finish();
    }

    let mut g = group(c, "peers_sqlite_insert", 30);
    for n in INSERT_SIZES {
        let rows = insert_rows(n);
        let sql = seed_sql(false, 0, 0, 0);
        exec_batch(&engine, &sql);
        raw.execute_batch(&sql).unwrap();
        bench_calcine_insert(&mut g, &engine, &ae, &s, &ct, &mt, &rows);
        let isql = multi_insert_sql(n, false);
        g.bench_function(BenchmarkId::new("rusqlite", n), |b| {
            b.iter(|| {
                let mut st = raw.prepare_cached(&isql).unwrap();
                let params: Vec<&dyn rusqlite::ToSql> = rows
                    .iter()
                    .flat_map(|(name, hair)| [name as &dyn rusqlite::ToSql, hair])
                    .collect();
                black_box(st.execute(params.as_slice()).unwrap())
            });
        });
    }
    g.finish();

    let mut g = group(c, "peers_sqlite_assoc", 30);
    let n = ASSOC_USERS_SQLITE;
    exec_batch(
        &engine,
        &seed_sql(false, n, POSTS_PER_USER, COMMENTS_PER_POST),
    );
    bench_calcine_queries(&mut g, &engine, &ae, &s, &ct, &mt, Wl::Assoc, n, n);
    g.finish();
}

use calcine_benches::RawPg as Pg;

fn bench_postgres(c: &mut Criterion, url: &str) {
    let s = schema();
    let pg = Pg::connect(url);
    pg.batch(PG_DDL);
    let engine = create_engine(url).unwrap();
    let ae = AsyncEngine::from_engine(engine.clone()).unwrap();
    let (ct, mt) = (
        calcine_benches::current_thread(),
        calcine_benches::multi_thread(),
    );
    let trivial_pg = "SELECT users.id, users.name, users.hair_color FROM users";

    for (wl, name) in [(Wl::Trivial, "trivial"), (Wl::Medium, "medium")] {
        let mut g = group(c, &format!("peers_postgres_{name}"), 20);
        for n in QUERY_SIZES {
            pg.batch(&seed_sql(true, n, 0, 0));
            let want = if wl == Wl::Medium { n / 2 } else { n };
            bench_calcine_queries(&mut g, &engine, &ae, &s, &ct, &mt, wl, n, want);
            let medium = wl == Wl::Medium;
            let st = pg
                .rt
                .block_on(
                    pg.client
                        .prepare(if medium { MEDIUM_PG } else { trivial_pg }),
                )
                .unwrap();
            g.bench_function(BenchmarkId::new("tokio_postgres", n), |b| {
                if medium {
                    b.iter(|| {
                        pg.rt.block_on(async {
                            let rows = pg.client.query(&st, &[&"black"]).await.unwrap();
                            let out: Vec<(User, Option<Post>)> = rows
                                .iter()
                                .map(|row| {
                                    let user = pg_user(row);
                                    let post = row.get::<_, Option<i32>>(3).map(|id| Post {
                                        id,
                                        user_id: row.get(4),
                                        title: row.get(5),
                                        body: row.get(6),
                                    });
                                    (user, post)
                                })
                                .collect();
                            black_box(out)
                        })
                    });
                } else {
                    b.iter(|| {
                        pg.rt.block_on(async {
                            let rows = pg.client.query(&st, &[]).await.unwrap();
                            let out: Vec<User> = rows.iter().map(pg_user).collect();
                            black_box(out)
                        })
                    });
                }
            });
            if !medium {
                g.bench_function(BenchmarkId::new("identity_floor", n), |b| {
                    b.iter(|| {
                        pg.rt.block_on(async {
                            let rows = pg.client.query(&st, &[]).await.unwrap();
                            black_box(floor::track(rows.iter().map(pg_user)))
                        })
                    });
                });
            }
        }
        g.finish();
    }

    let mut g = group(c, "peers_postgres_insert", 20);
    for n in INSERT_SIZES {
        let rows = insert_rows(n);
        pg.batch(&seed_sql(true, 0, 0, 0));
        bench_calcine_insert(&mut g, &engine, &ae, &s, &ct, &mt, &rows);
        let st = pg
            .rt
            .block_on(pg.client.prepare(&multi_insert_sql(n, true)))
            .unwrap();
        g.bench_function(BenchmarkId::new("tokio_postgres", n), |b| {
            b.iter(|| {
                pg.rt.block_on(async {
                    let params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = rows
                        .iter()
                        .flat_map(|(name, hair)| {
                            [
                                name as &(dyn tokio_postgres::types::ToSql + Sync),
                                hair as &(dyn tokio_postgres::types::ToSql + Sync),
                            ]
                        })
                        .collect();
                    black_box(pg.client.execute(&st, &params).await.unwrap())
                })
            });
        });
    }
    g.finish();

    let mut g = group(c, "peers_postgres_assoc", 20);
    let n = ASSOC_USERS_PG;
    pg.batch(&seed_sql(true, n, POSTS_PER_USER, COMMENTS_PER_POST));
    bench_calcine_queries(&mut g, &engine, &ae, &s, &ct, &mt, Wl::Assoc, n, n);
    g.finish();
    pg.batch(&seed_sql(true, 0, 0, 0));
}

fn main() {
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_millis(1500))
        .configure_from_args();
    let v: String = rusqlite::Connection::open_in_memory()
        .unwrap()
        .query_row("SELECT sqlite_version()", [], |r| r.get(0))
        .unwrap();
    println!("peers-sqlite-version: calcine {v}");
    bench_sqlite(&mut c);
    match std::env::var("CALCINE_BENCH_POSTGRES_URL") {
        Ok(url) if !url.is_empty() && url != "none" => bench_postgres(&mut c, &url),
        _ => println!("peers: CALCINE_BENCH_POSTGRES_URL not set; PostgreSQL skipped"),
    }
    c.final_summary();
}
