//! Instruction counts of diesel (sync) on diesel's workloads, the peers' side of
//! `benches/src/bin/icount.rs` (same seeds, same `measured` toggle, so
//! `benches/tools/icount.sh --peers` counts them the same way):
//!
//! `icount <workload> <n> <iters>`: workload = diesel_trivial | diesel_medium | diesel_insert |
//! diesel_assoc | raw_trivial (rusqlite on this process's SQLite build: the cross-process
//! anchor). With `ICOUNT_PG=postgres://...` diesel runs on that PostgreSQL (client
//! instructions only). `--features mimalloc` makes mimalloc the process's allocator.

use std::hint::black_box;

use calcine_bench_peers::schema::{
    ASSOC_USERS_PG, ASSOC_USERS_SQLITE, COMMENTS_PER_POST, PG_DDL, POSTS_PER_USER, SQLITE_DDL,
    insert_rows, seed_sql,
};
use calcine_bench_peers::workloads::{diesel_pg, diesel_sqlite};
use diesel::connection::SimpleConnection;
use diesel::prelude::Connection as _;

/// `--features mimalloc`: every allocation of the process through mimalloc instead of glibc.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[inline(never)]
fn measured(iters: usize, mut f: impl FnMut()) {
    for _ in 0..iters {
        f();
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (wl, n, iters) = match args.as_slice() {
        [_, wl, n, iters] => (
            wl.clone(),
            n.parse::<usize>().expect("n"),
            iters.parse::<usize>().expect("iters"),
        ),
        _ => panic!("usage: icount <workload> <n> <iters>"),
    };
    let pg = std::env::var("ICOUNT_PG").ok();
    let users = match (wl.as_str(), pg.is_some()) {
        ("diesel_assoc", false) => ASSOC_USERS_SQLITE,
        ("diesel_assoc", true) => ASSOC_USERS_PG,
        (w, _) if w.ends_with("insert") => 0,
        _ => n,
    };
    let (posts, comments) = if wl == "diesel_assoc" {
        (POSTS_PER_USER, COMMENTS_PER_POST)
    } else {
        (0, 0)
    };
    let rows = insert_rows(n);
    let mut run: Box<dyn FnMut()> = match pg.as_deref() {
        Some(url) => {
            let mut c = diesel::PgConnection::establish(url).expect("connect");
            c.batch_execute(PG_DDL).expect("ddl");
            c.batch_execute(&seed_sql(true, users, posts, comments))
                .expect("seed");
            match wl.as_str() {
                "diesel_trivial" => Box::new(move || drop(black_box(diesel_pg::trivial(&mut c)))),
                "diesel_medium" => Box::new(move || drop(black_box(diesel_pg::medium(&mut c)))),
                "diesel_insert" => Box::new(move || {
                    black_box(diesel_pg::insert(&mut c, &rows));
                }),
                "diesel_assoc" => Box::new(move || drop(black_box(diesel_pg::assoc(&mut c)))),
                other => panic!("unknown PostgreSQL workload {other}"),
            }
        }
        None => {
            let mut c = diesel::SqliteConnection::establish(":memory:").expect("connect");
            let seed = seed_sql(false, users, posts, comments);
            c.batch_execute(SQLITE_DDL).expect("ddl");
            c.batch_execute(&seed).expect("seed");
            let raw = calcine_bench_peers::raw_sqlite(None);
            raw.execute_batch(SQLITE_DDL).expect("ddl");
            raw.execute_batch(&seed).expect("seed");
            match wl.as_str() {
                "diesel_trivial" => {
                    Box::new(move || drop(black_box(diesel_sqlite::trivial(&mut c))))
                }
                "diesel_medium" => Box::new(move || drop(black_box(diesel_sqlite::medium(&mut c)))),
                "diesel_insert" => Box::new(move || {
                    black_box(diesel_sqlite::insert(&mut c, &rows));
                }),
                "diesel_assoc" => Box::new(move || drop(black_box(diesel_sqlite::assoc(&mut c)))),
                // The same rusqlite code as calcine's `icount raw_trivial`, on this SQLite build.
                "raw_trivial" => Box::new(move || {
                    let mut st = raw
                        .prepare_cached("SELECT users.id, users.name, users.hair_color FROM users")
                        .expect("prepare");
                    let out: Vec<(i32, String, Option<String>)> = st
                        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                        .expect("query")
                        .collect::<rusqlite::Result<_>>()
                        .expect("rows");
                    black_box(out);
                }),
                other => panic!("unknown SQLite workload {other}"),
            }
        }
    };
    // One untimed run first, as in criterion's warm-up.
    run();
    measured(iters, &mut run);
}
