//! Instruction counts of diesel (sync) on diesel's workloads, the peers' side of
//! `benches/src/bin/icount.rs` (same seeds, same `measured` toggle, so
//! `benches/tools/icount.sh --peers` counts them the same way):
//!
//! `icount <workload> <n> <iters>`: workload = diesel_trivial | diesel_medium | diesel_insert |
//! diesel_assoc | raw_trivial (rusqlite on this process's SQLite build: the cross-process
//! anchor). With `ICOUNT_PG=postgres://...` diesel runs on that PostgreSQL (client
//! instructions only). `--features mimalloc` makes mimalloc the process's allocator.

use std::hint::black_box;

use calcine_bench_peers::schema::{PG_DDL, SQLITE_DDL, insert_rows};
use calcine_bench_peers::workloads::{diesel_pg, diesel_sqlite};
use diesel::connection::SimpleConnection;
use diesel::prelude::Connection as _;

#[path = "../../../src/icount_common.rs"]
mod icount_common;
/// The seed's schema, as `icount_common` names it.
use calcine_bench_peers::schema;
use icount_common::measured;

fn main() {
    let args = icount_common::args("diesel_assoc");
    let seed = args.seed();
    let icount_common::Args {
        wl, n, iters, pg, ..
    } = args;
    let rows = insert_rows(n);
    let mut run: Box<dyn FnMut()> = match pg.as_deref() {
        Some(url) => {
            let mut c = diesel::PgConnection::establish(url).expect("connect");
            c.batch_execute(PG_DDL).expect("ddl");
            c.batch_execute(&seed).expect("seed");
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
                "raw_trivial" => {
                    Box::new(move || drop(black_box(icount_common::rusqlite_trivial(&raw))))
                }
                other => panic!("unknown SQLite workload {other}"),
            }
        }
    };
    // Freed before anything is measured, as in calcine's binary.
    drop(seed);
    // One untimed run first, as in criterion's warm-up.
    run();
    measured(iters, &mut run);
}
