//! diesel's benchmark workloads 1-4 (`shared/benchmarks.md` §1) for the peer libraries: diesel
//! (sync), diesel-async (PostgreSQL), sqlx and sea-orm, plus rusqlite as a cross-process anchor.
//! calcine's side of the same workloads (Core, ORM sync, ORM through `run_sync`, the raw drivers)
//! is `benches/benches/peers.rs`; `benches/run-peers.sh` runs both into one criterion directory
//! and `benches/tools/peers_report.py` puts them side by side.
//!
//! Groups `peers_<backend>_<workload>/<impl>/<n>`, workloads `trivial`, `medium`, `insert`,
//! `assoc` (n = users). Every implementation runs in autocommit mode on one connection (sea-orm:
//! a pool of exactly one) and builds the same rows into structs with the same fields:
//! * `trivial`: `SELECT id, name, hair_color FROM users` into `Vec<User>`;
//! * `medium`: `users LEFT JOIN posts WHERE hair_color = 'black'` into `Vec<(User, Option<Post>)>`;
//! * `insert`: one multi-row `INSERT INTO users (name, hair_color) VALUES ...`;
//! * `assoc`: `Vec<(User, Vec<(Post, Vec<Comment>)>)>` from three statements (users, posts of
//!   those users, comments of those posts), grouped by foreign key (diesel: `belonging_to` +
//!   `grouped_by`; sqlx: `IN` lists built with `QueryBuilder`; sea-orm: `LoaderTrait::load_many`).
//!
//! Async peers run on a current-thread tokio runtime, one `block_on` per iteration. The
//! workload code of every peer is `src/workloads.rs` (shared with `benches/concurrency.rs`).

use std::hint::black_box;
use std::time::Duration;

use calcine_bench_peers::schema::{
    ASSOC_USERS_PG, ASSOC_USERS_SQLITE, COMMENTS_PER_POST, INSERT_SIZES, PG_DDL, POSTS_PER_USER,
    QUERY_SIZES, SQLITE_DDL, insert_rows, seed_sql,
};
use calcine_bench_peers::workloads::{
    diesel_async_pg, diesel_pg, diesel_sqlite, sea, sqlx_pg, sqlx_sqlite,
};
use calcine_bench_peers::{Post, User, check_graph};
use criterion::{BenchmarkGroup, BenchmarkId, Criterion, SamplingMode, measurement::WallTime};

fn medium_len(n: usize) -> usize {
    n / 2
}

// ---- the benchmarks ----

fn group<'a>(c: &'a mut Criterion, name: &str, samples: usize) -> BenchmarkGroup<'a, WallTime> {
    let mut g = c.benchmark_group(name);
    g.sample_size(samples).sampling_mode(SamplingMode::Flat);
    g
}

fn current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn bench_sqlite(c: &mut Criterion) {
    use diesel::connection::SimpleConnection;
    use diesel::prelude::Connection as _;
    use sqlx::Connection as _;

    let rt = current_thread();
    let mut dl = diesel::SqliteConnection::establish(":memory:").unwrap();
    let mut sx = rt
        .block_on(sqlx::SqliteConnection::connect("sqlite::memory:"))
        .unwrap();
    let db = rt.block_on(sea::connect("sqlite::memory:"));
    let raw = calcine_bench_peers::raw_sqlite(None);
    dl.batch_execute(SQLITE_DDL).unwrap();
    rt.block_on(sqlx::raw_sql(SQLITE_DDL).execute(&mut sx))
        .unwrap();
    rt.block_on(sea::exec(&db, SQLITE_DDL));
    raw.execute_batch(SQLITE_DDL).unwrap();

    for wl in ["trivial", "medium"] {
        let mut g = group(c, &format!("peers_sqlite_{wl}"), 30);
        for n in QUERY_SIZES {
            let sql = seed_sql(false, n, 0, 0);
            dl.batch_execute(&sql).unwrap();
            rt.block_on(sqlx::raw_sql(sqlx::AssertSqlSafe(sql.clone())).execute(&mut sx))
                .unwrap();
            rt.block_on(sea::exec(&db, &sql));
            raw.execute_batch(&sql).unwrap();
            let medium = wl == "medium";
            let want = if medium { medium_len(n) } else { n };
            assert_eq!(
                if medium {
                    diesel_sqlite::medium(&mut dl).len()
                } else {
                    diesel_sqlite::trivial(&mut dl).len()
                },
                want
            );
            assert_eq!(
                if medium {
                    rt.block_on(sqlx_sqlite::medium(&mut sx)).len()
                } else {
                    rt.block_on(sqlx_sqlite::trivial(&mut sx)).len()
                },
                want
            );
            assert_eq!(
                if medium {
                    rt.block_on(sea::medium(&db)).len()
                } else {
                    rt.block_on(sea::trivial(&db)).len()
                },
                want
            );
            g.bench_function(BenchmarkId::new("diesel", n), |b| {
                if medium {
                    b.iter(|| black_box(diesel_sqlite::medium(&mut dl)));
                } else {
                    b.iter(|| black_box(diesel_sqlite::trivial(&mut dl)));
                }
            });
            g.bench_function(BenchmarkId::new("sqlx", n), |b| {
                if medium {
                    b.iter(|| black_box(rt.block_on(sqlx_sqlite::medium(&mut sx))));
                } else {
                    b.iter(|| black_box(rt.block_on(sqlx_sqlite::trivial(&mut sx))));
                }
            });
            g.bench_function(BenchmarkId::new("sea_orm", n), |b| {
                if medium {
                    b.iter(|| black_box(rt.block_on(sea::medium(&db))));
                } else {
                    b.iter(|| black_box(rt.block_on(sea::trivial(&db))));
                }
            });
            // The same rusqlite code as calcine's side, on this process's SQLite build: the
            // ratio of the two `rusqlite` figures is the cross-process / SQLite-version term.
            if medium {
                g.bench_function(BenchmarkId::new("rusqlite_anchor", n), |b| {
                    b.iter(|| {
                        let mut st = raw
                            .prepare_cached(
                                "SELECT users.id, users.name, users.hair_color, posts.id, \
                                 posts.user_id, posts.title, posts.body FROM users LEFT OUTER \
                                 JOIN posts ON users.id = posts.user_id \
                                 WHERE users.hair_color = ?1",
                            )
                            .unwrap();
                        let out: Vec<(User, Option<Post>)> = st
                            .query_map(["black"], |row| {
                                let user = User {
                                    id: row.get(0)?,
                                    name: row.get(1)?,
                                    hair_color: row.get(2)?,
                                };
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
                });
            } else {
                g.bench_function(BenchmarkId::new("rusqlite_anchor", n), |b| {
                    b.iter(|| {
                        let mut st = raw
                            .prepare_cached(
                                "SELECT users.id, users.name, users.hair_color FROM users",
                            )
                            .unwrap();
                        let out: Vec<User> = st
                            .query_map([], |row| {
                                Ok(User {
                                    id: row.get(0)?,
                                    name: row.get(1)?,
                                    hair_color: row.get(2)?,
                                })
                            })
                            .unwrap()
                            .collect::<rusqlite::Result<_>>()
                            .unwrap();
                        black_box(out)
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
        dl.batch_execute(&sql).unwrap();
        rt.block_on(sqlx::raw_sql(sqlx::AssertSqlSafe(sql.clone())).execute(&mut sx))
            .unwrap();
        rt.block_on(sea::exec(&db, &sql));
        assert_eq!(diesel_sqlite::insert(&mut dl, &rows), n);
        assert_eq!(rt.block_on(sqlx_sqlite::insert(&mut sx, &rows)), n as u64);
        g.bench_function(BenchmarkId::new("diesel", n), |b| {
            b.iter(|| black_box(diesel_sqlite::insert(&mut dl, &rows)));
        });
        g.bench_function(BenchmarkId::new("sqlx", n), |b| {
            b.iter(|| black_box(rt.block_on(sqlx_sqlite::insert(&mut sx, &rows))));
        });
        g.bench_function(BenchmarkId::new("sea_orm", n), |b| {
            b.iter(|| rt.block_on(sea::insert(&db, &rows)));
        });
        raw.execute_batch(&sql).unwrap();
        let mut isql = String::from("INSERT INTO users (name, hair_color) VALUES ");
        for i in 0..n {
            if i > 0 {
                isql.push_str(", ");
            }
            isql.push_str(&format!("(?{}, ?{})", 2 * i + 1, 2 * i + 2));
        }
        g.bench_function(BenchmarkId::new("rusqlite_anchor", n), |b| {
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
    let sql = seed_sql(false, n, POSTS_PER_USER, COMMENTS_PER_POST);
    dl.batch_execute(&sql).unwrap();
    rt.block_on(sqlx::raw_sql(sqlx::AssertSqlSafe(sql.clone())).execute(&mut sx))
        .unwrap();
    rt.block_on(sea::exec(&db, &sql));
    check_graph(&diesel_sqlite::assoc(&mut dl), n);
    check_graph(&rt.block_on(sqlx_sqlite::assoc(&mut sx)), n);
    check_graph(&rt.block_on(sea::assoc(&db)), n);
    g.bench_function(BenchmarkId::new("diesel", n), |b| {
        b.iter(|| black_box(diesel_sqlite::assoc(&mut dl)));
    });
    g.bench_function(BenchmarkId::new("sqlx", n), |b| {
        b.iter(|| black_box(rt.block_on(sqlx_sqlite::assoc(&mut sx))));
    });
    g.bench_function(BenchmarkId::new("sea_orm", n), |b| {
        b.iter(|| black_box(rt.block_on(sea::assoc(&db))));
    });
    g.finish();
}

fn bench_postgres(c: &mut Criterion, url: &str) {
    use diesel::connection::SimpleConnection;
    use diesel::prelude::Connection as _;
    use diesel_async::AsyncConnection as _;
    use sqlx::Connection as _;

    let rt = current_thread();
    let mut dl = diesel::PgConnection::establish(url).unwrap();
    let mut da = rt
        .block_on(diesel_async::AsyncPgConnection::establish(url))
        .unwrap();
    let mut sx = rt.block_on(sqlx::PgConnection::connect(url)).unwrap();
    let db = rt.block_on(sea::connect(url));
    dl.batch_execute(PG_DDL).unwrap();

    for wl in ["trivial", "medium"] {
        let mut g = group(c, &format!("peers_postgres_{wl}"), 20);
        for n in QUERY_SIZES {
            dl.batch_execute(&seed_sql(true, n, 0, 0)).unwrap();
            let medium = wl == "medium";
            let want = if medium { medium_len(n) } else { n };
            assert_eq!(
                if medium {
                    diesel_pg::medium(&mut dl).len()
                } else {
                    diesel_pg::trivial(&mut dl).len()
                },
                want
            );
            assert_eq!(
                if medium {
                    rt.block_on(diesel_async_pg::medium(&mut da)).len()
                } else {
                    rt.block_on(diesel_async_pg::trivial(&mut da)).len()
                },
                want
            );
            assert_eq!(
                if medium {
                    rt.block_on(sqlx_pg::medium(&mut sx)).len()
                } else {
                    rt.block_on(sqlx_pg::trivial(&mut sx)).len()
                },
                want
            );
            assert_eq!(
                if medium {
                    rt.block_on(sea::medium(&db)).len()
                } else {
                    rt.block_on(sea::trivial(&db)).len()
                },
                want
            );
            g.bench_function(BenchmarkId::new("diesel", n), |b| {
                if medium {
                    b.iter(|| black_box(diesel_pg::medium(&mut dl)));
                } else {
                    b.iter(|| black_box(diesel_pg::trivial(&mut dl)));
                }
            });
            g.bench_function(BenchmarkId::new("diesel_async", n), |b| {
                if medium {
                    b.iter(|| black_box(rt.block_on(diesel_async_pg::medium(&mut da))));
                } else {
                    b.iter(|| black_box(rt.block_on(diesel_async_pg::trivial(&mut da))));
                }
            });
            g.bench_function(BenchmarkId::new("sqlx", n), |b| {
                if medium {
                    b.iter(|| black_box(rt.block_on(sqlx_pg::medium(&mut sx))));
                } else {
                    b.iter(|| black_box(rt.block_on(sqlx_pg::trivial(&mut sx))));
                }
            });
            g.bench_function(BenchmarkId::new("sea_orm", n), |b| {
                if medium {
                    b.iter(|| black_box(rt.block_on(sea::medium(&db))));
                } else {
                    b.iter(|| black_box(rt.block_on(sea::trivial(&db))));
                }
            });
        }
        g.finish();
    }

    let mut g = group(c, "peers_postgres_insert", 20);
    for n in INSERT_SIZES {
        let rows = insert_rows(n);
        let reset = seed_sql(true, 0, 0, 0);
        dl.batch_execute(&reset).unwrap();
        g.bench_function(BenchmarkId::new("diesel", n), |b| {
            b.iter(|| black_box(diesel_pg::insert(&mut dl, &rows)));
        });
        dl.batch_execute(&reset).unwrap();
        g.bench_function(BenchmarkId::new("diesel_async", n), |b| {
            b.iter(|| black_box(rt.block_on(diesel_async_pg::insert(&mut da, &rows))));
        });
        dl.batch_execute(&reset).unwrap();
        g.bench_function(BenchmarkId::new("sqlx", n), |b| {
            b.iter(|| black_box(rt.block_on(sqlx_pg::insert(&mut sx, &rows))));
        });
        dl.batch_execute(&reset).unwrap();
        g.bench_function(BenchmarkId::new("sea_orm", n), |b| {
            b.iter(|| rt.block_on(sea::insert(&db, &rows)));
        });
    }
    g.finish();

    let mut g = group(c, "peers_postgres_assoc", 20);
    let n = ASSOC_USERS_PG;
    dl.batch_execute(&seed_sql(true, n, POSTS_PER_USER, COMMENTS_PER_POST))
        .unwrap();
    check_graph(&diesel_pg::assoc(&mut dl), n);
    check_graph(&rt.block_on(diesel_async_pg::assoc(&mut da)), n);
    check_graph(&rt.block_on(sqlx_pg::assoc(&mut sx)), n);
    check_graph(&rt.block_on(sea::assoc(&db)), n);
    g.bench_function(BenchmarkId::new("diesel", n), |b| {
        b.iter(|| black_box(diesel_pg::assoc(&mut dl)));
    });
    g.bench_function(BenchmarkId::new("diesel_async", n), |b| {
        b.iter(|| black_box(rt.block_on(diesel_async_pg::assoc(&mut da))));
    });
    g.bench_function(BenchmarkId::new("sqlx", n), |b| {
        b.iter(|| black_box(rt.block_on(sqlx_pg::assoc(&mut sx))));
    });
    g.bench_function(BenchmarkId::new("sea_orm", n), |b| {
        b.iter(|| black_box(rt.block_on(sea::assoc(&db))));
    });
    g.finish();
    dl.batch_execute(&seed_sql(true, 0, 0, 0)).unwrap();
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
    println!("peers-sqlite-version: peers {v}");
    bench_sqlite(&mut c);
    match std::env::var("CALCINE_BENCH_POSTGRES_URL") {
        Ok(url) if !url.is_empty() && url != "none" => bench_postgres(&mut c, &url),
        _ => println!("peers: CALCINE_BENCH_POSTGRES_URL not set; PostgreSQL skipped"),
    }
    c.final_summary();
}
