//! Autocommit mode (SQLAlchemy's `isolation_level="AUTOCOMMIT"`): no `BEGIN` is sent, each
//! statement commits on its own, statements a transaction cannot hold run, and the transaction
//! API stays a bracket that ends only what the database itself has open. On every backend.

#![allow(clippy::unwrap_used, missing_docs)]

use calcine_engine::{Engine, ErrorKind};
use calcine_orm::{Model, Session};
use calcine_testsuite::{Db, count_rows, each_backend};

#[derive(Model, Debug, Clone, PartialEq)]
#[calcine(table = "ac_items", crate = "calcine_orm")]
struct Item {
    #[calcine(primary_key)]
    id: Option<i64>,
    name: String,
}

fn autocommit_engine(db: &Db) -> Engine {
    db.builder().autocommit(true).build().unwrap()
}

fn insert_one(conn: &mut calcine_engine::Connection, db: &Db, t: &str) {
    conn.exec_driver_sql(
        &db.sql(&format!("INSERT INTO {t} (x) VALUES (?)")),
        &[1.into()],
    )
    .unwrap();
}

#[test]
fn each_statement_commits_on_its_own_and_rollback_undoes_nothing() {
    each_backend(|db| {
        // The default mode first: the autobegun transaction is rolled back.
        let engine = db.engine();
        let t = db.int_table(&engine, "ac_default");
        let mut conn = engine.connect().unwrap();
        insert_one(&mut conn, db, &t);
        conn.rollback().unwrap();
        assert_eq!(count_rows(&mut conn, &t), 0, "{}", db.name);
        drop(conn);

        let engine = autocommit_engine(db);
        let t = db.int_table(&engine, "ac_on");
        let mut conn = engine.connect().unwrap();
        assert!(conn.autocommit());
        insert_one(&mut conn, db, &t);
        conn.rollback().unwrap();
        // A guard rolled back does not undo its statements either.
        {
            let mut tx = conn.begin().unwrap();
            insert_one(&mut tx, db, &t);
        }
        assert_eq!(count_rows(&mut conn, &t), 2, "{}", db.name);
        conn.commit().unwrap();
        drop(conn);
        // Seen from a new connection (another one of the pool, where there is a pool).
        let mut other = engine.connect().unwrap();
        assert_eq!(count_rows(&mut other, &t), 2, "{}", db.name);
    });
}

#[test]
fn statements_no_transaction_may_hold_run_in_autocommit_mode() {
    each_backend(|db| {
        let engine = db.engine();
        let t = db.int_table(&engine, "ac_vacuum");
        let vacuum = if db.pg {
            format!("VACUUM {t}")
        } else {
            "VACUUM".to_owned()
        };
        let mut conn = engine.connect().unwrap();
        let err = conn.exec_driver_sql(&vacuum, &[]).unwrap_err();
        let msg = err.to_string().to_lowercase();
        assert!(msg.contains("transaction"), "{}: {err}", db.name);
        conn.rollback().unwrap();

        let engine = autocommit_engine(db);
        let mut conn = engine.connect().unwrap();
        conn.exec_driver_sql(&vacuum, &[]).unwrap();
        conn.exec_driver_sql(&vacuum, &[]).unwrap();
    });
}

#[test]
fn the_mode_is_per_connection_and_never_changes_inside_a_transaction() {
    each_backend(|db| {
        let engine = db.engine();
        let t = db.int_table(&engine, "ac_switch");
        let mut conn = engine.connect().unwrap();
        assert!(!conn.autocommit());
        insert_one(&mut conn, db, &t);
        let err = conn.set_autocommit(true).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidRequest, "{}", db.name);
        assert!(!conn.autocommit());
        // Setting the mode it already has is no change.
        conn.set_autocommit(false).unwrap();
        conn.rollback().unwrap();
        conn.set_autocommit(true).unwrap();
        insert_one(&mut conn, db, &t);
        conn.rollback().unwrap();
        assert_eq!(count_rows(&mut conn, &t), 1, "{}", db.name);
        conn.commit().unwrap();
        drop(conn);
        // The next connection starts with the engine's mode again.
        let mut conn = engine.connect().unwrap();
        assert!(!conn.autocommit());
        insert_one(&mut conn, db, &t);
        conn.rollback().unwrap();
        assert_eq!(count_rows(&mut conn, &t), 1, "{}", db.name);
    });
}

#[test]
fn a_session_on_an_autocommit_engine_writes_and_commits() {
    each_backend(|db| {
        let engine = autocommit_engine(db);
        engine
            .begin(|c| {
                c.exec_driver_sql(
                    &format!(
                        "CREATE TABLE ac_items (id {}, name TEXT NOT NULL)",
                        db.id_type()
                    ),
                    &[],
                )
                .map(drop)
            })
            .unwrap();
        let mut s = Session::new(&engine);
        let a = s.add(Item {
            id: None,
            name: "a".into(),
        });
        // `commit` sends the flush's last INSERT with nothing behind it (on PostgreSQL it
        // would otherwise pipeline a COMMIT there is no transaction for).
        s.commit().unwrap();
        assert!(a.read().unwrap().id.is_some(), "{}", db.name);
        s.add(Item {
            id: None,
            name: "b".into(),
        });
        s.flush().unwrap();
        // Flushed in autocommit mode: already committed, a rollback keeps it.
        s.rollback().unwrap();
        let mut conn = engine.connect().unwrap();
        assert_eq!(count_rows(&mut conn, "ac_items"), 2, "{}", db.name);
    });
}

#[test]
fn a_savepoint_on_sqlite_opens_a_transaction_that_the_bracket_then_ends() {
    let db = calcine_testsuite::sqlite_file();
    let engine = autocommit_engine(&db);
    let t = db.int_table(&engine, "ac_savepoint");
    let mut conn = engine.connect().unwrap();
    {
        // SQLite begins a transaction for a SAVEPOINT outside one; undoing the savepoint
        // undoes its work, and the root's rollback ends the transaction.
        let nested = conn.begin_nested().unwrap();
        let mut nested = nested;
        insert_one(&mut nested, &db, &t);
        nested.rollback().unwrap();
    }
    insert_one(&mut conn, &db, &t);
    conn.commit().unwrap();
    let mut other = engine.connect().unwrap();
    assert_eq!(count_rows(&mut other, &t), 1);
}

#[test]
fn an_autocommit_engine_shares_the_pool_of_the_engine_it_comes_from() {
    each_backend(|db| {
        let engine = db.engine();
        let t = db.int_table(&engine, "ac_shared");
        let ac = engine.with_autocommit(true);
        assert!(ac.autocommit() && !engine.autocommit());
        let mut conn = ac.connect().unwrap();
        assert!(conn.autocommit());
        insert_one(&mut conn, db, &t);
        conn.rollback().unwrap();
        drop(conn);
        // One pool: the connection went back to the engine's own, its statement committed.
        assert_eq!(engine.pool_status().checked_out, 0, "{}", db.name);
        let mut conn = engine.connect().unwrap();
        assert!(!conn.autocommit());
        assert_eq!(count_rows(&mut conn, &t), 1, "{}", db.name);
        insert_one(&mut conn, db, &t);
        conn.rollback().unwrap();
        assert_eq!(count_rows(&mut conn, &t), 1, "{}", db.name);
    });
}
