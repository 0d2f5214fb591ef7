//! PostgreSQL specifics: the three places `await_` runs (fn main, inside a greenlet, inside a
//! runtime outside a greenlet), disconnect handling and pre-ping (D46 at engine level), and an
//! engine outliving the runtimes that used it (B24).

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

#[path = "support/backends.rs"]
mod support;

use std::time::Duration;

use calcine_engine::Engine;

fn pid(conn: &mut calcine_engine::Connection) -> i32 {
    conn.exec_driver_sql("SELECT pg_backend_pid()", &[])
        .unwrap()
        .scalar()
        .unwrap()
}

fn terminate(url: &str, pid: i32) {
    let killer = calcine_engine::create_engine(url).unwrap();
    let mut k = killer.connect().unwrap();
    let ok: bool = k
        .exec_driver_sql("SELECT pg_terminate_backend($1)", &[pid.into()])
        .unwrap()
        .scalar()
        .unwrap();
    assert!(ok);
    // Give the server a moment to close the socket.
    std::thread::sleep(Duration::from_millis(100));
}

#[test]
fn works_in_fn_main_inside_greenlet_spawn_and_refuses_outside_a_greenlet() {
    let Some(db) = support::postgres() else {
        return;
    };
    let engine = db.engine();
    // Plain sync code: the bridge drives the driver on its own runtime.
    assert_eq!(
        engine
            .connect()
            .unwrap()
            .exec_driver_sql("SELECT 1", &[])
            .unwrap()
            .scalar::<i32>()
            .unwrap(),
        1
    );
    let rt = support::runtime();
    rt.block_on(async {
        // Inside a greenlet: every driver call suspends the coroutine and is awaited here.
        let e = engine.clone();
        let n = calcine_greenlet::greenlet_spawn(move || {
            let mut conn = e.connect()?;
            let a: i64 = conn
                .exec_driver_sql("SELECT $1::int8 * 2", &[21.into()])?
                .scalar()?;
            Ok::<_, calcine_engine::Error>(a)
        })
        .await
        .unwrap();
        assert_eq!(n, 42);
        // Outside a greenlet, inside a runtime: a typed MissingGreenlet error, no blocking.
        // (A pooled connection is idle now; executing on it needs IO.)
        let mut conn = engine.connect().unwrap();
        let e = conn.exec_driver_sql("SELECT 1", &[]).unwrap_err();
        assert!(e.is_missing_greenlet(), "{e:?}");
        assert!(
            e.to_string().contains("greenlet_spawn has not been called"),
            "{e}"
        );
    });
    // The same engine, later, from plain sync code on another thread.
    let e = engine.clone();
    std::thread::spawn(move || {
        assert_eq!(
            e.connect()
                .unwrap()
                .exec_driver_sql("SELECT 2", &[])
                .unwrap()
                .scalar::<i32>()
                .unwrap(),
            2
        );
    })
    .join()
    .unwrap();
}

#[test]
fn engine_outlives_the_runtimes_that_used_it() {
    let Some(db) = support::postgres() else {
        return;
    };
    let engine = db.builder().pool_size(2).build().unwrap();
    for round in 0..3 {
        // A fresh multi-thread runtime each round; connections opened in earlier rounds keep
        // working after their runtime is gone.
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let e = engine.clone();
        let n: i64 = rt
            .block_on(async move {
                let local = tokio::task::LocalSet::new();
                local
                    .run_until(calcine_greenlet::greenlet_spawn(move || {
                        let mut conn = e.connect()?;
                        conn.exec_driver_sql("SELECT $1::int8", &[round.into()])?
                            .scalar()
                    }))
                    .await
            })
            .unwrap();
        assert_eq!(n, round);
        drop(rt);
    }
    assert!(engine.pool_status().checked_in >= 1);
}

#[test]
fn a_disconnect_invalidates_the_connection_and_rollback_reconnects() {
    let Some(db) = support::postgres() else {
        return;
    };
    let engine = db.engine();
    let mut conn = engine.connect().unwrap();
    let first = pid(&mut conn);
    terminate(&db.url, first);
    let e = conn.exec_driver_sql("SELECT 1", &[]).unwrap_err();
    assert!(e.is_operational() && e.is_disconnect(), "{e:?}");
    // The transaction is invalid until rolled back (SQLAlchemy's rule).
    let e = conn.exec_driver_sql("SELECT 1", &[]).unwrap_err();
    assert!(
        e.is_invalid_request() && e.to_string().contains("rolled back"),
        "{e}"
    );
    assert!(conn.invalidated());
    conn.rollback().unwrap();
    let second = pid(&mut conn);
    assert_ne!(first, second, "a new connection was checked out");
    conn.commit().unwrap();
    drop(conn);
    assert_eq!(engine.pool_status().checked_out, 0);
}

#[test]
fn pre_ping_replaces_a_dead_idle_connection_and_the_disconnect_invalidates_the_pool() {
    let Some(db) = support::postgres() else {
        return;
    };
    // Without pre-ping, the dead idle connection fails the first statement with a disconnect;
    // the pool is invalidated, so the other idle connection is replaced too.
    let engine = db.builder().pool_size(2).build().unwrap();
    let (mut a, mut b) = (engine.connect().unwrap(), engine.connect().unwrap());
    let (pa, pb) = (pid(&mut a), pid(&mut b));
    drop((a, b));
    terminate(&db.url, pa);
    terminate(&db.url, pb);
    let mut failures = 0;
    for _ in 0..2 {
        let mut c = engine.connect().unwrap();
        if let Err(e) = c.exec_driver_sql("SELECT 1", &[]) {
            assert!(e.is_disconnect(), "{e:?}");
            failures += 1;
        }
    }
    assert_eq!(
        failures, 1,
        "only the first use fails; the pool replaced the rest"
    );
    let mut c = engine.connect().unwrap();
    let p = pid(&mut c);
    assert!(p != pa && p != pb);
    drop(c);

    // With pre-ping, the checkout itself notices and replaces it: no error at all.
    let engine = db
        .builder()
        .pool_size(1)
        .pool_pre_ping(true)
        .build()
        .unwrap();
    let mut a = engine.connect().unwrap();
    let pa = pid(&mut a);
    drop(a);
    terminate(&db.url, pa);
    let mut c = engine.connect().unwrap();
    let p = pid(&mut c);
    assert_ne!(p, pa);
}

#[test]
fn engine_is_send_and_sync_and_usable_from_many_threads_at_once() {
    let Some(db) = support::postgres() else {
        return;
    };
    let engine: Engine = db.builder().pool_size(4).max_overflow(0).build().unwrap();
    let threads: Vec<_> = (0..8)
        .map(|i| {
            let engine = engine.clone();
            std::thread::spawn(move || {
                for j in 0..20i64 {
                    let mut c = engine.connect().unwrap();
                    let v: i64 = c
                        .exec_driver_sql("SELECT $1::int8 + $2::int8", &[i.into(), j.into()])
                        .unwrap()
                        .scalar()
                        .unwrap();
                    assert_eq!(v, i + j);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let s = engine.pool_status();
    assert_eq!(s.checked_out, 0);
    assert!(s.checked_in <= 4);
}

/// The server-side state of backend `pid` (`pg_stat_activity.state`).
fn backend_state(url: &str, pid: i32) -> String {
    let probe = calcine_engine::create_engine(url).unwrap();
    let mut c = probe.connect().unwrap();
    c.exec_driver_sql(
        "SELECT state FROM pg_stat_activity WHERE pid = $1",
        &[pid.into()],
    )
    .unwrap()
    .scalar()
    .unwrap()
}

#[test]
fn reset_on_return_ends_the_transaction_at_once_without_waiting_for_its_reply() {
    let Some(db) = support::postgres() else {
        return;
    };
    let engine = db.builder().pool_size(1).build().unwrap();
    let t = db.int_table(&engine, "reset_pipelined");
    let mut conn = engine.connect().unwrap();
    let first = pid(&mut conn);
    conn.exec_driver_sql(&format!("INSERT INTO {t} VALUES (1)"), &[])
        .unwrap();
    assert!(conn.in_transaction());
    drop(conn); // reset on return: ROLLBACK sent, reply not read yet

    // The server ended the transaction: the row is gone, the table's locks are released (an
    // ALTER TABLE from another engine would wait on them), the backend is idle.
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(backend_state(&db.url, first), "idle");
    let other = calcine_engine::create_engine(&db.url).unwrap();
    other
        .begin(|c| {
            c.exec_driver_sql("SET LOCAL lock_timeout = '2s'", &[])?;
            c.exec_driver_sql(&format!("ALTER TABLE {t} ADD COLUMN y INTEGER"), &[])
                .map(drop)
        })
        .unwrap();

    // The same pooled connection serves the next unit of work; its first request collects the
    // ROLLBACK's reply.
    let mut conn = engine.connect().unwrap();
    let n = support::count_rows(&mut conn, &t);
    assert_eq!(n, 0);
    assert_eq!(pid(&mut conn), first, "the pooled connection was reused");
    conn.exec_driver_sql(&format!("INSERT INTO {t} VALUES (2, 2)"), &[])
        .unwrap();
    conn.commit().unwrap();
    drop(conn);
    let n = support::count_rows(&mut engine.connect().unwrap(), &t);
    assert_eq!(n, 1, "the committed row stays");

    // The reset does no blocking IO: a connection can go back to the pool from async code
    // outside any greenlet (where a blocking ROLLBACK would be refused and the connection
    // closed instead) and is reused.
    let rt = support::runtime();
    rt.block_on(async {
        let e = engine.clone();
        let t2 = t.clone();
        let (conn, p) = calcine_greenlet::greenlet_spawn(move || {
            let mut conn = e.connect().unwrap();
            conn.exec_driver_sql(&format!("INSERT INTO {t2} VALUES (3, 3)"), &[])
                .unwrap();
            let p = pid(&mut conn);
            (conn, p)
        })
        .await;
        assert!(conn.in_transaction());
        drop(conn);
        assert_eq!(engine.pool_status().checked_in, 1, "returned, not closed");
        let e = engine.clone();
        let (again, n) = calcine_greenlet::greenlet_spawn(move || {
            let mut conn = e.connect().unwrap();
            let n = support::count_rows(&mut conn, &t);
            (pid(&mut conn), n)
        })
        .await;
        assert_eq!((again, n), (p, 1), "same connection, insert rolled back");
    });
}

#[test]
fn a_failed_pipelined_reset_fails_the_next_use_as_a_disconnect_and_pre_ping_replaces_it() {
    let Some(db) = support::postgres() else {
        return;
    };
    for pre_ping in [false, true] {
        let engine = db
            .builder()
            .pool_size(1)
            .pool_pre_ping(pre_ping)
            .build()
            .unwrap();
        let mut conn = engine.connect().unwrap();
        let first = pid(&mut conn);
        assert!(conn.in_transaction());
        terminate(&db.url, first);
        drop(conn); // the reset's ROLLBACK cannot succeed
        let mut conn = engine.connect().unwrap();
        let r = conn.exec_driver_sql("SELECT 1", &[]).map(drop);
        match r {
            Ok(()) => {
                // The pool noticed at checkout (pre-ping, or the reset failed at once).
                assert_ne!(pid(&mut conn), first);
            }
            Err(e) => {
                assert!(!pre_ping, "pre-ping must replace the connection: {e:?}");
                assert!(e.is_disconnect(), "{e:?}");
                conn.rollback().unwrap();
                assert_ne!(
                    pid(&mut conn),
                    first,
                    "a new connection after the disconnect"
                );
            }
        }
    }
}

/// A statement refused with MissingGreenlet (async code calling sync IO outside `run_sync`)
/// sends nothing, and must not lose the transaction's deferred `BEGIN` either: the next
/// statements, run properly, are still inside the transaction, and a rollback undoes them.
#[test]
fn missing_greenlet_keeps_the_deferred_begin() {
    let Some(db) = support::postgres() else {
        return;
    };
    let engine = db.engine();
    let t = db.int_table(&engine, "lost_begin");
    let rt = support::runtime();
    rt.block_on(async {
        let e = engine.clone();
        let sql = format!("SELECT count(*) FROM {t}");
        let check = sql.clone();
        // Prepare the statement and end that transaction: the next statement autobegins, and
        // its `BEGIN` waits to go out with it.
        let mut c = calcine_greenlet::greenlet_spawn(move || {
            let mut c = e.connect()?;
            c.exec_driver_sql(&check, &[])?;
            c.commit()?;
            Ok::<_, calcine_engine::Error>(c)
        })
        .await
        .unwrap();
        // Outside a greenlet: refused before anything is sent.
        let err = c.exec_driver_sql(&sql, &[]).unwrap_err();
        assert!(err.is_missing_greenlet(), "{err:?}");
        let t2 = t.clone();
        calcine_greenlet::greenlet_spawn(move || {
            c.exec_driver_sql(&format!("INSERT INTO {t2} (x) VALUES (1)"), &[])?;
            c.rollback()
        })
        .await
        .unwrap();
    });
    let mut c = engine.connect().unwrap();
    assert_eq!(
        support::count_rows(&mut c, &t),
        0,
        "the INSERT ran outside a transaction and survived the rollback"
    );
}
