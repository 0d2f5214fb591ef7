//! SQLAlchemy's performance-suite shapes (`shared/benchmarks.md` §2) for the calcine ORM, side by
//! side with the raw drivers doing the same inserts/selects and building the same structs.
//!
//! Its own harness (not criterion): the 100,000-object flush is a long single shot, so every
//! figure is the median of a few repetitions of a whole workload, timed with `Instant`, setup
//! (fresh database file, truncation, seeding) untimed. Results go to stdout and, with
//! `--json PATH`, to a JSON file read by `tools/core_orm_report.py`.
//!
//! Workloads (`<workload>/<backend>/<variant>`), backend `sqlite` (a database file in a temp
//! dir) and `postgres` (when `CALCINE_BENCH_POSTGRES_URL` is set):
//! * `flush100k`: 100,000 new `Customer`s with no PK, `add` 1,000 + `flush` × 100, `commit`;
//!   raw rusqlite: one prepared `INSERT` per row + `last_insert_rowid` in one transaction; raw
//!   tokio-postgres: one prepared 1,000-row `INSERT ... RETURNING id` per chunk (what calcine's
//!   PostgreSQL flush sends) in one transaction. Every variant builds the 100,000 structs and
//!   stores the generated ids into them.
//! * `load10k`: 10,000 rows as ORM objects, `scalars::<Customer>(&select::<Customer>())` in a
//!   fresh session each repetition; raw: the same `SELECT` into `Vec<Customer>`.
//! * `get_cold`: 10,000 `get`s by PK in a fresh session (each one a `SELECT`); raw: a prepared
//!   `SELECT ... WHERE id = ?` per id into a struct.
//! * `get_hit`: 10,000 `get`s of objects already in the identity map (no SQL).
//! * `insert_commit`: 10,000 × (new session, `add`, `commit`); raw: `BEGIN`, `INSERT` (+ id),
//!   `COMMIT` per row.
//!
//! Variants: `calcine_sync` (plain `Session`), `calcine_run_sync` (the same code inside one
//! `AsyncSession::run_sync` on a current-thread runtime: the bridge's cost), `calcine_async`
//! (`AsyncSession::get(..).await` per get, current-thread runtime), `raw`.
//!
//! Relationship loading (`assoc.*`: diesel's workload 4; `p1k.*`: 1,000 parents × 100
//! children; lazy / selectin / joined): see `orm/relationships.rs`. Large result sets
//! (`large500k.*`: 500,000 rows as ORM objects and as Core tuples, all at once and streamed with
//! `yield_per(1000)`): see `orm/large.rs`.

#[path = "orm/large.rs"]
mod large;
#[path = "orm/relationships.rs"]
mod relationships;

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use calcine::asyncio::{AsyncEngine, AsyncSession};
use calcine::orm::{Model, Session, select};
use calcine::{Engine, create_engine};

/// SQLAlchemy's `examples/performance` `Customer`.
#[derive(Model, Debug, Clone)]
#[calcine(table = "customer")]
pub struct Customer {
    #[calcine(primary_key)]
    pub id: Option<i64>,
    #[calcine(sql_type = "varchar(255)")]
    pub name: String,
    #[calcine(sql_type = "varchar(255)")]
    pub description: String,
}

/// The same data as a plain struct, for the raw drivers.
#[derive(Debug, Clone)]
pub struct PlainCustomer {
    pub id: Option<i64>,
    pub name: String,
    pub description: String,
}

const FLUSH_N: usize = 100_000;
const CHUNK: usize = 1_000;
const LOAD_N: usize = 10_000;
const GET_N: usize = 10_000;
/// Seconds after which a workload is measured once only.
const LONG_RUN: f64 = 5.0;

fn customer(i: usize) -> Customer {
    Customer {
        id: None,
        name: format!("customer name {i}"),
        description: format!("customer description {i}"),
    }
}

fn plain(i: usize) -> PlainCustomer {
    PlainCustomer {
        id: None,
        name: format!("customer name {i}"),
        description: format!("customer description {i}"),
    }
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Record {
    id: String,
    ops: usize,
    times: Vec<f64>,
}

impl Record {
    fn median(&self) -> f64 {
        let mut t = self.times.clone();
        t.sort_by(f64::total_cmp);
        t[t.len() / 2]
    }
}

struct Harness {
    filter: Option<String>,
    records: Vec<Record>,
    /// Statements sent per workload (`<workload>.<strategy>/<backend>`), counted untimed.
    statements: Vec<(String, usize)>,
}

impl Harness {
    /// Whether `id` passes the command line's filter (a substring of the id).
    fn selected(&self, id: &str) -> bool {
        self.filter.as_deref().is_none_or(|flt| id.contains(flt))
    }

    /// Runs `f` (which returns the timed part of one repetition) `reps` times.
    fn run(&mut self, id: &str, ops: usize, reps: usize, mut f: impl FnMut() -> Duration) {
        if !self.selected(id) {
            return;
        }
        // A repetition longer than `LONG_RUN` is not repeated: its ratio is far outside any
        // noise, and repeating it would blow the run's time budget.
        let mut times: Vec<f64> = Vec::with_capacity(reps);
        for _ in 0..reps {
            times.push(f().as_secs_f64());
            if times[0] > LONG_RUN {
                break;
            }
        }
        let reps = times.len();
        let r = Record {
            id: id.to_owned(),
            ops,
            times,
        };
        let m = r.median();
        let (lo, hi) = r
            .times
            .iter()
            .fold((f64::MAX, 0.0f64), |(lo, hi), &t| (lo.min(t), hi.max(t)));
        println!(
            "{id:<40} median {:>12} ({:>10}/op)  min {:>12}  max {:>12}  reps {reps}",
            fmt(m),
            fmt(m / ops as f64),
            fmt(lo),
            fmt(hi)
        );
        self.records.push(r);
    }

    fn statements(&mut self, id: &str, n: usize) {
        if let Some(flt) = &self.filter {
            if !id.contains(flt.as_str()) {
                return;
            }
        }
        println!("{id:<40} {n} statements");
        self.statements.push((id.to_owned(), n));
    }

    fn json(&self) -> String {
        let mut s = String::from("{\"results\": [\n");
        for (i, r) in self.records.iter().enumerate() {
            let times: Vec<String> = r.times.iter().map(|t| format!("{t:.9}")).collect();
            s.push_str(&format!(
                "  {{\"id\": \"{}\", \"ops\": {}, \"median_s\": {:.9}, \"times_s\": [{}]}}{}\n",
                r.id,
                r.ops,
                r.median(),
                times.join(", "),
                if i + 1 < self.records.len() { "," } else { "" }
            ));
        }
        s.push_str("],\n\"statements\": {");
        let stmts: Vec<String> = self
            .statements
            .iter()
            .map(|(id, n)| format!("\"{id}\": {n}"))
            .collect();
        s.push_str(&stmts.join(", "));
        s.push_str("}}\n");
        s
    }
}

fn fmt(secs: f64) -> String {
    if secs >= 1.0 {
        format!("{secs:.3} s")
    } else if secs >= 1e-3 {
        format!("{:.2} ms", secs * 1e3)
    } else if secs >= 1e-6 {
        format!("{:.2} µs", secs * 1e6)
    } else {
        format!("{:.1} ns", secs * 1e9)
    }
}

// ---- calcine workloads, generic over the backend ----

fn flush_body(s: &mut Session) -> calcine::Result<()> {
    for chunk in 0..FLUSH_N / CHUNK {
        for j in 0..CHUNK {
            s.add(customer(chunk * CHUNK + j));
        }
        s.flush()?;
    }
    s.commit()
}

fn calcine_flush_sync(engine: &Engine) -> Duration {
    let t = Instant::now();
    let mut s = Session::new(engine);
    flush_body(&mut s).unwrap();
    drop(s);
    t.elapsed()
}

fn calcine_flush_run_sync(rt: &tokio::runtime::Runtime, ae: &AsyncEngine) -> Duration {
    rt.block_on(async {
        let t = Instant::now();
        let mut s = AsyncSession::new(ae);
        s.run_sync(flush_body).await.unwrap();
        drop(s);
        t.elapsed()
    })
}

/// All `n` rows of `customer` as ORM objects, fresh session (`load10k`, `large500k.orm`).
fn calcine_load_sync(engine: &Engine, n: usize) -> Duration {
    let t = Instant::now();
    let mut s = Session::new(engine);
    let objs = s.scalars::<Customer>(&select::<Customer>()).unwrap();
    assert_eq!(objs.len(), n);
    black_box(&objs);
    drop(objs);
    drop(s);
    t.elapsed()
}

/// The same inside one `AsyncSession::run_sync`.
fn calcine_load_run_sync(rt: &tokio::runtime::Runtime, ae: &AsyncEngine, n: usize) -> Duration {
    rt.block_on(async {
        let t = Instant::now();
        let mut s = AsyncSession::new(ae);
        let objs = s
            .run_sync(|s| s.scalars::<Customer>(&select::<Customer>()))
            .await
            .unwrap();
        assert_eq!(objs.len(), n);
        black_box(&objs);
        drop(objs);
        drop(s);
        t.elapsed()
    })
}

fn calcine_get_cold_sync(engine: &Engine, first_id: i64) -> Duration {
    let t = Instant::now();
    let mut s = Session::new(engine);
    let mut keep = Vec::with_capacity(GET_N);
    for i in 0..GET_N as i64 {
        keep.push(s.get::<Customer>(first_id + i).unwrap().unwrap());
    }
    black_box(&keep);
    drop(keep);
    drop(s);
    t.elapsed()
}

fn calcine_get_cold_async(
    rt: &tokio::runtime::Runtime,
    ae: &AsyncEngine,
    first_id: i64,
) -> Duration {
    rt.block_on(async {
        let t = Instant::now();
        let mut s = AsyncSession::new(ae);
        let mut keep = Vec::with_capacity(GET_N);
        for i in 0..GET_N as i64 {
            keep.push(s.get::<Customer>(first_id + i).await.unwrap().unwrap());
        }
        black_box(&keep);
        drop(keep);
        s.close().await;
        drop(s);
        t.elapsed()
    })
}

fn bench_get_hit(h: &mut Harness, backend: &str, engine: &Engine, ae: &AsyncEngine, first_id: i64) {
    let reps = env_usize("ORM_HIT_REPS", 31);
    let mut s = Session::new(engine);
    let all = s.scalars::<Customer>(&select::<Customer>()).unwrap();
    assert_eq!(all.len(), GET_N);
    h.run(
        &format!("get_hit/{backend}/calcine_sync"),
        GET_N,
        reps,
        || {
            let t = Instant::now();
            for i in 0..GET_N as i64 {
                black_box(s.get::<Customer>(black_box(first_id + i)).unwrap());
            }
            t.elapsed()
        },
    );
    drop(all);
    drop(s);

    let rt = calcine_benches::current_thread();
    rt.block_on(async {
        let mut s = AsyncSession::new(ae);
        let all = s.scalars::<Customer>(&select::<Customer>()).await.unwrap();
        assert_eq!(all.len(), GET_N);
        // `Harness::run` takes a sync closure: time each repetition inside this task.
        let mut times = Vec::with_capacity(reps);
        for _ in 0..reps {
            let t = Instant::now();
            for i in 0..GET_N as i64 {
                black_box(s.get::<Customer>(black_box(first_id + i)).await.unwrap());
            }
            times.push(t.elapsed());
        }
        let mut it = times.into_iter();
        h.run(
            &format!("get_hit/{backend}/calcine_async"),
            GET_N,
            reps,
            || it.next().unwrap_or_default(),
        );
        drop(all);
        s.close().await;
    });
}

fn calcine_insert_commit_sync(engine: &Engine, n: usize) -> Duration {
    let t = Instant::now();
    for i in 0..n {
        let mut s = Session::new(engine);
        s.add(customer(i));
        s.commit().unwrap();
    }
    t.elapsed()
}

// ---- SQLite ----

const SQLITE_DDL: &str = "CREATE TABLE customer (id INTEGER NOT NULL, name VARCHAR(255) NOT NULL, \
     description VARCHAR(255) NOT NULL, PRIMARY KEY (id))";
const SELECT_ALL: &str = "SELECT customer.id, customer.name, customer.description FROM customer";

/// A new database file at `path` with the `customer` table (made by rusqlite).
fn sqlite_create(path: &Path) {
    rusqlite::Connection::open(path)
        .unwrap()
        .execute_batch(SQLITE_DDL)
        .unwrap();
}

/// Engines on `url`, `customer` created from the model if it is not there.
fn customer_engine(url: &str) -> (Engine, AsyncEngine) {
    let engine = create_engine(url).unwrap();
    calcine::orm::create_all(&engine, &[Customer::mapper()]).unwrap();
    let ae = AsyncEngine::from_engine(engine.clone()).unwrap();
    (engine, ae)
}

fn sqlite_engine(path: &Path) -> (Engine, AsyncEngine) {
    customer_engine(format!("sqlite:///{}", path.display()).as_str())
}

fn rusqlite_seed(path: &Path, n: usize) {
    let c = rusqlite::Connection::open(path).unwrap();
    c.execute_batch("BEGIN").unwrap();
    {
        let mut st = c
            .prepare_cached("INSERT INTO customer (name, description) VALUES (?1, ?2)")
            .unwrap();
        for i in 0..n {
            let p = plain(i);
            st.execute((&p.name, &p.description)).unwrap();
        }
    }
    c.execute_batch("COMMIT").unwrap();
}

fn rusqlite_flush(c: &rusqlite::Connection) -> Duration {
    let t = Instant::now();
    c.execute_batch("BEGIN").unwrap();
    let mut out = Vec::with_capacity(FLUSH_N);
    {
        let mut st = c
            .prepare_cached("INSERT INTO customer (name, description) VALUES (?1, ?2)")
            .unwrap();
        for i in 0..FLUSH_N {
            let mut p = plain(i);
            st.execute((&p.name, &p.description)).unwrap();
            p.id = Some(c.last_insert_rowid());
            out.push(p);
        }
    }
    c.execute_batch("COMMIT").unwrap();
    black_box(&out);
    drop(out);
    t.elapsed()
}

fn rusqlite_customer(row: &rusqlite::Row<'_>) -> rusqlite::Result<PlainCustomer> {
    Ok(PlainCustomer {
        id: row.get(0)?,
        name: row.get(1)?,
        description: row.get(2)?,
    })
}

fn bench_sqlite(h: &mut Harness, flush_reps: usize, commit_n: usize) {
    let dir = tempfile::tempdir().unwrap();
    let rt = calcine_benches::current_thread();
    let mut file_no = 0;
    let mut fresh = || {
        file_no += 1;
        let p = dir.path().join(format!("orm{file_no}.db"));
        sqlite_create(&p);
        p
    };

    // (a) flush of 100,000: a fresh database file for every repetition.
    let mut paths = Vec::new();
    h.run("flush100k/sqlite/calcine_sync", FLUSH_N, flush_reps, || {
        let p = fresh();
        let (e, _) = sqlite_engine(&p);
        let d = calcine_flush_sync(&e);
        paths.push(p);
        d
    });
    h.run(
        "flush100k/sqlite/calcine_run_sync",
        FLUSH_N,
        flush_reps,
        || {
            let p = fresh();
            let (_, ae) = sqlite_engine(&p);
            let d = calcine_flush_run_sync(&rt, &ae);
            paths.push(p);
            d
        },
    );
    h.run("flush100k/sqlite/raw", FLUSH_N, flush_reps, || {
        let p = fresh();
        let c = calcine_benches::raw_sqlite(Some(&p));
        let d = rusqlite_flush(&c);
        paths.push(p);
        d
    });
    for p in paths {
        let _ = std::fs::remove_file(p);
    }

    // (b), (c): one file with 10,000 rows.
    let p = fresh();
    rusqlite_seed(&p, LOAD_N);
    let (engine, ae) = sqlite_engine(&p);
    let load_reps = env_usize("ORM_LOAD_REPS", 11);
    h.run("load10k/sqlite/calcine_sync", LOAD_N, load_reps, || {
        calcine_load_sync(&engine, LOAD_N)
    });
    h.run("load10k/sqlite/calcine_run_sync", LOAD_N, load_reps, || {
        calcine_load_run_sync(&rt, &ae, LOAD_N)
    });
    let raw = calcine_benches::raw_sqlite(Some(&p));
    h.run("load10k/sqlite/raw", LOAD_N, load_reps, || {
        let t = Instant::now();
        let mut st = raw.prepare_cached(SELECT_ALL).unwrap();
        let out: Vec<PlainCustomer> = st
            .query_map([], rusqlite_customer)
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert_eq!(out.len(), LOAD_N);
        black_box(&out);
        drop(out);
        t.elapsed()
    });

    let cold_reps = env_usize("ORM_COLD_REPS", 5);
    h.run("get_cold/sqlite/calcine_sync", GET_N, cold_reps, || {
        calcine_get_cold_sync(&engine, 1)
    });
    h.run("get_cold/sqlite/calcine_async", GET_N, cold_reps, || {
        calcine_get_cold_async(&rt, &ae, 1)
    });
    h.run("get_cold/sqlite/raw", GET_N, cold_reps, || {
        let t = Instant::now();
        let mut keep = Vec::with_capacity(GET_N);
        raw.execute_batch("BEGIN").unwrap();
        for i in 1..=GET_N as i64 {
            let mut st = raw
                .prepare_cached(
                    "SELECT customer.id, customer.name, customer.description FROM customer \
                     WHERE customer.id = ?1",
                )
                .unwrap();
            keep.push(st.query_row([i], rusqlite_customer).unwrap());
        }
        raw.execute_batch("ROLLBACK").unwrap();
        black_box(&keep);
        drop(keep);
        t.elapsed()
    });
    bench_get_hit(h, "sqlite", &engine, &ae, 1);
    drop(raw);

    // (d) insert + commit, on a fresh file.
    let p = fresh();
    let (engine, _) = sqlite_engine(&p);
    let commit_reps = env_usize("ORM_COMMIT_REPS", 1);
    h.run(
        "insert_commit/sqlite/calcine_sync",
        commit_n,
        commit_reps,
        || calcine_insert_commit_sync(&engine, commit_n),
    );
    let p = fresh();
    let raw = calcine_benches::raw_sqlite(Some(&p));
    h.run("insert_commit/sqlite/raw", commit_n, commit_reps, || {
        let t = Instant::now();
        for i in 0..commit_n {
            let mut c = plain(i);
            raw.execute_batch("BEGIN").unwrap();
            raw.prepare_cached("INSERT INTO customer (name, description) VALUES (?1, ?2)")
                .unwrap()
                .execute((&c.name, &c.description))
                .unwrap();
            c.id = Some(raw.last_insert_rowid());
            raw.execute_batch("COMMIT").unwrap();
            black_box(&c);
        }
        t.elapsed()
    });
}

// ---- PostgreSQL ----

use calcine_benches::RawPg as Pg;

/// Seeding helpers of this bench on the shared PostgreSQL client.
trait OrmSeed {
    fn reset(&self);
    fn seed(&self, n: usize);
}

impl OrmSeed for Pg {
    /// Empties the table and restarts its identity (so ids are `1..`).
    fn reset(&self) {
        self.batch("TRUNCATE customer RESTART IDENTITY");
    }

    fn seed(&self, n: usize) {
        self.reset();
        self.rt.block_on(async {
            let st = self
                .client
                .prepare(
                    "INSERT INTO customer (name, description) \
                     SELECT 'customer name ' || i, 'customer description ' || i \
                     FROM generate_series(0, $1::int - 1) AS i",
                )
                .await
                .unwrap();
            self.client.execute(&st, &[&(n as i32)]).await.unwrap();
        });
        self.batch("VACUUM ANALYZE customer");
    }
}

fn pg_customer(row: &tokio_postgres::Row) -> PlainCustomer {
    PlainCustomer {
        id: row.get(0),
        name: row.get(1),
        description: row.get(2),
    }
}

/// `INSERT INTO customer (name, description) VALUES ($1, $2), ... RETURNING id` for `n` rows.
fn pg_multi_insert(n: usize) -> String {
    let mut s = String::from("INSERT INTO customer (name, description) VALUES ");
    for i in 0..n {
        if i > 0 {
            s.push_str(", ");
        }
        s.push_str(&format!("(${}, ${})", 2 * i + 1, 2 * i + 2));
    }
    s.push_str(" RETURNING id");
    s
}

type PgParam<'a> = &'a (dyn tokio_postgres::types::ToSql + Sync);

fn pg_flush(pg: &Pg) -> Duration {
    pg.rt.block_on(async {
        let st = pg.client.prepare(&pg_multi_insert(CHUNK)).await.unwrap();
        let t = Instant::now();
        pg.client.batch_execute("BEGIN").await.unwrap();
        let mut out: Vec<PlainCustomer> = Vec::with_capacity(FLUSH_N);
        for chunk in 0..FLUSH_N / CHUNK {
            let start = out.len();
            out.extend((0..CHUNK).map(|j| plain(chunk * CHUNK + j)));
            let params: Vec<PgParam<'_>> = out[start..]
                .iter()
                .flat_map(|c| [&c.name as PgParam<'_>, &c.description as PgParam<'_>])
                .collect();
            let rows = pg.client.query(&st, &params).await.unwrap();
            drop(params);
            for (c, r) in out[start..].iter_mut().zip(&rows) {
                c.id = Some(r.get(0));
            }
        }
        pg.client.batch_execute("COMMIT").await.unwrap();
        black_box(&out);
        drop(out);
        t.elapsed()
    })
}

/// Engines on `url` with a new, empty `customer` table.
fn pg_engine(pg: &Pg, url: &str) -> (Engine, AsyncEngine) {
    pg.batch("DROP TABLE IF EXISTS customer");
    customer_engine(url)
}

fn bench_postgres(h: &mut Harness, url: &str, flush_reps: usize, commit_n: usize) {
    let pg = Pg::connect(url);
    let (engine, ae) = pg_engine(&pg, url);
    let rt = calcine_benches::current_thread();

    h.run(
        "flush100k/postgres/calcine_sync",
        FLUSH_N,
        flush_reps,
        || {
            pg.reset();
            calcine_flush_sync(&engine)
        },
    );
    h.run(
        "flush100k/postgres/calcine_run_sync",
        FLUSH_N,
        flush_reps,
        || {
            pg.reset();
            calcine_flush_run_sync(&rt, &ae)
        },
    );
    h.run("flush100k/postgres/raw", FLUSH_N, flush_reps, || {
        pg.reset();
        pg_flush(&pg)
    });

    pg.seed(LOAD_N);
    let load_reps = env_usize("ORM_LOAD_REPS", 11);
    h.run("load10k/postgres/calcine_sync", LOAD_N, load_reps, || {
        calcine_load_sync(&engine, LOAD_N)
    });
    h.run(
        "load10k/postgres/calcine_run_sync",
        LOAD_N,
        load_reps,
        || calcine_load_run_sync(&rt, &ae, LOAD_N),
    );
    let st_all = pg.rt.block_on(pg.client.prepare(SELECT_ALL)).unwrap();
    h.run("load10k/postgres/raw", LOAD_N, load_reps, || {
        pg.rt.block_on(async {
            let t = Instant::now();
            let rows = pg.client.query(&st_all, &[]).await.unwrap();
            let out: Vec<PlainCustomer> = rows.iter().map(pg_customer).collect();
            drop(rows);
            assert_eq!(out.len(), LOAD_N);
            black_box(&out);
            drop(out);
            t.elapsed()
        })
    });

    let cold_reps = env_usize("ORM_COLD_REPS_PG", 3);
    h.run("get_cold/postgres/calcine_sync", GET_N, cold_reps, || {
        calcine_get_cold_sync(&engine, 1)
    });
    h.run("get_cold/postgres/calcine_async", GET_N, cold_reps, || {
        calcine_get_cold_async(&rt, &ae, 1)
    });
    let st_get = pg
        .rt
        .block_on(pg.client.prepare(
            "SELECT customer.id, customer.name, customer.description FROM customer \
             WHERE customer.id = $1",
        ))
        .unwrap();
    h.run("get_cold/postgres/raw", GET_N, cold_reps, || {
        pg.rt.block_on(async {
            let t = Instant::now();
            pg.client.batch_execute("BEGIN").await.unwrap();
            let mut keep = Vec::with_capacity(GET_N);
            for i in 1..=GET_N as i64 {
                let row = pg.client.query_one(&st_get, &[&i]).await.unwrap();
                keep.push(pg_customer(&row));
            }
            pg.client.batch_execute("ROLLBACK").await.unwrap();
            black_box(&keep);
            drop(keep);
            t.elapsed()
        })
    });
    bench_get_hit(h, "postgres", &engine, &ae, 1);

    let commit_reps = env_usize("ORM_COMMIT_REPS", 1);
    pg.reset();
    h.run(
        "insert_commit/postgres/calcine_sync",
        commit_n,
        commit_reps,
        || calcine_insert_commit_sync(&engine, commit_n),
    );
    pg.reset();
    let st_ins = pg
        .rt
        .block_on(
            pg.client
                .prepare("INSERT INTO customer (name, description) VALUES ($1, $2) RETURNING id"),
        )
        .unwrap();
    h.run("insert_commit/postgres/raw", commit_n, commit_reps, || {
        pg.rt.block_on(async {
            let t = Instant::now();
            for i in 0..commit_n {
                let mut c = plain(i);
                pg.client.batch_execute("BEGIN").await.unwrap();
                let row = pg
                    .client
                    .query_one(&st_ins, &[&c.name, &c.description])
                    .await
                    .unwrap();
                c.id = Some(row.get(0));
                pg.client.batch_execute("COMMIT").await.unwrap();
                black_box(&c);
            }
            t.elapsed()
        })
    });
    drop(engine);
    drop(ae);
    pg.batch("DROP TABLE IF EXISTS customer");
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mut json = None;
    let mut filter = None;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--json" => json = args.next(),
            "--bench" => {}
            s if s.starts_with("--") => {}
            s => filter = Some(s.to_owned()),
        }
    }
    let mut h = Harness {
        filter,
        records: Vec::new(),
        statements: Vec::new(),
    };
    let flush_reps = env_usize("ORM_FLUSH_REPS", 3);
    let commit_n = env_usize("ORM_COMMIT_N", 10_000);
    bench_sqlite(&mut h, flush_reps, commit_n);
    relationships::bench_sqlite(&mut h);
    large::bench_sqlite(&mut h);
    match std::env::var("CALCINE_BENCH_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => {
            bench_postgres(&mut h, &url, flush_reps, commit_n);
            relationships::bench_postgres(&mut h, &url);
            large::bench_postgres(&mut h, &url);
        }
        _ => eprintln!("orm: CALCINE_BENCH_POSTGRES_URL not set; PostgreSQL skipped"),
    }
    if let Some(path) = json {
        std::fs::write(&path, h.json()).unwrap();
        eprintln!("orm: wrote {path}");
    }
}
