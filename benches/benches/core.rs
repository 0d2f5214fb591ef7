//! diesel's benchmark workloads 1-3 (`shared/benchmarks.md` §1): calcine Core against the raw
//! drivers it wraps, doing the same statements in the same run.
//!
//! * `core_<backend>_trivial/<impl>/<n>`: `SELECT id, name, hair_color FROM users` with `n`
//!   users, into `Vec<User>`.
//! * `core_<backend>_medium/<impl>/<n>`: `users LEFT JOIN posts ON users.id = posts.user_id
//!   WHERE hair_color = 'black'` with `n` users (even ids black, no posts), into
//!   `Vec<(User, Option<Post>)>`.
//! * `core_<backend>_insert/<impl>/<n>`: one multi-row `INSERT INTO users (name, hair_color)
//!   VALUES ...` of `n` rows per iteration.
//!
//! `<impl>` is `calcine` (a `select(...)`/`insert(...)` builder built each iteration, run with
//! `Connection::execute`, rows read with `.tuples::<User>()`: a `FromRow` impl moves every
//! value out of the fetched chunk with `RowRef::take`, one decode per value, as the raw drivers
//! do) and `rusqlite` / `tokio_postgres` (a prepared, cached statement, values decoded with the
//! driver's typed `get`). Every variant builds the same
//! structs from the same rows.
//!
//! All variants run inside one open transaction per criterion sample (calcine autobegins; the raw
//! drivers `BEGIN` explicitly), committed after the sample, so both sides pay the same
//! transaction costs. PostgreSQL runs when `CALCINE_BENCH_POSTGRES_URL` is set; the raw
//! tokio-postgres client runs on a current-thread runtime with its connection task on the same
//! runtime.

use std::hint::black_box;
use std::time::Duration;

use calcine::{Connection, create_engine, insert};
use criterion::{BenchmarkId, Criterion, SamplingMode};

use calcine_benches::core_workloads::{
    MEDIUM_PG, MEDIUM_SQLITE, Post, Schema, TRIVIAL_SQLITE, User, calcine_insert, calcine_medium,
    calcine_trivial, multi_insert_sql, pg_user, rusqlite_user, schema,
};
use calcine_benches::diesel_schema::{INSERT_SIZES, QUERY_SIZES, hair, insert_rows};

const SQLITE_DDL: &str = "DROP TABLE IF EXISTS posts; DROP TABLE IF EXISTS users;
CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL, hair_color TEXT);
CREATE TABLE posts (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL, title TEXT NOT NULL, body TEXT);";

const PG_DDL: &str = "DROP TABLE IF EXISTS posts; DROP TABLE IF EXISTS users;
CREATE TABLE users (id SERIAL PRIMARY KEY, name TEXT NOT NULL, hair_color TEXT);
CREATE TABLE posts (id SERIAL PRIMARY KEY, user_id INTEGER NOT NULL, title TEXT NOT NULL, body TEXT);";

// ---- calcine Core (shared by both backends) ----

fn calcine_seed(conn: &mut Connection, s: &Schema, n: usize) {
    conn.exec_driver_sql("DELETE FROM posts", &[]).unwrap();
    conn.exec_driver_sql("DELETE FROM users", &[]).unwrap();
    for chunk in (1..=n).collect::<Vec<_>>().chunks(500) {
        let stmt = insert(&s.users)
            .values_many(chunk.iter().map(|&i| {
                [
                    ("id", calcine::Value::from(i as i64)),
                    ("name", calcine::Value::from(format!("User {i}"))),
                    ("hair_color", calcine::Value::from(hair(i))),
                ]
            }))
            .unwrap();
        conn.execute(&stmt).unwrap();
    }
    conn.commit().unwrap();
}

// ---- SQLite ----

fn rusqlite_seed(conn: &rusqlite::Connection, n: usize) {
    conn.execute_batch("DELETE FROM posts; DELETE FROM users; BEGIN")
        .unwrap();
    {
        let mut st = conn
            .prepare_cached("INSERT INTO users (id, name, hair_color) VALUES (?1, ?2, ?3)")
            .unwrap();
        for i in 1..=n {
            st.execute(rusqlite::params![i as i64, format!("User {i}"), hair(i)])
                .unwrap();
        }
    }
    conn.execute_batch("COMMIT").unwrap();
}

fn bench_sqlite(c: &mut Criterion) {
    let s = schema();
    let engine = create_engine("sqlite://").unwrap();
    let mut conn = engine.connect().unwrap();
    for stmt in SQLITE_DDL.split(';').filter(|x| !x.trim().is_empty()) {
        conn.exec_driver_sql(stmt, &[]).unwrap();
    }
    conn.commit().unwrap();
    let raw = calcine_benches::raw_sqlite(None);
    raw.execute_batch(SQLITE_DDL).unwrap();

    for (group_name, medium) in [("core_sqlite_trivial", false), ("core_sqlite_medium", true)] {
        let mut g = c.benchmark_group(group_name);
        g.sample_size(30).sampling_mode(SamplingMode::Flat);
        for n in QUERY_SIZES {
            calcine_seed(&mut conn, &s, n);
            rusqlite_seed(&raw, n);
            let expect = if medium {
                n.div_ceil(2) - usize::from(n % 2 == 1)
            } else {
                n
            };
            let expect = if medium { n / 2 } else { expect };
            assert_eq!(
                if medium {
                    calcine_medium(&mut conn, &s).len()
                } else {
                    calcine_trivial(&mut conn, &s).len()
                },
                expect
            );
            conn.commit().unwrap();
            g.bench_with_input(BenchmarkId::new("calcine", n), &n, |b, _| {
                if medium {
                    b.iter(|| black_box(calcine_medium(&mut conn, &s)));
                } else {
                    b.iter(|| black_box(calcine_trivial(&mut conn, &s)));
                }
                conn.commit().unwrap();
            });
            g.bench_with_input(BenchmarkId::new("rusqlite", n), &n, |b, _| {
                raw.execute_batch("BEGIN").unwrap();
                if medium {
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
                        assert_eq!(out.len(), expect);
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
                raw.execute_batch("COMMIT").unwrap();
            });
        }
        g.finish();
    }

    let mut g = c.benchmark_group("core_sqlite_insert");
    g.sample_size(30).sampling_mode(SamplingMode::Flat);
    for n in INSERT_SIZES {
        let rows = insert_rows(n);
        calcine_seed(&mut conn, &s, 0);
        rusqlite_seed(&raw, 0);
        g.bench_with_input(BenchmarkId::new("calcine", n), &n, |b, _| {
            b.iter(|| calcine_insert(&mut conn, &s, &rows));
            conn.commit().unwrap();
        });
        let sql = multi_insert_sql(n, false);
        g.bench_with_input(BenchmarkId::new("rusqlite", n), &n, |b, _| {
            raw.execute_batch("BEGIN").unwrap();
            b.iter(|| {
                let mut st = raw.prepare_cached(&sql).unwrap();
                let params: Vec<&dyn rusqlite::ToSql> = rows
                    .iter()
                    .flat_map(|(name, hair)| [name as &dyn rusqlite::ToSql, hair])
                    .collect();
                let changed = st.execute(params.as_slice()).unwrap();
                black_box(changed)
            });
            raw.execute_batch("COMMIT").unwrap();
        });
    }
    g.finish();
}

// ---- PostgreSQL ----

use calcine_benches::RawPg as Pg;

/// Seeding helpers of this bench on the shared PostgreSQL client.
trait CoreSeed {
    fn seed(&self, n: usize);
}

impl CoreSeed for Pg {
    fn seed(&self, n: usize) {
        self.batch("TRUNCATE posts, users RESTART IDENTITY");
        self.rt.block_on(async {
            let st = self
                .client
                .prepare(
                    "INSERT INTO users (id, name, hair_color) \
                     SELECT i, 'User ' || i, CASE WHEN i % 2 = 0 THEN 'black' ELSE 'brown' END \
                     FROM generate_series(1, $1::int) AS i",
                )
                .await
                .unwrap();
            self.client.execute(&st, &[&(n as i32)]).await.unwrap();
        });
        self.batch("ANALYZE users; ANALYZE posts");
    }
}

fn bench_postgres(c: &mut Criterion, url: &str) {
    let s = schema();
    let pg = Pg::connect(url);
    pg.batch(PG_DDL);
    let engine = create_engine(url).unwrap();
    let mut conn = engine.connect().unwrap();
    let trivial_pg = "SELECT users.id, users.name, users.hair_color FROM users";

    for (group_name, medium) in [
        ("core_postgres_trivial", false),
        ("core_postgres_medium", true),
    ] {
        let mut g = c.benchmark_group(group_name);
        g.sample_size(20).sampling_mode(SamplingMode::Flat);
        for n in QUERY_SIZES {
            pg.seed(n);
            let expect = if medium { n / 2 } else { n };
            assert_eq!(
                if medium {
                    calcine_medium(&mut conn, &s).len()
                } else {
                    calcine_trivial(&mut conn, &s).len()
                },
                expect
            );
            conn.commit().unwrap();
            g.bench_with_input(BenchmarkId::new("calcine", n), &n, |b, _| {
                if medium {
                    b.iter(|| black_box(calcine_medium(&mut conn, &s)));
                } else {
                    b.iter(|| black_box(calcine_trivial(&mut conn, &s)));
                }
                conn.commit().unwrap();
            });
            let st = pg
                .rt
                .block_on(
                    pg.client
                        .prepare(if medium { MEDIUM_PG } else { trivial_pg }),
                )
                .unwrap();
            g.bench_with_input(BenchmarkId::new("tokio_postgres", n), &n, |b, _| {
                pg.batch("BEGIN");
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
                            assert_eq!(out.len(), expect);
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
                pg.batch("COMMIT");
            });
        }
        g.finish();
    }

    let mut g = c.benchmark_group("core_postgres_insert");
    g.sample_size(20).sampling_mode(SamplingMode::Flat);
    for n in INSERT_SIZES {
        let rows = insert_rows(n);
        pg.seed(0);
        g.bench_with_input(BenchmarkId::new("calcine", n), &n, |b, _| {
            b.iter(|| calcine_insert(&mut conn, &s, &rows));
            conn.commit().unwrap();
        });
        let st = pg
            .rt
            .block_on(pg.client.prepare(&multi_insert_sql(n, true)))
            .unwrap();
        g.bench_with_input(BenchmarkId::new("tokio_postgres", n), &n, |b, _| {
            pg.batch("BEGIN");
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
            pg.batch("COMMIT");
        });
    }
    g.finish();
    drop(conn);
    pg.batch("TRUNCATE posts, users RESTART IDENTITY");
}

fn main() {
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .configure_from_args();
    bench_sqlite(&mut c);
    match std::env::var("CALCINE_BENCH_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => bench_postgres(&mut c, &url),
        _ => eprintln!("core: CALCINE_BENCH_POSTGRES_URL not set; PostgreSQL skipped"),
    }
    c.final_summary();
}
