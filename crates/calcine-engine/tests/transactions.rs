//! Transactions and statement events (acceptance B15–B17, B19, B26).

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

#[path = "support/backends.rs"]
mod support;

use std::sync::{Arc, Mutex};

use calcine_engine::{Error, ErrorKind, ExecutePhase};
use calcine_sql::Value;

use support::count_rows as count;

#[test]
fn engine_begin_commits_on_ok_and_rolls_back_on_err() {
    for db in support::all() {
        let engine = db.engine();
        let t = db.int_table(&engine, "b15");
        let ins = db.sql(&format!("INSERT INTO {t} VALUES (?)"));
        engine
            .begin(|c| c.exec_driver_sql(&ins, &[1.into()]).map(drop))
            .unwrap();
        let r: Result<(), Error> = engine.begin(|c| {
            c.exec_driver_sql(&ins, &[2.into()])?;
            Err(Error::invalid_request("boom"))
        });
        assert_eq!(r.unwrap_err().message(), "boom", "{}", db.name);
        // A panic inside the closure rolls back too.
        let e2 = engine.clone();
        let ins2 = ins.clone();
        let panicked = std::thread::spawn(move || {
            e2.begin(|c| {
                c.exec_driver_sql(&ins2, &[3.into()])?;
                panic!("inside engine.begin");
                #[allow(unreachable_code)]
                Ok::<_, Error>(())
            })
        })
        .join();
        assert!(panicked.is_err());
        let mut conn = engine.connect().unwrap();
        let xs: Vec<i64> = conn
            .exec_driver_sql(&format!("SELECT x FROM {t}"), &[])
            .unwrap()
            .scalars()
            .all()
            .unwrap();
        assert_eq!(xs, [1], "{}", db.name);
        assert_eq!(engine.pool_status().checked_out, 1, "{}", db.name);
    }
}

#[test]
fn guard_commits_and_rolls_back_on_drop() {
    for db in support::all() {
        let engine = db.engine();
        let t = db.table("guard");
        let mut conn = engine.connect().unwrap();
        conn.exec_driver_sql(&format!("CREATE TABLE {t} (x INTEGER)"), &[])
            .unwrap();
        conn.commit().unwrap();
        let ins = db.sql(&format!("INSERT INTO {t} VALUES (?)"));
        {
            let mut tx = conn.begin().unwrap();
            tx.exec_driver_sql(&ins, &[10.into()]).unwrap();
            assert!(tx.is_active());
            tx.commit().unwrap();
        }
        {
            let mut tx = conn.begin().unwrap();
            tx.exec_driver_sql(&ins, &[20.into()]).unwrap();
            // dropped un-committed
        }
        assert!(!conn.in_transaction(), "{}", db.name);
        assert_eq!(count(&mut conn, &t), 1, "{}", db.name);
        // Autobegin: a statement begins a transaction that rollback() undoes.
        conn.rollback().unwrap();
        conn.exec_driver_sql(&ins, &[30.into()]).unwrap();
        assert!(conn.in_transaction());
        conn.rollback().unwrap();
        assert!(!conn.in_transaction());
        assert_eq!(count(&mut conn, &t), 1, "{}", db.name);
        // begin() while a transaction is already (auto)begun is refused.
        let e = conn.begin().unwrap_err();
        assert!(
            e.is_invalid_request() && e.to_string().contains("already begun"),
            "{e}"
        );
    }
}

#[test]
fn savepoint_rollback_keeps_outer_work_and_depth_is_tracked() {
    for db in support::all() {
        let engine = db.engine();
        let t = db.table("b16");
        let mut conn = engine.connect().unwrap();
        assert_eq!(
            (
                conn.in_transaction(),
                conn.in_nested_transaction(),
                conn.transaction_depth()
            ),
            (false, false, 0)
        );
        conn.exec_driver_sql(&format!("CREATE TABLE {t} (x INTEGER)"), &[])
            .unwrap();
        conn.commit().unwrap();
        let ins = db.sql(&format!("INSERT INTO {t} VALUES (?)"));
        let mut tx = conn.begin().unwrap();
        assert_eq!(
            (
                tx.in_transaction(),
                tx.in_nested_transaction(),
                tx.transaction_depth()
            ),
            (true, false, 1)
        );
        tx.exec_driver_sql(&ins, &[1.into()]).unwrap();
        {
            let mut sp = tx.begin_nested().unwrap();
            assert!(sp.is_nested());
            assert_eq!(
                (sp.in_nested_transaction(), sp.transaction_depth()),
                (true, 2)
            );
            sp.exec_driver_sql(&ins, &[2.into()]).unwrap();
            {
                let mut sp2 = sp.begin_nested().unwrap();
                assert_eq!(sp2.transaction_depth(), 3);
                sp2.exec_driver_sql(&ins, &[3.into()]).unwrap();
                sp2.commit().unwrap(); // RELEASE: 3 stays with sp
            }
            assert_eq!(sp.transaction_depth(), 2);
            sp.rollback().unwrap(); // undoes 2 and 3
        }
        assert_eq!(
            (tx.in_nested_transaction(), tx.transaction_depth()),
            (false, 1)
        );
        {
            let mut sp = tx.begin_nested().unwrap();
            sp.exec_driver_sql(&ins, &[4.into()]).unwrap();
            // dropped: rolls back to the savepoint only
        }
        {
            let mut sp = tx.begin_nested().unwrap();
            sp.exec_driver_sql(&ins, &[5.into()]).unwrap();
            sp.commit().unwrap();
        }
        tx.commit().unwrap();
        assert_eq!(conn.transaction_depth(), 0);
        let mut xs: Vec<i64> = conn
            .exec_driver_sql(&format!("SELECT x FROM {t}"), &[])
            .unwrap()
            .scalars()
            .all()
            .unwrap();
        xs.sort();
        assert_eq!(xs, [1, 5], "{}", db.name);
    }
}

#[test]
fn closed_transaction_inside_its_scope_is_a_typed_error() {
    for db in support::all() {
        let engine = db.engine();
        let t = db.int_table(&engine, "b17");
        let ins = db.sql(&format!("INSERT INTO {t} VALUES (?)"));
        // Closure form: commit through the connection, then execute.
        let r: Result<(), Error> = engine.begin(|c| {
            c.exec_driver_sql(&ins, &[1.into()])?;
            c.commit()?;
            c.exec_driver_sql(&ins, &[2.into()])?;
            Ok(())
        });
        let e = r.unwrap_err();
        assert!(e.is_resource_closed(), "{}: {e:?}", db.name);
        assert!(
            e.to_string()
                .to_lowercase()
                .contains("can't operate on closed transaction"),
            "{e}"
        );
        // Guard form.
        let mut conn = engine.connect().unwrap();
        {
            let mut tx = conn.begin().unwrap();
            tx.exec_driver_sql(&ins, &[3.into()]).unwrap();
            calcine_engine::Connection::commit(&mut tx).unwrap();
            assert!(!tx.is_active());
            let e = tx.exec_driver_sql(&ins, &[4.into()]).unwrap_err();
            assert!(e.is_resource_closed(), "{e:?}");
            let e = tx.begin_nested().unwrap_err();
            assert!(e.is_resource_closed(), "{e:?}");
            let e = tx.commit().unwrap_err();
            assert!(e.is_resource_closed(), "{e:?}");
        }
        // After the guard's scope the connection works again.
        let mut xs: Vec<i64> = conn
            .exec_driver_sql(&format!("SELECT x FROM {t}"), &[])
            .unwrap()
            .scalars()
            .all()
            .unwrap();
        xs.sort();
        assert_eq!(xs, [1, 3], "{}", db.name);
        // A closure that ends the transaction itself and returns Ok is fine.
        drop(conn); // (in-memory SQLite has one shared connection)
        engine
            .begin(|c| {
                c.exec_driver_sql(&ins, &[5.into()])?;
                c.commit()
            })
            .unwrap();
        assert_eq!(count(&mut engine.connect().unwrap(), &t), 3);
    }
}

#[test]
fn statement_events_fire_before_and_after_with_sql_and_params() {
    for db in support::all() {
        let engine = db.engine();
        let seen: Arc<Mutex<Vec<(ExecutePhase, String, usize)>>> = Arc::default();
        let s = seen.clone();
        engine.on_execute(move |ev| {
            s.lock()
                .unwrap()
                .push((ev.phase, ev.statement.to_owned(), ev.params.len()))
        });
        let mut conn = engine.connect().unwrap();
        let sql = db.sql("SELECT ? + 1");
        let sql = if db.pg {
            sql.replace("$1", "$1::int8")
        } else {
            sql
        };
        assert_eq!(
            conn.exec_driver_sql(&sql, &[41.into()])
                .unwrap()
                .scalar::<i64>()
                .unwrap(),
            42
        );
        let _ = conn
            .exec_driver_sql("SELECT * FROM no_such_table_here", &[])
            .unwrap_err();
        let seen = seen.lock().unwrap().clone();
        assert_eq!(
            seen,
            [
                (ExecutePhase::Before, sql.clone(), 1),
                (ExecutePhase::After, sql.clone(), 1),
                // A failing statement fires only "before".
                (
                    ExecutePhase::Before,
                    "SELECT * FROM no_such_table_here".into(),
                    0
                ),
            ],
            "{}",
            db.name
        );
    }
}

#[test]
fn executable_statements_compile_through_the_engine_cache() {
    use calcine_sql::{Compiled, Dialect, Executable, StatementCache, Value};
    struct AddOne(i64);
    impl Executable for AddOne {
        fn compile(&self, dialect: Dialect, cache: &StatementCache) -> Compiled {
            let sql = cache.get_or_render(dialect, b"add-one", || match dialect {
                Dialect::Postgresql => "SELECT $1::int8 + 1".into(),
                _ => "SELECT ? + 1".into(),
            });
            Compiled {
                sql,
                params: vec![Value::Int(self.0)],
            }
        }
    }
    for db in support::all() {
        let engine = db.engine();
        let mut conn = engine.connect().unwrap();
        assert_eq!(conn.scalar::<i64, _>(&AddOne(1)).unwrap(), 2);
        assert_eq!(conn.scalar::<i64, _>(&AddOne(9)).unwrap(), 10);
        let v: Vec<i64> = conn.scalars(&AddOne(4)).unwrap().all().unwrap();
        assert_eq!(v, [5]);
        assert_eq!(engine.statement_cache().stats(), (2, 1), "{}", db.name);
    }
}

/// A table `base_<n> (x INTEGER PRIMARY KEY)`, committed.
/// The error of a statement + COMMIT that must fail (`unexpected`: what success would mean).
fn then_commit_err(
    conn: &mut calcine_engine::Connection,
    sql: &str,
    params: &[calcine_sql::Value],
    unexpected: &str,
) -> Error {
    match conn.exec_driver_sql_then_commit(sql, params) {
        Ok(_) => panic!("{unexpected}"),
        Err(e) => e,
    }
}

fn pk_table(db: &support::Db, engine: &calcine_engine::Engine, base: &str) -> String {
    let t = db.table(base);
    engine
        .begin(|c| {
            c.exec_driver_sql(&format!("CREATE TABLE {t} (x INTEGER PRIMARY KEY)"), &[])
                .map(drop)
        })
        .unwrap();
    t
}

#[test]
fn statement_then_commit_commits_returns_rows_and_fires_events() {
    for db in support::all() {
        let engine = db.engine();
        let t = pk_table(&db, &engine, "then_commit");
        let seen: Arc<Mutex<Vec<(ExecutePhase, String)>>> = Arc::default();
        let s = seen.clone();
        engine.on_execute(move |ev| s.lock().unwrap().push((ev.phase, ev.statement.to_owned())));
        let ins = db.sql(&format!("INSERT INTO {t} VALUES (?), (?) RETURNING x"));
        let mut conn = engine.connect().unwrap();
        // Autobegins, runs, commits.
        let result = conn
            .exec_driver_sql_then_commit(&ins, &[1.into(), 2.into()])
            .unwrap();
        assert_eq!(result.columns(), ["x"], "{}", db.name);
        let mut xs: Vec<i64> = result.scalars().all().unwrap();
        xs.sort_unstable();
        assert_eq!(xs, [1, 2], "{}", db.name);
        assert!(!conn.in_transaction(), "{}", db.name);
        assert_eq!(
            *seen.lock().unwrap(),
            [
                (ExecutePhase::Before, ins.clone()),
                (ExecutePhase::After, ins.clone())
            ],
            "{}",
            db.name
        );
        // In a transaction already begun: its earlier work is committed with it.
        let one = db.sql(&format!("INSERT INTO {t} VALUES (?)"));
        conn.exec_driver_sql(&one, &[3.into()]).unwrap();
        let n = conn
            .exec_driver_sql_then_commit(&one, &[4.into()])
            .unwrap()
            .rows_affected();
        assert!(n.is_none() || n == Some(1), "{}: {n:?}", db.name);
        assert!(!conn.in_transaction(), "{}", db.name);
        drop(conn); // (in-memory SQLite has one shared connection)
        let mut other = engine.connect().unwrap();
        assert_eq!(count(&mut other, &t), 4, "{}", db.name);
        // The compiled form goes through the engine's statement cache like `execute`.
        let stmt = calcine_sql::text(format!("SELECT count(*) FROM {t}"));
        let n: i64 = other.execute_then_commit(&stmt).unwrap().scalar().unwrap();
        assert_eq!(n, 4, "{}", db.name);
        assert!(!other.in_transaction());
    }
}

#[test]
fn statement_then_commit_failure_ends_or_keeps_the_transaction_as_the_driver_says() {
    for db in support::all() {
        let engine = db.engine();
        let t = pk_table(&db, &engine, "then_commit_fail");
        let one = db.sql(&format!("INSERT INTO {t} VALUES (?)"));
        let mut conn = engine.connect().unwrap();
        conn.exec_driver_sql(&one, &[1.into()]).unwrap();
        let e = then_commit_err(
            &mut conn,
            &one,
            &[1.into()],
            &format!("{}: a duplicate key was accepted", db.name),
        );
        assert_eq!(
            e.kind(),
            calcine_engine::ErrorKind::Integrity,
            "{}: {e}",
            db.name
        );
        assert_eq!(e.statement(), Some(one.as_str()), "{}", db.name);
        if db.pg {
            // The pipelined COMMIT ran on the failed transaction: rolled back, over.
            assert!(!conn.in_transaction(), "{}", db.name);
        } else {
            // Sequential: the COMMIT was never sent; the transaction is the caller's to end.
            assert!(conn.in_transaction(), "{}", db.name);
        }
        conn.rollback().unwrap();
        assert!(!conn.in_transaction());
        assert_eq!(
            count(&mut conn, &t),
            0,
            "{}: the first row is gone",
            db.name
        );
        conn.rollback().unwrap();
        drop(conn);
        // The connection went back to the pool in working order.
        let mut again = engine.connect().unwrap();
        again.exec_driver_sql(&one, &[5.into()]).unwrap();
        again.commit().unwrap();
        assert_eq!(count(&mut again, &t), 1, "{}", db.name);
    }
}

#[test]
fn statement_then_commit_that_fails_before_reaching_postgres_leaves_the_transaction_open() {
    let Some(db) = support::postgres() else {
        return;
    };
    let engine = db.engine();
    let t = pk_table(&db, &engine, "then_commit_encode");
    let one = db.sql(&format!("INSERT INTO {t} VALUES (?)"));
    let mut conn = engine.connect().unwrap();
    conn.exec_driver_sql(&one, &[1.into()]).unwrap();
    // A parameter that does not encode as the server's type fails before anything is sent:
    // no COMMIT may go out behind it (that would commit the first row).
    let e = then_commit_err(
        &mut conn,
        &one,
        &["not a number".into()],
        "text bound to an integer parameter",
    );
    assert_eq!(e.kind(), calcine_engine::ErrorKind::Programming, "{e}");
    assert!(conn.in_transaction());
    conn.rollback().unwrap();
    assert_eq!(count(&mut conn, &t), 0);
}

#[test]
fn statement_then_commit_inside_a_guard_closes_it_like_commit() {
    for db in support::all() {
        let engine = db.engine();
        let t = pk_table(&db, &engine, "then_commit_guard");
        let one = db.sql(&format!("INSERT INTO {t} VALUES (?)"));
        let mut conn = engine.connect().unwrap();
        {
            let mut tx = conn.begin().unwrap();
            tx.exec_driver_sql(&one, &[1.into()]).unwrap();
            drop(tx.exec_driver_sql_then_commit(&one, &[2.into()]).unwrap());
            assert!(!tx.is_active(), "{}", db.name);
            let e = tx.exec_driver_sql(&one, &[3.into()]).unwrap_err();
            assert!(e.is_resource_closed(), "{}: {e:?}", db.name);
            let e = tx.commit().unwrap_err();
            assert!(e.is_resource_closed(), "{}: {e:?}", db.name);
        }
        assert_eq!(count(&mut conn, &t), 2, "{}", db.name);
    }
}

#[test]
fn statement_then_commit_is_one_round_trip_on_postgres() {
    let Some(db) = support::postgres() else {
        return;
    };
    let (engine, trips) = support::round_trip_engine(&db, 1).unwrap();
    let t = pk_table(&db, &engine, "then_commit_trips");
    let one = db.sql(&format!("INSERT INTO {t} VALUES ($1)"));
    let mut conn = engine.connect().unwrap();
    // Prepares the statement (a round trip of its own, once per connection).
    conn.exec_driver_sql(&one, &[1.into()]).unwrap();
    conn.commit().unwrap();
    let (r, n) = trips.during(|| {
        conn.exec_driver_sql(&one, &[2.into()])?;
        conn.commit()
    });
    r.unwrap();
    assert_eq!(n, 2, "BEGIN + INSERT, then COMMIT");
    let (r, n) = trips.during(|| {
        conn.exec_driver_sql_then_commit(&one, &[3.into()])
            .map(drop)
    });
    r.unwrap();
    assert_eq!(n, 1, "BEGIN + INSERT + COMMIT pipelined");
    // Behind earlier work: one for the earlier statement (with BEGIN), one for the last + COMMIT.
    let (r, n) = trips.during(|| {
        conn.exec_driver_sql(&one, &[4.into()])?;
        conn.exec_driver_sql_then_commit(&one, &[5.into()])
            .map(drop)
    });
    r.unwrap();
    assert_eq!(n, 2);
    // A failed statement costs the same single round trip, and ends the transaction.
    let (r, n) = trips.during(|| {
        conn.exec_driver_sql_then_commit(&one, &[5.into()])
            .map(drop)
    });
    assert!(r.is_err());
    assert_eq!(n, 1);
    assert!(!conn.in_transaction());
    assert_eq!(count(&mut conn, &t), 5);
}

#[test]
fn statement_then_commit_reports_a_failed_commit_as_commit_does() {
    for db in support::all() {
        let engine = db.engine();
        let parent = pk_table(&db, &engine, "then_commit_parent");
        let child = db.table("then_commit_child");
        engine
            .begin(|c| {
                c.exec_driver_sql(
                    &format!(
                        "CREATE TABLE {child} (x INTEGER REFERENCES {parent} (x) \
                         DEFERRABLE INITIALLY DEFERRED)"
                    ),
                    &[],
                )
                .map(drop)
            })
            .unwrap();
        let ins = db.sql(&format!("INSERT INTO {child} VALUES (?)"));
        let mut conn = engine.connect().unwrap();
        conn.exec_driver_sql(&ins, &[1.into()]).unwrap();
        // The statement succeeds; the deferred foreign key fails the COMMIT.
        let e = then_commit_err(
            &mut conn,
            &ins,
            &[2.into()],
            &format!("{}: a dangling foreign key was committed", db.name),
        );
        assert_eq!(
            e.kind(),
            calcine_engine::ErrorKind::Integrity,
            "{}: {e}",
            db.name
        );
        assert_eq!(e.statement(), Some("COMMIT"), "{}", db.name);
        // As after a failed commit(): over on PostgreSQL; SQLite keeps a transaction whose
        // COMMIT failed on a deferred constraint open, for the caller to roll back.
        assert_eq!(conn.in_transaction(), !db.pg, "{}", db.name);
        conn.rollback().unwrap();
        assert_eq!(count(&mut conn, &child), 0, "{}", db.name);
    }
}

/// An event as a test records it: phase and parameters.
type Seen = (ExecutePhase, Vec<Value>);

#[test]
fn statement_each_runs_every_set_as_a_statement_and_stops_at_the_first_error() {
    for db in support::all() {
        let engine = db.engine();
        let t = pk_table(&db, &engine, "each");
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let s = seen.clone();
        engine.on_execute(move |ev| s.lock().unwrap().push((ev.phase, ev.params.to_vec())));
        let ins = db.sql(&format!("INSERT INTO {t} VALUES (?)"));
        let mut conn = engine.connect().unwrap();
        let mut done = Vec::new();
        conn.exec_driver_sql_each(&ins, &[1.into(), 2.into(), 3.into()], 3, &mut |i, id| {
            done.push((i, id));
            Ok(())
        })
        .unwrap();
        // SQLite reports each row's rowid; PostgreSQL has none (RETURNING is its way).
        let id = |x: i64| if db.pg { None } else { Some(x) };
        assert_eq!(done, [(0, id(1)), (1, id(2)), (2, id(3))], "{}", db.name);
        // Each set is one statement to the events, with its own parameters.
        let events: Vec<Seen> = [1, 2, 3]
            .into_iter()
            .flat_map(|x| {
                [
                    (ExecutePhase::Before, vec![Value::Int(x)]),
                    (ExecutePhase::After, vec![Value::Int(x)]),
                ]
            })
            .collect();
        assert_eq!(*seen.lock().unwrap(), events, "{}", db.name);
        conn.commit().unwrap();

        // A failing set: the error carries the statement and that set's parameters; the sets
        // before it ran, the ones after it did not.
        done.clear();
        let err = conn
            .exec_driver_sql_each(&ins, &[4.into(), 2.into(), 5.into()], 3, &mut |i, id| {
                done.push((i, id));
                Ok(())
            })
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Integrity, "{}: {err}", db.name);
        assert_eq!(err.statement(), Some(ins.as_str()), "{}", db.name);
        assert_eq!(err.params(), Some(&[Value::Int(2)][..]), "{}", db.name);
        assert_eq!(done, [(0, id(4))], "{}", db.name);
        conn.rollback().unwrap();

        // An error of the callback stops the sets and comes back as it is.
        let err = conn
            .exec_driver_sql_each(&ins, &[6.into(), 7.into()], 2, &mut |i, _| {
                if i == 0 {
                    Err(Error::invalid_request("stop here"))
                } else {
                    Ok(())
                }
            })
            .unwrap_err();
        assert_eq!(err.message(), "stop here", "{}", db.name);
        assert_eq!(err.statement(), None, "{}", db.name);
        let xs: Vec<i64> = conn
            .exec_driver_sql(&format!("SELECT x FROM {t} ORDER BY x"), &[])
            .unwrap()
            .scalars()
            .all()
            .unwrap();
        assert_eq!(xs, [1, 2, 3, 6], "{}", db.name);
        // Parameters that do not split into the sets are refused before anything runs.
        let err = conn
            .exec_driver_sql_each(
                &ins,
                &[8.into(), 9.into(), 10.into()],
                2,
                &mut |_, _| Ok(()),
            )
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Internal, "{}: {err}", db.name);
        conn.rollback().unwrap();
    }
}

/// `exec_driver_sql_each_with`: each set's parameters are lent by the caller (text borrowed from
/// the caller's strings), bound per set; events see each set's parameters as owned values,
/// whether or not a listener was registered when the call began (run once without, once with
/// one); a failing set's error carries the statement and that set's parameters; errors of
/// `fill` and `each` come back as they are; a set of the wrong width is refused.
#[test]
fn statement_each_with_binds_lent_parameters_set_by_set() {
    use calcine_engine::ParamSink;
    use calcine_sql::ValueRef;
    for db in support::all() {
        let engine = db.engine();
        let t = db.table("each_with");
        engine
            .begin(|c| {
                c.exec_driver_sql(
                    &format!("CREATE TABLE {t} (x INTEGER PRIMARY KEY, name TEXT, note TEXT)"),
                    &[],
                )
                .map(drop)
            })
            .unwrap();
        let ins = db.sql(&format!("INSERT INTO {t} VALUES (?, ?, ?)"));
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let rows = |base: i64| -> Vec<(i64, String, Option<String>)> {
            (0..3)
                .map(|i| {
                    (
                        base + i,
                        format!("n{}", base + i),
                        (i != 1).then(|| "x".into()),
                    )
                })
                .collect()
        };
        let expect = |rows: &[(i64, String, Option<String>)]| -> Vec<Vec<Value>> {
            rows.iter()
                .map(|(x, n, note)| vec![Value::Int(*x), n.as_str().into(), note.clone().into()])
                .collect()
        };
        for watched in [false, true] {
            if watched {
                let s = seen.clone();
                engine.on_execute(move |ev| {
                    if !ev.statement.starts_with("SELECT") {
                        s.lock().unwrap().push((ev.phase, ev.params.to_vec()));
                    }
                });
            }
            let base = if watched { 10 } else { 1 };
            let data = rows(base);
            let fill =
                |data: &[(i64, String, Option<String>)], i: usize, sink: &mut dyn ParamSink| {
                    let (x, name, note) = &data[i];
                    sink.push(ValueRef::Int(*x));
                    sink.push(ValueRef::Text(name));
                    sink.push(note.as_deref().map_or(ValueRef::Null, ValueRef::Text));
                    Ok(())
                };
            let mut conn = engine.connect().unwrap();
            let mut done = Vec::new();
            conn.exec_driver_sql_each_with(
                &ins,
                3,
                3,
                &mut |i, s| fill(&data, i, s),
                &mut |i, id| {
                    done.push((i, id));
                    Ok(())
                },
            )
            .unwrap();
            let id = |x: i64| if db.pg { None } else { Some(x) };
            assert_eq!(
                done,
                [(0, id(base)), (1, id(base + 1)), (2, id(base + 2))],
                "{}",
                db.name
            );
            let events: Vec<Seen> = expect(&data)
                .into_iter()
                .flat_map(|p| [(ExecutePhase::Before, p.clone()), (ExecutePhase::After, p)])
                .collect();
            assert_eq!(
                std::mem::take(&mut *seen.lock().unwrap()),
                if watched { events } else { Vec::new() },
                "{}",
                db.name
            );
            let got: Vec<(i64, String, Option<String>)> = conn
                .exec_driver_sql(
                    &db.sql(&format!(
                        "SELECT x, name, note FROM {t} WHERE x >= ? ORDER BY x"
                    )),
                    &[base.into()],
                )
                .unwrap()
                .all()
                .unwrap()
                .into_iter()
                .map(|mut r| (r.take(0).unwrap(), r.take(1).unwrap(), r.take(2).unwrap()))
                .collect();
            assert_eq!(got, data, "{}", db.name);
            conn.commit().unwrap();
            seen.lock().unwrap().clear();

            // A failing set (a duplicate key): the statement and that set's parameters.
            let mut dup = rows(base + 100);
            dup[1].0 = base;
            done.clear();
            let err = conn
                .exec_driver_sql_each_with(
                    &ins,
                    3,
                    3,
                    &mut |i, s| fill(&dup, i, s),
                    &mut |i, id| {
                        done.push((i, id));
                        Ok(())
                    },
                )
                .unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Integrity, "{}: {err}", db.name);
            assert_eq!(err.statement(), Some(ins.as_str()), "{}", db.name);
            assert_eq!(err.params(), Some(&expect(&dup)[1][..]), "{}", db.name);
            assert_eq!(done, [(0, id(base + 100))], "{}", db.name);
            conn.rollback().unwrap();

            // `fill`'s and `each`'s errors come back untouched.
            let err = conn
                .exec_driver_sql_each_with(
                    &ins,
                    3,
                    2,
                    &mut |i, s| {
                        if i == 1 {
                            return Err(Error::invalid_request("no second set"));
                        }
                        fill(&dup, i, s)
                    },
                    &mut |_, _| Ok(()),
                )
                .unwrap_err();
            assert_eq!(err.message(), "no second set", "{}", db.name);
            assert_eq!(err.statement(), None, "{}", db.name);
            conn.rollback().unwrap();
            let err = conn
                .exec_driver_sql_each_with(&ins, 3, 2, &mut |i, s| fill(&dup, i, s), &mut |_, _| {
                    Err(Error::invalid_request("each says no"))
                })
                .unwrap_err();
            assert_eq!(err.message(), "each says no", "{}", db.name);
            assert_eq!(err.statement(), None, "{}", db.name);
            conn.rollback().unwrap();

            // A set of other than `width` values is refused before it runs.
            let err = conn
                .exec_driver_sql_each_with(
                    &ins,
                    3,
                    1,
                    &mut |_, s| {
                        s.push(ValueRef::Int(999));
                        Ok(())
                    },
                    &mut |_, _| Ok(()),
                )
                .unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Programming, "{}: {err}", db.name);
            assert_eq!(err.statement(), Some(ins.as_str()), "{}", db.name);
            conn.rollback().unwrap();
            seen.lock().unwrap().clear();
        }
    }
}
