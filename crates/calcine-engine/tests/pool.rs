//! The pool (acceptance B21–B23, reset on return, recycle, pre-ping, disconnects) and use of one
//! engine from several threads (B24).

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

#[path = "support/backends.rs"]
mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

#[test]
fn exhausted_pool_times_out_with_a_typed_error() {
    let mut dbs = support::pooled();
    dbs.push(support::sqlite_memory());
    for db in dbs {
        let engine = db
            .builder()
            .pool_size(1)
            .max_overflow(0)
            .pool_timeout(Duration::from_millis(150))
            .build()
            .unwrap();
        let held = engine.connect().unwrap();
        let start = Instant::now();
        let e = engine.connect().unwrap_err();
        assert!(e.is_timeout(), "{}: {e:?}", db.name);
        assert!(start.elapsed() >= Duration::from_millis(150));
        assert!(
            e.to_string()
                .contains("QueuePool limit of size 1 overflow 0"),
            "{e}"
        );
        assert_eq!(engine.pool_status().checked_out, 1);
        // A waiter gets the connection as soon as it is returned.
        let e2 = engine.clone();
        let waiter = std::thread::spawn(move || e2.connect().map(drop));
        std::thread::sleep(Duration::from_millis(30));
        drop(held);
        waiter.join().unwrap().unwrap();
        assert_eq!(engine.pool_status().checked_out, 0, "{}", db.name);
    }
}

#[test]
fn overflow_connections_are_closed_on_return() {
    for db in support::pooled() {
        let engine = db
            .builder()
            .pool_size(1)
            .max_overflow(2)
            .pool_timeout(Duration::from_millis(50))
            .build()
            .unwrap();
        let a = engine.connect().unwrap();
        let b = engine.connect().unwrap();
        let c = engine.connect().unwrap();
        let s = engine.pool_status();
        assert_eq!((s.checked_out, s.overflow), (3, 2), "{}", db.name);
        assert!(
            engine.connect().unwrap_err().is_timeout(),
            "the limit is 1 + 2"
        );
        drop((a, b, c));
        let s = engine.pool_status();
        assert_eq!(
            (s.checked_out, s.checked_in, s.overflow),
            (0, 1, 0),
            "{}",
            db.name
        );
    }
}

#[test]
fn dispose_closes_idle_connections_and_later_checkouts_work() {
    for db in support::pooled() {
        let engine = db.engine();
        let t = db.int_table(&engine, "b22");
        drop((engine.connect().unwrap(), engine.connect().unwrap()));
        assert_eq!(engine.pool_status().checked_in, 2);
        let outstanding = engine.connect().unwrap();
        engine.dispose();
        let s = engine.pool_status();
        assert_eq!(
            (s.checked_in, s.checked_out),
            (0, 0),
            "{}: fresh pool",
            db.name
        );
        // The connection checked out before dispose is closed on return, not added to the new pool.
        drop(outstanding);
        assert_eq!(engine.pool_status().checked_in, 0);
        let mut conn = engine.connect().unwrap();
        let n = support::count_rows(&mut conn, &t);
        assert_eq!(n, 0);
        drop(conn);
        assert_eq!(engine.pool_status().checked_in, 1, "{}", db.name);
    }
}

#[test]
fn in_memory_sqlite_shares_one_connection_and_dispose_replaces_it() {
    let engine = calcine_engine::create_engine("sqlite://").unwrap();
    engine
        .begin(|c| {
            c.exec_driver_sql("CREATE TABLE t (x INTEGER)", &[])
                .map(drop)
        })
        .unwrap();
    // Another checkout (even from another thread) sees the same database.
    let e2 = engine.clone();
    let n = std::thread::spawn(move || {
        e2.connect()
            .unwrap()
            .exec_driver_sql("SELECT count(*) FROM t", &[])
            .unwrap()
            .scalar::<i64>()
            .unwrap()
    })
    .join()
    .unwrap();
    assert_eq!(n, 0);
    assert_eq!(engine.pool_status().size, 1);
    engine.dispose();
    let e = engine
        .connect()
        .unwrap()
        .exec_driver_sql("SELECT count(*) FROM t", &[])
        .unwrap_err();
    assert!(e.to_string().contains("no such table"), "{e}");
}

#[test]
fn a_connection_returned_inside_a_transaction_is_rolled_back() {
    for db in support::all() {
        let engine = db.engine();
        let t = db.int_table(&engine, "reset");
        {
            let mut conn = engine.connect().unwrap();
            conn.exec_driver_sql(&db.sql(&format!("INSERT INTO {t} VALUES (?)")), &[1.into()])
                .unwrap();
            assert!(conn.in_transaction());
        }
        let s = engine.pool_status();
        assert_eq!(
            (s.checked_out, s.checked_in),
            (0, 1),
            "{}: returned, not discarded",
            db.name
        );
        let n = support::count_rows(&mut engine.connect().unwrap(), &t);
        assert_eq!(n, 0, "{}", db.name);
    }
}

#[test]
fn a_connection_dropped_mid_operation_is_closed_its_slot_freed_and_a_warning_logged() {
    for db in support::all() {
        let engine = db
            .builder()
            .pool_size(1)
            .max_overflow(0)
            .pool_timeout(Duration::from_secs(2))
            .build()
            .unwrap();
        let t = db.int_table(&engine, "b23");
        let sub = support::Captured::default();
        let seen = sub.clone();
        let e2 = engine.clone();
        let ins = db.sql(&format!("INSERT INTO {t} VALUES (?)"));
        let joined = std::thread::spawn(move || {
            tracing::subscriber::with_default(sub, || {
                let mut conn = e2.connect().unwrap();
                let mut rows = conn.exec_driver_sql(&ins, &[7.into()]).unwrap();
                let _ = rows.next_row();
                panic!("dropped mid-operation");
            })
        })
        .join();
        assert!(joined.is_err());
        assert_eq!(
            engine.pool_status().checked_out,
            0,
            "{}: slot freed",
            db.name
        );
        let warnings: Vec<String> = seen
            .events()
            .into_iter()
            .filter(|e| e.level == tracing::Level::WARN)
            .map(|e| e.message)
            .collect();
        assert_eq!(warnings.len(), 1, "{}: {warnings:?}", db.name);
        let expected = if db.memory {
            "rolling back the shared"
        } else {
            "closing it instead"
        };
        assert!(warnings[0].contains(expected), "{warnings:?}");
        // In memory the one shared connection is rolled back and kept (closing it would discard
        // the database); elsewhere it is closed and a new one opened.
        let n = support::count_rows(&mut engine.connect().unwrap(), &t);
        assert_eq!(n, 0, "{}: the uncommitted insert is gone", db.name);
        let s = engine.pool_status();
        assert_eq!((s.checked_out, s.checked_in), (0, 1), "{}", db.name);
    }
}

#[test]
fn pool_recycle_replaces_old_connections() {
    for db in support::pooled() {
        for (recycle, survives) in [(None, true), (Some(Duration::ZERO), false)] {
            let mut b = db.builder().pool_size(1);
            if let Some(r) = recycle {
                b = b.pool_recycle(r);
            }
            let engine = b.build().unwrap();
            let t = db.table("tmp");
            let mut conn = engine.connect().unwrap();
            // A temporary table lives exactly as long as its connection.
            conn.exec_driver_sql(&format!("CREATE TEMPORARY TABLE {t} (x INTEGER)"), &[])
                .unwrap();
            conn.commit().unwrap();
            drop(conn);
            let mut conn = engine.connect().unwrap();
            let r = conn
                .exec_driver_sql(&format!("SELECT count(*) FROM {t}"), &[])
                .map(drop);
            assert_eq!(r.is_ok(), survives, "{} recycle={recycle:?}", db.name);
        }
    }
}

#[test]
fn several_threads_share_one_engine() {
    for db in support::pooled() {
        let engine = db.builder().pool_size(3).max_overflow(0).build().unwrap();
        let t = db.int_table(&engine, "b24");
        let ins = db.sql(&format!("INSERT INTO {t} VALUES (?)"));
        let threads: Vec<_> = (0..6)
            .map(|i| {
                let engine = engine.clone();
                let ins = ins.clone();
                std::thread::spawn(move || {
                    for j in 0..10i64 {
                        engine
                            .begin(|c| c.exec_driver_sql(&ins, &[(i * 100 + j).into()]).map(drop))
                            .unwrap();
                    }
                })
            })
            .collect();
        for th in threads {
            th.join().unwrap();
        }
        let n = support::count_rows(&mut engine.connect().unwrap(), &t);
        assert_eq!(n, 60, "{}", db.name);
        assert!(engine.pool_status().checked_in <= 3);
    }
}

/// A pool of exactly one connection that waits up to 10 s for it.
fn one_connection(db: &support::Db) -> calcine_engine::Engine {
    db.builder()
        .pool_size(1)
        .max_overflow(0)
        .pool_timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// Owners of successive checkouts when `tasks` greenlets on one thread share a pool of one
/// connection, each holding it across a suspension (`yield_now`, standing for IO) and asking
/// again right after returning it.
fn checkout_order(db: &support::Db, tasks: usize, rounds: usize) -> Vec<usize> {
    let engine = one_connection(db);
    let order = Arc::new(std::sync::Mutex::new(Vec::new()));
    let rt = support::runtime();
    let local = tokio::task::LocalSet::new();
    for t in 0..tasks {
        let (engine, order) = (engine.clone(), order.clone());
        local.spawn_local(async move {
            calcine_greenlet::greenlet_spawn(move || {
                for _ in 0..rounds {
                    let mut conn = engine.connect().unwrap();
                    order.lock().unwrap().push(t);
                    conn.exec_driver_sql("SELECT 1", &[]).unwrap();
                    calcine_greenlet::await_(tokio::task::yield_now()).unwrap();
                    drop(conn);
                }
            })
            .await;
        });
    }
    rt.block_on(local);
    assert_eq!(engine.pool_status().checked_out, 0);
    Arc::try_unwrap(order).unwrap().into_inner().unwrap()
}

#[test]
fn waiting_checkouts_are_served_first_come_first_served() {
    // Greenlets: a task that returns the connection and asks again at once must queue behind
    // the others (it used to take it straight back, starving them until they timed out).
    for db in support::pooled() {
        let order = checkout_order(&db, 4, 5);
        assert_eq!(order.len(), 20);
        let expected: Vec<usize> = (0..20).map(|i| i % 4).collect();
        assert_eq!(order, expected, "{}: round robin", db.name);
    }

    // Threads: the waiter gets the returned connection before the returner's next checkout.
    let db = support::sqlite_file();
    let engine = one_connection(&db);
    let held = engine.connect().unwrap();
    let seq = Arc::new(AtomicUsize::new(0));
    let (e2, s2) = (engine.clone(), seq.clone());
    let waiter = std::thread::spawn(move || {
        let conn = e2.connect().unwrap();
        let got = s2.fetch_add(1, Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(50));
        drop(conn);
        got
    });
    std::thread::sleep(Duration::from_millis(50));
    drop(held);
    let again = engine.connect().unwrap();
    let mine = seq.fetch_add(1, Ordering::SeqCst);
    assert_eq!(
        (waiter.join().unwrap(), mine),
        (0, 1),
        "the waiter went first"
    );
    drop(again);
}

#[test]
fn a_freed_slot_goes_to_the_oldest_waiter_and_dispose_wakes_waiters() {
    let db = support::sqlite_file();
    let engine = one_connection(&db);
    // Invalidating the held connection frees its slot: the waiter opens a new connection.
    let mut held = engine.connect().unwrap();
    let e2 = engine.clone();
    let waiter = std::thread::spawn(move || e2.connect().map(|c| c.invalidated()));
    std::thread::sleep(Duration::from_millis(50));
    held.invalidate();
    drop(held);
    assert!(!waiter.join().unwrap().unwrap(), "a fresh connection");
    assert_eq!(engine.pool_status().checked_out, 0);

    // Dispose answers a waiting checkout at once instead of leaving it to time out.
    let held = engine.connect().unwrap();
    let e2 = engine.clone();
    let start = Instant::now();
    let waiter = std::thread::spawn(move || e2.connect().map(drop));
    std::thread::sleep(Duration::from_millis(50));
    engine.dispose();
    let e = waiter.join().unwrap().unwrap_err();
    assert!(e.is_resource_closed(), "{e:?}");
    assert!(start.elapsed() < Duration::from_secs(5));
    drop(held);
}
