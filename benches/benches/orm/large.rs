//! Large result sets (`shared/benchmarks.md` §2, SQLAlchemy's
//! `examples/performance/large_resultsets.py`): 500,000 rows of `Customer(id, name,
//! description)` (seeded untimed) read back whole, as ORM objects and as tuples, all at once and
//! streamed in chunks of 1,000.
//!
//! Workloads (`large500k.<shape>/<backend>/<variant>`), median of `ORM_LARGE_REPS` (default 3)
//! repetitions:
//! * `large500k.orm`: `Session::scalars(&select::<Customer>())` → `Vec<Obj<Customer>>`, fresh
//!   session each repetition (`calcine_sync`), and the same inside one `AsyncSession::run_sync`
//!   (`calcine_run_sync`). SQLAlchemy: `session.scalars(select(Customer)).all()`.
//! * `large500k.orm_yield_per`: the same objects streamed 1,000 at a time, each chunk dropped
//!   before the next: `Session::for_each_partition(&select::<Customer>(), 1000, ..)`
//!   (`calcine_sync`), and `AsyncSession::stream_scalars(..).yield_per(1000)` read with
//!   `next_partition(1000)` (`calcine_async`). SQLAlchemy: `execution_options(yield_per=1000)`
//!   + `partitions()`.
//! * `large500k.core`: Core `conn.execute(&select((c.id, c.name, c.description)))`, every value
//!   moved out with `row.take(i)` into `Vec<(i64, String, String)>` (`calcine_sync`, connection
//!   checked out of the pool inside the timing). SQLAlchemy: `conn.execute(stmt).all()`.
//! * `large500k.core_yield_per`: the same with `.yield_per(1000)`, tuples gathered into chunks
//!   of 1,000, each dropped before the next.
//! * raw floors, the same tuples from the driver's typed `get`: `large500k.raw` (all into one
//!   `Vec`) for the all-at-once shapes, `large500k.raw_stream` (chunks of 1,000, each dropped)
//!   for the streamed ones. rusqlite: one prepared, cached `SELECT` stepped row by row;
//!   tokio-postgres: `query_raw` of a prepared statement, its `RowStream` read row by row
//!   (rows are decoded as they arrive, never all held as `Row`s).

use std::hint::black_box;
use std::time::{Duration, Instant};

use calcine::Engine;
use calcine::asyncio::{AsyncEngine, AsyncSession};
use calcine::orm::{Model, select};
use futures_util::StreamExt;

use super::{
    Customer, Harness, OrmSeed, Pg, SELECT_ALL, calcine_load_run_sync, calcine_load_sync,
    env_usize, pg_engine, rusqlite_seed, sqlite_create, sqlite_engine,
};

pub const LARGE_N: usize = 500_000;
/// SQLAlchemy's `yield_per(1000)`.
const STREAM_CHUNK: usize = 1_000;

type Tuple = (i64, String, String);

/// Every `<shape>/<backend>/<variant>` id of this module, `{}` for the backend.
const IDS: [&str; 8] = [
    "large500k.orm/{}/calcine_sync",
    "large500k.orm/{}/calcine_run_sync",
    "large500k.orm_yield_per/{}/calcine_sync",
    "large500k.orm_yield_per/{}/calcine_async",
    "large500k.core/{}/calcine_sync",
    "large500k.core_yield_per/{}/calcine_sync",
    "large500k.raw/{}/raw",
    "large500k.raw_stream/{}/raw",
];

/// Whether any large-result workload on `backend` passes the filter (seeding 500,000 rows is
/// skipped otherwise).
fn wanted(h: &Harness, backend: &str) -> bool {
    IDS.iter().any(|id| h.selected(&id.replace("{}", backend)))
}

/// Gathers items into chunks of `STREAM_CHUNK`, handing each full chunk to `black_box` and
/// dropping it; returns how many items went through.
struct Chunker<T> {
    part: Vec<T>,
    seen: usize,
}

impl<T> Chunker<T> {
    fn new() -> Self {
        Chunker {
            part: Vec::with_capacity(STREAM_CHUNK),
            seen: 0,
        }
    }

    fn push(&mut self, item: T) {
        self.part.push(item);
        if self.part.len() == STREAM_CHUNK {
            self.flush();
        }
    }

    fn flush(&mut self) {
        self.seen += self.part.len();
        let part = std::mem::replace(&mut self.part, Vec::with_capacity(STREAM_CHUNK));
        black_box(&part);
        drop(part);
    }

    fn finish(mut self) -> usize {
        self.flush();
        self.seen
    }
}

// ---- calcine, shared by both backends ----

fn orm_stream_sync(engine: &Engine) -> Duration {
    let t = Instant::now();
    let mut s = calcine::orm::Session::new(engine);
    let mut seen = 0;
    s.for_each_partition(&select::<Customer>(), STREAM_CHUNK, |part| {
        seen += part.len();
        black_box(&part);
        drop(part);
        Ok(())
    })
    .unwrap();
    assert_eq!(seen, LARGE_N);
    s.close();
    drop(s);
    t.elapsed()
}

fn orm_stream_async(rt: &tokio::runtime::Runtime, ae: &AsyncEngine) -> Duration {
    rt.block_on(async {
        let t = Instant::now();
        let mut s = AsyncSession::new(ae);
        let stmt = select::<Customer>();
        let mut stream = s
            .stream_scalars::<Customer>(&stmt)
            .await
            .unwrap()
            .yield_per(STREAM_CHUNK);
        let mut seen = 0;
        loop {
            let part = stream.next_partition(STREAM_CHUNK).await.unwrap();
            if part.is_empty() {
                break;
            }
            seen += part.len();
            black_box(&part);
            drop(part);
        }
        drop(stream);
        assert_eq!(seen, LARGE_N);
        s.close().await;
        drop(s);
        t.elapsed()
    })
}

fn core_stmt() -> calcine::sql::Select {
    let c = Customer::mapper().table();
    calcine::select((
        c.c("id").unwrap(),
        c.c("name").unwrap(),
        c.c("description").unwrap(),
    ))
}

fn take_tuple(row: calcine::Result<calcine::Row>) -> Tuple {
    let mut row = row.unwrap();
    (
        row.take(0).unwrap(),
        row.take(1).unwrap(),
        row.take(2).unwrap(),
    )
}

fn core_all(engine: &Engine) -> Duration {
    let t = Instant::now();
    let mut conn = engine.connect().unwrap();
    let out: Vec<Tuple> = conn.execute(core_stmt()).unwrap().map(take_tuple).collect();
    assert_eq!(out.len(), LARGE_N);
    black_box(&out);
    drop(out);
    drop(conn);
    t.elapsed()
}

fn core_yield_per(engine: &Engine) -> Duration {
    let t = Instant::now();
    let mut conn = engine.connect().unwrap();
    let mut chunks = Chunker::new();
    for row in conn.execute(core_stmt()).unwrap().yield_per(STREAM_CHUNK) {
        chunks.push(take_tuple(row));
    }
    assert_eq!(chunks.finish(), LARGE_N);
    drop(conn);
    t.elapsed()
}

fn bench_calcine(
    h: &mut Harness,
    backend: &str,
    engine: &Engine,
    ae: &AsyncEngine,
    rt: &tokio::runtime::Runtime,
    reps: usize,
) {
    h.run(
        &format!("large500k.orm/{backend}/calcine_sync"),
        LARGE_N,
        reps,
        || calcine_load_sync(engine, LARGE_N),
    );
    h.run(
        &format!("large500k.orm/{backend}/calcine_run_sync"),
        LARGE_N,
        reps,
        || calcine_load_run_sync(rt, ae, LARGE_N),
    );
    h.run(
        &format!("large500k.orm_yield_per/{backend}/calcine_sync"),
        LARGE_N,
        reps,
        || orm_stream_sync(engine),
    );
    h.run(
        &format!("large500k.orm_yield_per/{backend}/calcine_async"),
        LARGE_N,
        reps,
        || orm_stream_async(rt, ae),
    );
    h.run(
        &format!("large500k.core/{backend}/calcine_sync"),
        LARGE_N,
        reps,
        || core_all(engine),
    );
    h.run(
        &format!("large500k.core_yield_per/{backend}/calcine_sync"),
        LARGE_N,
        reps,
        || core_yield_per(engine),
    );
}

// ---- SQLite ----

fn rusqlite_tuple(row: &rusqlite::Row<'_>) -> rusqlite::Result<Tuple> {
    Ok((row.get(0)?, row.get(1)?, row.get(2)?))
}

/// On a database file of its own in a temp dir.
pub fn bench_sqlite(h: &mut Harness) {
    if !wanted(h, "sqlite") {
        return;
    }
    let reps = env_usize("ORM_LARGE_REPS", 3);
    let dir = tempfile::tempdir().unwrap();
    let path = &dir.path().join("large.db");
    sqlite_create(path);
    rusqlite_seed(path, LARGE_N);
    let (engine, ae) = sqlite_engine(path);
    let rt = calcine_benches::current_thread();
    bench_calcine(h, "sqlite", &engine, &ae, &rt, reps);

    let raw = calcine_benches::raw_sqlite(Some(path));
    h.run("large500k.raw/sqlite/raw", LARGE_N, reps, || {
        let t = Instant::now();
        let mut st = raw.prepare_cached(SELECT_ALL).unwrap();
        let out: Vec<Tuple> = st
            .query_map([], rusqlite_tuple)
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert_eq!(out.len(), LARGE_N);
        black_box(&out);
        drop(out);
        t.elapsed()
    });
    h.run("large500k.raw_stream/sqlite/raw", LARGE_N, reps, || {
        let t = Instant::now();
        let mut st = raw.prepare_cached(SELECT_ALL).unwrap();
        let mut chunks = Chunker::new();
        for tuple in st.query_map([], rusqlite_tuple).unwrap() {
            chunks.push(tuple.unwrap());
        }
        assert_eq!(chunks.finish(), LARGE_N);
        t.elapsed()
    });
}

// ---- PostgreSQL ----

fn pg_tuple(row: &tokio_postgres::Row) -> Tuple {
    (row.get(0), row.get(1), row.get(2))
}

pub fn bench_postgres(h: &mut Harness, url: &str) {
    if !wanted(h, "postgres") {
        return;
    }
    let reps = env_usize("ORM_LARGE_REPS", 3);
    let pg = Pg::connect(url);
    let (engine, ae) = pg_engine(&pg, url);
    let rt = calcine_benches::current_thread();
    pg.seed(LARGE_N);
    bench_calcine(h, "postgres", &engine, &ae, &rt, reps);

    let st = pg.rt.block_on(pg.client.prepare(SELECT_ALL)).unwrap();
    let no_params: [&str; 0] = [];
    h.run("large500k.raw/postgres/raw", LARGE_N, reps, || {
        pg.rt.block_on(async {
            let t = Instant::now();
            let rows = pg.client.query_raw(&st, no_params).await.unwrap();
            let mut rows = std::pin::pin!(rows);
            let mut out: Vec<Tuple> = Vec::new();
            while let Some(row) = rows.next().await {
                out.push(pg_tuple(&row.unwrap()));
            }
            assert_eq!(out.len(), LARGE_N);
            black_box(&out);
            drop(out);
            t.elapsed()
        })
    });
    h.run("large500k.raw_stream/postgres/raw", LARGE_N, reps, || {
        pg.rt.block_on(async {
            let t = Instant::now();
            let rows = pg.client.query_raw(&st, no_params).await.unwrap();
            let mut rows = std::pin::pin!(rows);
            let mut chunks = Chunker::new();
            while let Some(row) = rows.next().await {
                chunks.push(pg_tuple(&row.unwrap()));
            }
            assert_eq!(chunks.finish(), LARGE_N);
            t.elapsed()
        })
    });
    drop(engine);
    drop(ae);
    pg.batch("DROP TABLE IF EXISTS customer");
}
