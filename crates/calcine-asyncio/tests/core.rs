//! The async Core facade on SQLAlchemy's `test/ext/asyncio/test_engine_py3k.py` behaviours, on
//! SQLite (memory, file) and PostgreSQL when configured. Inline mode, current-thread runtime.

#[path = "support/backends.rs"]
mod backends;

use backends::{AsyncDb, Db};
use calcine_asyncio::{AsyncConnection, AsyncEngine, create_async_engine};
use calcine_engine::{Connection, ErrorKind, Result};
use calcine_sql::{Column, MetaData, SqlType, Table};
use futures_util::StreamExt;

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// Runs `f` on every backend.
fn each<F>(f: F)
where
    F: AsyncFn(&Db, AsyncEngine),
{
    for db in backends::all() {
        eprintln!("backend: {}", db.name);
        let engine = db.async_engine();
        rt().block_on(f(&db, engine));
    }
}

async fn make_table(db: &Db, conn: &mut AsyncConnection, base: &str) -> String {
    let t = db.table(base);
    conn.exec_driver_sql(
        &format!("CREATE TABLE {t} (id {}, n INTEGER NOT NULL)", db.id_type()),
        &[],
    )
    .await
    .expect("create");
    conn.commit().await.expect("commit ddl");
    t
}

async fn count(db: &Db, conn: &mut AsyncConnection, t: &str) -> i64 {
    conn.exec_driver_sql(&db.sql(&format!("SELECT count(*) FROM {t}")), &[])
        .await
        .expect("count")
        .scalar()
        .expect("scalar")
}

/// Column `n` of table `t`, in order.
async fn column_n(conn: &mut AsyncConnection, t: &str) -> Vec<i64> {
    conn.exec_driver_sql(&format!("SELECT n FROM {t} ORDER BY n"), &[])
        .await
        .expect("select")
        .scalars()
        .expect("scalars")
}

async fn insert_n(db: &Db, conn: &mut AsyncConnection, t: &str, ns: impl IntoIterator<Item = i64>) {
    for n in ns {
        conn.exec_driver_sql(
            &db.sql(&format!("INSERT INTO {t} (n) VALUES (?)")),
            &[n.into()],
        )
        .await
        .expect("insert");
    }
}

/// A1: run_sync hands the very sync connection; its value comes back; no AwaitRequired (A2).
#[test]
fn a1_run_sync_hands_the_same_connection() {
    each(async |_db, engine| {
        let mut conn = engine.connect().await.expect("connect");
        let wrapped: *const Connection = conn.sync_connection();
        let (seen, inside): (*const Connection, bool) = conn
            .run_sync(|c| (c as *const Connection, calcine_greenlet::in_greenlet()))
            .await;
        assert_eq!(seen, wrapped);
        assert!(inside);
        // No IO at all: still fine (A2).
        assert_eq!(conn.run_sync(|_| 7).await, 7);
        // An Err comes out unchanged (A3).
        let err = conn
            .run_sync(|_| Err::<(), _>(calcine_engine::Error::invalid_request("mine")))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidRequest);
        assert_eq!(err.message(), "mine");
    });
}

/// A11 (the part integration tests can show): the execute family works on every backend and
/// run_sync never requires IO. The AwaitRequired path itself is a unit test in the crate.
#[test]
fn a11_execute_family_does_not_spuriously_require_await() {
    each(async |db, engine| {
        let mut conn = engine.connect().await.expect("connect");
        assert_eq!(engine.requires_await(), db.pg);
        let n: i64 = conn
            .exec_driver_sql("SELECT 41 + 1", &[])
            .await
            .expect("select")
            .scalar()
            .expect("scalar");
        assert_eq!(n, 42);
        let n: i64 = conn
            .scalar(&calcine_sql::text("SELECT 5"))
            .await
            .expect("scalar");
        assert_eq!(n, 5);
    });
}

/// B13: drivers that cannot be bridged are refused by name.
#[test]
fn b13_unbridgeable_driver_is_refused_by_name() {
    for (url, driver) in [
        ("postgresql+psycopg2://u@localhost/db", "psycopg2"),
        ("sqlite+pysqlite://", "pysqlite"),
        ("postgresql+asyncpg://u@localhost/db", "asyncpg"),
    ] {
        let err = create_async_engine(url).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidRequest, "{url}");
        assert!(err.message().contains(driver), "{url}: {}", err.message());
    }
    assert!(create_async_engine("sqlite+rusqlite://").is_ok());
    assert!(create_async_engine("postgresql+tokio_postgres://u@localhost/db").is_ok());
}

/// B14: create_all inside run_sync, then inspect the table names inside run_sync.
#[test]
fn b14_create_all_and_inspect_inside_run_sync() {
    each(async |db, engine| {
        let users = db.table("users");
        let posts = db.table("posts");
        let mut md = MetaData::new();
        md.add(
            Table::new(users.as_str())
                .column(Column::new("id", SqlType::Integer).primary_key())
                .column(Column::new("name", SqlType::Text)),
        )
        .expect("users");
        md.add(
            Table::new(posts.as_str())
                .column(Column::new("id", SqlType::Integer).primary_key())
                .column(Column::new("title", SqlType::Text)),
        )
        .expect("posts");
        let mut conn = engine.connect().await.expect("connect");
        let pg = db.pg;
        let names: Vec<String> = conn
            .run_sync(move |c| -> Result<Vec<String>> {
                for ddl in md.create_all_statements(c.dialect(), true)? {
                    c.execute(&ddl)?;
                }
                let sql = if pg {
                    "SELECT table_name FROM information_schema.tables \
                     WHERE table_schema = current_schema() ORDER BY table_name"
                } else {
                    "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
                };
                c.exec_driver_sql(sql, &[])?.scalars::<String>().all()
            })
            .await
            .expect("create_all + inspect");
        assert!(names.contains(&users), "{names:?}");
        assert!(names.contains(&posts), "{names:?}");
        conn.commit().await.expect("commit");
    });
}

/// B15: engine.begin() commits on success and rolls back on error (drop).
#[test]
fn b15_engine_begin_commits_or_rolls_back() {
    each(async |db, engine| {
        let mut setup = engine.connect().await.expect("connect");
        let t = make_table(db, &mut setup, "b15").await;
        drop(setup);

        let mut conn = engine.begin().await.expect("begin");
        assert!(conn.in_transaction());
        insert_n(db, &mut conn, &t, [1]).await;
        conn.commit().await.expect("commit");
        drop(conn);

        async fn failing(db: &Db, engine: &AsyncEngine, t: &str) -> Result<()> {
            let mut conn = engine.begin().await?;
            conn.exec_driver_sql(
                &db.sql(&format!("INSERT INTO {t} (n) VALUES (?)")),
                &[2.into()],
            )
            .await?;
            Err(calcine_engine::Error::invalid_request(
                "business rule failed",
            ))
        }
        let err = failing(db, &engine, &t).await.unwrap_err();
        assert_eq!(err.message(), "business rule failed");

        let mut check = engine.connect().await.expect("connect");
        let ns = column_n(&mut check, &t).await;
        assert_eq!(ns, [1]);
    });
}

/// B16 (+B19): a rolled back savepoint keeps the outer transaction's work; depth tracking.
#[test]
fn b16_b19_nested_rollback_keeps_outer_work() {
    each(async |db, engine| {
        let mut conn = engine.connect().await.expect("connect");
        let t = make_table(db, &mut conn, "b16").await;
        assert!(!conn.in_transaction());
        let mut tx = conn.begin().await.expect("begin");
        assert!(tx.is_active() && !tx.is_nested());
        assert_eq!(tx.transaction_depth(), 1);
        insert_n(db, &mut tx, &t, [1]).await;
        {
            let mut sp = tx.begin_nested().await.expect("savepoint");
            assert!(sp.is_nested());
            assert!(sp.in_nested_transaction());
            assert_eq!(sp.transaction_depth(), 2);
            insert_n(db, &mut sp, &t, [2]).await;
            sp.rollback().await.expect("rollback savepoint");
        }
        assert!(!tx.in_nested_transaction());
        assert_eq!(tx.transaction_depth(), 1);
        {
            let mut sp = tx.begin_nested().await.expect("savepoint 2");
            insert_n(db, &mut sp, &t, [3]).await;
            sp.commit().await.expect("release");
        }
        tx.commit().await.expect("commit");
        assert!(!conn.in_transaction());
        let ns = column_n(&mut conn, &t).await;
        assert_eq!(ns, [1, 3]);
    });
}

/// B17: committing through the connection inside the transaction's scope closes it.
#[test]
fn b17_execute_after_commit_in_scope_is_closed_transaction() {
    each(async |db, engine| {
        let mut conn = engine.connect().await.expect("connect");
        let t = make_table(db, &mut conn, "b17").await;
        let mut tx = conn.begin().await.expect("begin");
        insert_n(db, &mut tx, &t, [1]).await;
        tx.connection()
            .commit()
            .await
            .expect("commit through the connection");
        assert!(!tx.is_active());
        let err = tx
            .exec_driver_sql(&format!("SELECT n FROM {t}"), &[])
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ResourceClosed);
        assert!(
            err.message().contains("closed transaction"),
            "{}",
            err.message()
        );
        let err = tx.commit().await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ResourceClosed);
        // After the scope ends the connection works again, and the row was committed.
        assert_eq!(count(db, &mut conn, &t).await, 1);
    });
}

/// B18 by construction: a dropped, un-ended transaction is rolled back by the connection's
/// next operation; the connection stays usable.
#[test]
fn b18_dropped_transaction_rolls_back_on_next_operation() {
    each(async |db, engine| {
        let mut conn = engine.connect().await.expect("connect");
        let t = make_table(db, &mut conn, "b18").await;
        {
            let mut tx = conn.begin().await.expect("begin");
            insert_n(db, &mut tx, &t, [1, 2]).await;
            // dropped without commit
        }
        assert!(
            conn.in_transaction(),
            "the rollback is deferred, not done in Drop"
        );
        assert_eq!(count(db, &mut conn, &t).await, 0);
        conn.rollback().await.expect("rollback");
        // A dropped savepoint rolls back only to itself.
        let mut tx = conn.begin().await.expect("begin");
        insert_n(db, &mut tx, &t, [1]).await;
        {
            let mut sp = tx.begin_nested().await.expect("sp");
            insert_n(db, &mut sp, &t, [2]).await;
        }
        insert_n(db, &mut tx, &t, [3]).await;
        tx.commit().await.expect("commit");
        let ns = column_n(&mut conn, &t).await;
        assert_eq!(ns, [1, 3]);
    });
}

/// C41–C42 for rows on the buffered result and on a stream.
#[test]
fn c41_c42_one_on_buffered_and_streamed_rows() {
    each(async |db, engine| {
        let mut conn = engine.connect().await.expect("connect");
        let t = make_table(db, &mut conn, "c41").await;
        insert_n(db, &mut conn, &t, [1, 2]).await;
        let q = |w: &str| db.sql(&format!("SELECT n FROM {t} WHERE {w} ORDER BY n"));

        let e = conn
            .exec_driver_sql(&q("n > 5"), &[])
            .await
            .expect("q")
            .one()
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NoResultFound);
        let e = conn
            .exec_driver_sql(&q("n > 0"), &[])
            .await
            .expect("q")
            .one()
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::MultipleResultsFound);
        let row = conn
            .exec_driver_sql(&q("n = 2"), &[])
            .await
            .expect("q")
            .one()
            .expect("one");
        assert_eq!(row.get::<i64>("n").expect("n"), 2);
        assert!(
            conn.exec_driver_sql(&q("n > 5"), &[])
                .await
                .expect("q")
                .one_or_none()
                .expect("ok")
                .is_none()
        );
        assert!(
            conn.exec_driver_sql(&q("n > 5"), &[])
                .await
                .expect("q")
                .first()
                .is_none()
        );

        let e = conn
            .stream_driver_sql(&q("n > 5"), &[])
            .await
            .expect("s")
            .one()
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NoResultFound);
        let e = conn
            .stream_driver_sql(&q("n > 0"), &[])
            .await
            .expect("s")
            .one()
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::MultipleResultsFound);
        let row = conn
            .stream_driver_sql(&q("n = 1"), &[])
            .await
            .expect("s")
            .one()
            .await
            .expect("one");
        assert_eq!(row.get::<i64>(0).expect("n"), 1);
    });
}

/// stream(): partitions / yield_per give chunks of n; a Stream of rows sees every row once.
#[test]
fn stream_partitions_and_rows() {
    each(async |db, engine| {
        let mut conn = engine.connect().await.expect("connect");
        let t = make_table(db, &mut conn, "stream").await;
        insert_n(db, &mut conn, &t, 0..25).await;
        let sql = format!("SELECT n FROM {t} ORDER BY n");

        let parts: Vec<Vec<i64>> = conn
            .stream_driver_sql(&sql, &[])
            .await
            .expect("stream")
            .partitions(10)
            .map(|p| {
                p.expect("part")
                    .iter()
                    .map(|r| r.get::<i64>(0).expect("n"))
                    .collect()
            })
            .collect()
            .await;
        assert_eq!(parts.iter().map(Vec::len).collect::<Vec<_>>(), [10, 10, 5]);
        assert_eq!(parts.concat(), (0..25).collect::<Vec<i64>>());

        let mut res = conn
            .stream_driver_sql(&sql, &[])
            .await
            .expect("stream")
            .yield_per(7);
        assert_eq!(res.columns(), ["n"]);
        assert_eq!(res.fetchmany(7).await.expect("chunk").len(), 7);
        let rest: Vec<i64> = res
            .scalars::<i64>()
            .map(|r| r.expect("row"))
            .collect()
            .await;
        assert_eq!(rest, (7..25).collect::<Vec<i64>>());

        let all = conn
            .stream_driver_sql(&sql, &[])
            .await
            .expect("stream")
            .all()
            .await
            .expect("all");
        assert_eq!(all.len(), 25);
        // The connection is usable again once the stream is gone.
        assert_eq!(count(db, &mut conn, &t).await, 25);
    });
}

/// B24: an engine created on one runtime/thread is used from another runtime on another thread.
#[test]
fn b24_engine_used_from_another_runtime_and_thread() {
    for db in backends::all() {
        let engine = rt().block_on(async {
            let engine = db.async_engine();
            let mut conn = engine.connect().await.expect("connect");
            let n: i64 = conn
                .exec_driver_sql("SELECT 1", &[])
                .await
                .expect("q")
                .scalar()
                .expect("s");
            assert_eq!(n, 1);
            engine
        });
        let n = std::thread::spawn(move || {
            rt().block_on(async {
                let mut conn = engine.connect().await.expect("connect");
                conn.exec_driver_sql("SELECT 2", &[])
                    .await
                    .expect("q")
                    .scalar::<i64>()
                    .expect("s")
            })
        })
        .join()
        .expect("thread");
        assert_eq!(n, 2);
    }
}

/// MissingGreenlet: sync PostgreSQL IO attempted inside a runtime outside a greenlet.
#[test]
fn missing_greenlet_for_sync_io_outside_the_bridge() {
    let Some(db) = backends::postgres() else {
        return;
    };
    rt().block_on(async {
        let engine = db.async_engine();
        let mut conn = engine.connect().await.expect("connect");
        let err = conn
            .sync_connection_mut()
            .exec_driver_sql("SELECT 1", &[])
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::MissingGreenlet);
        assert!(
            err.message().contains("greenlet_spawn"),
            "{}",
            err.message()
        );
        // Through the bridge the same connection works.
        let n: i64 = conn
            .run_sync(|c| c.exec_driver_sql("SELECT 3", &[])?.scalar())
            .await
            .expect("run_sync");
        assert_eq!(n, 3);
    });
}

/// Buffered result accessors: columns, rows_affected, mappings.
#[test]
fn buffered_result_accessors() {
    each(async |db, engine| {
        let mut conn = engine.connect().await.expect("connect");
        let t = make_table(db, &mut conn, "buf").await;
        insert_n(db, &mut conn, &t, [1, 2, 3]).await;
        let upd = conn
            .exec_driver_sql(
                &db.sql(&format!("UPDATE {t} SET n = n + 10 WHERE n >= ?")),
                &[2.into()],
            )
            .await
            .expect("update");
        assert_eq!(upd.rows_affected(), Some(2));
        assert!(!upd.returns_rows());
        let res = conn
            .exec_driver_sql(&format!("SELECT id, n FROM {t} ORDER BY n"), &[])
            .await
            .expect("q");
        assert_eq!(res.columns(), ["id", "n"]);
        assert_eq!(res.len(), 3);
        let maps = res.mappings();
        assert_eq!(maps[2].get("n"), Some(&calcine_sql::Value::from(13i64)));
        conn.rollback().await.expect("rollback");
        assert_eq!(count(db, &mut conn, &t).await, 0);
        conn.close().await;
    });
}

// B25: a custom async creator is called once per new connection, with no arguments.
#[test]
fn b25_async_creator_called_once_per_new_connection() {
    let Some(db) = backends::postgres() else {
        return;
    };
    let calls = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let c = calls.clone();
    // The creator connects with its own parameters (the URL's schema option included).
    let url: calcine_engine::Url = db.url.parse().unwrap();
    let mut config = tokio_postgres::Config::new();
    config
        .host(url.host().unwrap())
        .port(url.port().unwrap())
        .user(url.username().unwrap())
        .dbname(url.database().unwrap());
    let engine = AsyncEngine::builder("postgresql://ignored@nowhere/none")
        .pool_size(2)
        .async_creator(move || {
            c.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let config = config.clone();
            async move { config.connect(tokio_postgres::NoTls).await }
        })
        .build()
        .unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut a = engine.connect().await.unwrap();
        let mut b = engine.connect().await.unwrap();
        let x: i64 = a
            .exec_driver_sql("SELECT 1::BIGINT", &[])
            .await
            .unwrap()
            .scalar()
            .unwrap();
        let y: i64 = b
            .exec_driver_sql("SELECT 2::BIGINT", &[])
            .await
            .unwrap()
            .scalar()
            .unwrap();
        assert_eq!((x, y), (1, 2));
        a.close().await;
        b.close().await;
        assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 2);
        // Pooled connections are reused: no new calls.
        let mut c2 = engine.connect().await.unwrap();
        let _: i64 = c2
            .exec_driver_sql("SELECT 3::BIGINT", &[])
            .await
            .unwrap()
            .scalar()
            .unwrap();
        c2.close().await;
        assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 2);
    });
}

/// `AsyncConnection::execute` takes a statement by value as well as by reference: a
/// multi-row INSERT given by value lands every row.
#[test]
fn execute_takes_statements_by_value() {
    each(async |db, engine| {
        let mut conn = engine.connect().await.expect("connect");
        let t = make_table(db, &mut conn, "byvalue").await;
        let table = MetaData::new()
            .add(
                Table::new(t.as_str())
                    .column(Column::new("id", SqlType::Integer).primary_key())
                    .column(Column::new("n", SqlType::Integer).not_null()),
            )
            .expect("table");
        let stmt = calcine_sql::insert(&table)
            .values_many((1..=3).map(|n| [("n", calcine_sql::Value::from(n))]))
            .expect("values");
        let r = conn.execute(stmt).await.expect("insert by value");
        assert_eq!(r.rows_affected(), Some(3), "{}", db.name);
        let again = calcine_sql::insert(&table)
            .values([("n", calcine_sql::Value::from(4))])
            .expect("values");
        conn.execute(&again).await.expect("insert by reference");
        assert_eq!(column_n(&mut conn, &t).await, [1, 2, 3, 4], "{}", db.name);
    });
}
