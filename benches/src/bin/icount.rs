//! Instruction counts for A/B comparisons on a noisy machine: runs one SQLite workload of
//! diesel's benchmark `iters` times inside `measured`, so that
//! `valgrind --tool=callgrind --collect-atstart=no --toggle-collect=icount::icount_common::measured` counts
//! the workload alone (setup and seeding excluded). Instructions do not depend on what else the
//! machine runs; `tools/icount.sh` wraps the command and prints instructions per iteration.
//!
//! `icount <workload> <n> <iters>`: workload = core_trivial | core_rows (the same as `Row`s) |
//! orm_trivial | core_medium |
//! orm_medium | core_insert | orm_insert | orm_flush (`n` new objects, a flush per 1,000) |
//! orm_assoc | orm_get (fresh session, `get` by key) |
//! run_sync_trivial | raw_insert (SQLite) | raw_begin_cached / raw_begin_exec (a BEGIN +
//! ROLLBACK through rusqlite's statement cache / sqlite3_exec) | raw_trivial (rusqlite,
//! or tokio-postgres). With `ICOUNT_PG=postgres://...` the workload runs on that PostgreSQL
//! instead (the instructions are the client's alone: the server is another process).

use std::hint::black_box;

use calcine::asyncio::{AsyncEngine, AsyncSession};
use calcine::orm::{Model, Session};
use calcine_benches::core_workloads::{
    calcine_insert, calcine_medium, calcine_trivial, pg_user, schema,
};
use calcine_benches::diesel_models::{UserM, orm_assoc, orm_insert, orm_medium, orm_trivial};
use calcine_benches::diesel_schema::{PG_DDL, SQLITE_DDL, insert_rows, statements};

/// The `orm` bench's model (SQLAlchemy's performance suite: no primary key given).
#[derive(Model, Debug)]
#[calcine(table = "customer")]
struct Customer {
    #[calcine(primary_key)]
    id: Option<i64>,
    #[calcine(sql_type = "varchar(255)")]
    name: String,
    #[calcine(sql_type = "varchar(255)")]
    description: String,
}

#[path = "../icount_common.rs"]
mod icount_common;
/// The seed's schema, as `icount_common` names it.
use calcine_benches::diesel_schema as schema;
use icount_common::measured;

fn main() {
    let args = icount_common::args("orm_assoc");
    let seed = args.seed();
    let icount_common::Args {
        wl, n, iters, pg, ..
    } = args;
    // `ICOUNT_AUTOCOMMIT=1`: the engine's connections in autocommit mode (no BEGIN/ROLLBACK
    // around a session's reads, as diesel and raw drivers read).
    let engine = calcine::Engine::builder(pg.as_deref().unwrap_or("sqlite://"))
        .autocommit(std::env::var_os("ICOUNT_AUTOCOMMIT").is_some())
        .build()
        .expect("engine");
    let raw = calcine_benches::raw_sqlite(None);
    let raw_pg = pg.as_deref().map(calcine_benches::RawPg::connect);
    match &raw_pg {
        Some(p) => {
            p.batch(PG_DDL);
            p.batch(&seed);
        }
        None => {
            let mut conn = engine.connect().expect("connect");
            for st in statements(SQLITE_DDL).chain(statements(&seed)) {
                conn.exec_driver_sql(st, &[]).expect("seed");
            }
            conn.commit().expect("commit");
            drop(conn);
            raw.execute_batch(SQLITE_DDL).expect("ddl");
            raw.execute_batch(&seed).expect("seed");
        }
    }
    // Freed before anything is measured (glibc's heap is then in the same state as the peers'
    // binary leaves it: its instruction counts depend on that state).
    drop(seed);
    let ae = AsyncEngine::from_engine(engine.clone()).expect("async engine");
    let rt = calcine_benches::current_thread();
    let s = schema();
    let rows = insert_rows(n);
    // One untimed run first: caches (statements, metadata) warm, as in criterion's warm-up.
    let mut run: Box<dyn FnMut()> = match wl.as_str() {
        // Core as `benches/core.rs` runs it: one connection, its (autobegun) transaction held
        // across the iterations, as the raw side's.
        "core_trivial" => {
            let mut c = engine.connect().expect("connect");
            Box::new(move || {
                black_box(calcine_trivial(&mut c, &s));
            })
        }
        // The trivial query read as `Row`s (the untyped row API), values taken out of each.
        "core_rows" => {
            let mut c = engine.connect().expect("connect");
            Box::new(move || {
                let out: Vec<(i32, String, Option<String>)> = c
                    .execute(calcine::select(&s.users))
                    .expect("query")
                    .map(|r| {
                        let mut r = r.expect("row");
                        (
                            r.take(0).expect("id"),
                            r.take(1).expect("name"),
                            r.take(2).expect("hair"),
                        )
                    })
                    .collect();
                black_box(out);
            })
        }
        "core_medium" => {
            let mut c = engine.connect().expect("connect");
            Box::new(move || {
                black_box(calcine_medium(&mut c, &s));
            })
        }
        "core_insert" => {
            let mut c = engine.connect().expect("connect");
            Box::new(move || calcine_insert(&mut c, &s, &rows))
        }
        "orm_trivial" => Box::new(|| {
            black_box(orm_trivial(&mut Session::new(&engine)).expect("orm"));
        }),
        "orm_medium" => Box::new(|| {
            black_box(orm_medium(&mut Session::new(&engine)).expect("orm"));
        }),
        "orm_insert" => Box::new(|| {
            orm_insert(&mut Session::new(&engine), &rows).expect("orm");
        }),
        "orm_assoc" => Box::new(|| {
            black_box(orm_assoc(&mut Session::new(&engine)).expect("orm"));
        }),
        // The `orm` bench's flush: `n` new `Customer`s, a flush per 1,000, then commit.
        "orm_flush" => {
            calcine::orm::create_all(&engine, &[Customer::mapper()]).expect("create");
            Box::new(|| {
                let mut s = Session::new(&engine);
                for i in 0..n {
                    s.add(Customer {
                        id: None,
                        name: format!("customer name {i}"),
                        description: format!("customer description {i}"),
                    });
                    if (i + 1) % 1000 == 0 {
                        s.flush().expect("flush");
                    }
                }
                s.commit().expect("commit");
            })
        }
        "orm_get" => {
            let mut id = 0;
            Box::new(move || {
                id = id % n.max(1) + 1;
                let mut s = Session::new(&engine);
                black_box(s.get::<UserM>(id as i32).expect("get").expect("row"));
            })
        }
        "run_sync_trivial" => Box::new(|| {
            rt.block_on(async {
                let mut s = AsyncSession::new(&ae);
                black_box(s.run_sync(orm_trivial).await.expect("orm"));
            });
        }),
        // How much a unit of work's BEGIN + ROLLBACK costs through rusqlite's statement
        // cache, and through sqlite3_exec (prepared each time).
        "raw_begin_cached" => Box::new(|| {
            raw.prepare_cached("BEGIN")
                .expect("begin")
                .execute([])
                .expect("begin");
            raw.prepare_cached("ROLLBACK")
                .expect("rb")
                .execute([])
                .expect("rb");
        }),
        "raw_begin_exec" => Box::new(|| {
            raw.execute_batch("BEGIN").expect("begin");
            raw.execute_batch("ROLLBACK").expect("rb");
        }),
        "raw_insert" => {
            let sql = calcine_benches::core_workloads::multi_insert_sql(n, false);
            Box::new(move || {
                let mut st = raw.prepare_cached(&sql).expect("prepare");
                let params: Vec<&dyn rusqlite::ToSql> = rows
                    .iter()
                    .flat_map(|(name, hair)| [name as &dyn rusqlite::ToSql, hair])
                    .collect();
                black_box(st.execute(params.as_slice()).expect("insert"));
            })
        }
        "raw_trivial" => match &raw_pg {
            Some(p) => {
                let st =
                    p.rt.block_on(
                        p.client
                            .prepare("SELECT users.id, users.name, users.hair_color FROM users"),
                    )
                    .expect("prepare");
                Box::new(move || {
                    p.rt.block_on(async {
                        let rows = p.client.query(&st, &[]).await.expect("query");
                        let out: Vec<_> = rows.iter().map(pg_user).collect();
                        black_box(out);
                    })
                })
            }
            None => Box::new(|| drop(black_box(icount_common::rusqlite_trivial(&raw)))),
        },
        other => panic!("unknown workload {other}"),
    };
    run();
    measured(iters, &mut run);
}
