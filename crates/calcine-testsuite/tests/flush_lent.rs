//! The flush's INSERTs of new objects bind each object's columns as the object lends them
//! (`Model::column_ref`: text and bytes borrowed, other types through `Into<Value>`): what
//! reaches the database, the execute events and a failing row's error is what `column_value`
//! gives, for every kind of column, on every backend.

#![allow(clippy::unwrap_used, missing_docs, dead_code)]

use std::sync::{Arc, Mutex};

use calcine_engine::{ErrorKind, ExecutePhase};
use calcine_orm::{Model, Obj, Session, Status};
use calcine_sql::{FromValue, Value, ValueError, ValueRef};
use calcine_testsuite::each_backend;

/// A column type of the application's: stored as `C-<code>` through its `Into<Value>`.
#[derive(Debug, Clone, PartialEq)]
struct Code(String);

impl From<Code> for Value {
    fn from(c: Code) -> Value {
        Value::Text(format!("C-{}", c.0))
    }
}

impl FromValue for Code {
    fn from_value(value: Value) -> Result<Self, ValueError> {
        match value {
            Value::Text(s) if s.starts_with("C-") => Ok(Code(s[2..].to_owned())),
            other => Err(ValueError::mismatch("Code", &other)),
        }
    }
}

/// One column of each kind the flush binds.
#[derive(Model, Debug, Clone, PartialEq)]
#[calcine(table = "things", crate = "calcine_orm")]
struct Thing {
    #[calcine(primary_key)]
    id: Option<i64>,
    #[calcine(sql_type = "varchar(50)")]
    name: String,
    note: Option<String>,
    count: i32,
    flag: bool,
    ratio: f64,
    data: Vec<u8>,
    #[calcine(sql_type = "varchar(20)")]
    code: Code,
    #[calcine(sql_type = "varchar(20)")]
    alt: Option<Code>,
}

fn thing(i: i64) -> Thing {
    Thing {
        // A run of generated keys, a given key, generated again: three shapes in a row.
        id: (i == 3).then_some(1000 + i),
        name: format!("thing {i}"),
        note: (i % 2 == 0).then(|| format!("note {i}")),
        count: -(i as i32),
        flag: i % 3 == 0,
        ratio: i as f64 / 4.0,
        data: vec![i as u8, 0, 255],
        code: Code(format!("k{i}")),
        alt: (i % 2 == 1).then(|| Code(format!("a{i}"))),
    }
}

/// The parameters the INSERT of `t` sends, in column order (the generated key left out).
fn params_of(t: &Thing) -> Vec<Value> {
    let cols = Thing::mapper().table().columns().len();
    (0..cols)
        .filter(|&c| c != 0 || t.id.is_some())
        .map(|c| t.column_value(c))
        .collect()
}

/// Events seen: (phase, statement, parameters) of the INSERTs into `things`.
type Seen = Arc<Mutex<Vec<(ExecutePhase, String, Vec<Value>)>>>;

fn watch(engine: &calcine_engine::Engine) -> Seen {
    let seen: Seen = Arc::default();
    let s = seen.clone();
    engine.on_execute(move |ev| {
        if ev.statement.starts_with("INSERT INTO things") {
            s.lock()
                .unwrap()
                .push((ev.phase, ev.statement.to_owned(), ev.params.to_vec()));
        }
    });
    seen
}

/// Every kind of column (text, NULL, integer, boolean, float, bytes, an `Into<Value>` type of
/// the application's, NULL of it) goes in as `column_value` gives it and comes back equal;
/// generated keys land in the objects. Without a listener (the values bound lent, never
/// copied) and with one.
#[test]
fn flush_writes_every_kind_of_column() {
    for watched in [false, true] {
        each_backend(|db| {
            let engine = db.engine();
            calcine_orm::create_all(&engine, &[Thing::mapper()]).unwrap();
            let seen = watched.then(|| watch(&engine));
            let mut s = Session::new(&engine);
            let want: Vec<Thing> = (0..6).map(thing).collect();
            let objs: Vec<Obj<Thing>> = s.add_all(want.clone());
            s.commit().unwrap();
            let mut stored = Vec::new();
            for (o, w) in objs.iter().zip(&want) {
                let t = o.read().unwrap().clone();
                assert!(t.id.is_some(), "{}: a key", db.name);
                if let Some(id) = w.id {
                    assert_eq!(t.id, Some(id), "{}", db.name);
                }
                assert_eq!(
                    Thing {
                        id: w.id.or(t.id),
                        ..w.clone()
                    },
                    t,
                    "{}",
                    db.name
                );
                stored.push(t);
            }
            if let Some(seen) = seen {
                // Every row is a statement to the events, with its own parameters.
                let before: Vec<Vec<Value>> = seen
                    .lock()
                    .unwrap()
                    .iter()
                    .filter(|(p, _, _)| *p == ExecutePhase::Before)
                    .map(|(_, _, params)| params.clone())
                    .collect();
                if db.pg {
                    // Multi-row INSERTs: the rows of generated keys together, the given key
                    // alone; every row's parameters, in order.
                    assert_eq!(before.len(), 3, "{before:?}");
                    assert_eq!(
                        before.concat(),
                        want.iter().flat_map(params_of).collect::<Vec<_>>()
                    );
                } else {
                    assert_eq!(before, want.iter().map(params_of).collect::<Vec<_>>());
                }
            }
            // The application's type went through its own conversion.
            let codes: Vec<String> = s
                .execute(&calcine_sql::select(Thing::CODE.column()).order_by([Thing::NAME.asc()]))
                .unwrap()
                .into_iter()
                .map(|r| r.get::<String>(0).unwrap())
                .collect();
            assert_eq!(codes[0], "C-k0", "{}", db.name);
            s.close();
            for t in stored {
                let fresh = s.get_one::<Thing>(t.id.unwrap()).unwrap();
                assert_eq!(*fresh.read().unwrap(), t, "{}", db.name);
            }
        });
    }
}

/// A row that fails names the statement and that row's parameters (whether the values were
/// copied for a listener or are read again for the error); the rows before it were inserted.
#[test]
fn failing_row_error_has_statement_and_parameters() {
    for watched in [false, true] {
        each_backend(|db| {
            let engine = db.engine();
            calcine_orm::create_all(&engine, &[Thing::mapper()]).unwrap();
            let _seen = watched.then(|| watch(&engine));
            let mut s = Session::new(&engine);
            let mut rows: Vec<Thing> = (0..4).map(thing).collect();
            for (i, t) in rows.iter_mut().enumerate() {
                t.id = Some([7, 8, 7, 9][i]);
            }
            let objs = s.add_all(rows.clone());
            let err = s.flush().unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Integrity, "{}: {err}", db.name);
            let sql = err.statement().unwrap_or_default();
            assert!(sql.starts_with("INSERT INTO things"), "{}: {sql}", db.name);
            if !db.pg {
                // SQLite: one row per execution, the duplicate's own parameters.
                assert_eq!(err.params(), Some(&params_of(&rows[2])[..]), "{}", db.name);
                let status: Vec<Status> = objs.iter().map(Obj::status).collect();
                assert_eq!(status[..2], [Status::Persistent, Status::Persistent]);
                assert_eq!(status[2..], [Status::Pending, Status::Pending]);
            }
            s.rollback().unwrap();
        });
    }
}

/// An object's shape is read under the same lock as its row is bound: one that changed shape
/// after the flush began (written by an event listener here, as another thread could) goes in
/// as the shape it has then, with a statement of its own, and keeps its key.
#[test]
fn object_changed_while_flushing_goes_in_as_it_is() {
    let db = calcine_testsuite::sqlite_memory();
    let engine = db.engine();
    calcine_orm::create_all(&engine, &[Thing::mapper()]).unwrap();
    let second: Arc<Mutex<Option<Obj<Thing>>>> = Arc::default();
    let s2 = second.clone();
    let inserts = Arc::new(Mutex::new(Vec::new()));
    let ins = inserts.clone();
    engine.on_execute(move |ev| {
        if ev.phase == ExecutePhase::Before && ev.statement.starts_with("INSERT INTO things") {
            ins.lock().unwrap().push(ev.statement.to_owned());
            if let Some(o) = s2.lock().unwrap().take() {
                o.write().unwrap().id = Some(555);
            }
        }
    });
    let mut s = Session::new(&engine);
    let objs = s.add_all([1, 5, 7].map(thing));
    *second.lock().unwrap() = Some(objs[1].clone());
    s.commit().unwrap();
    let ids: Vec<Option<i64>> = objs.iter().map(|o| o.read().unwrap().id).collect();
    assert_eq!(ids[1], Some(555));
    assert!(
        ids[0].is_some() && ids[2].is_some() && ids[0] != ids[2],
        "{ids:?}"
    );
    let inserts = inserts.lock().unwrap().clone();
    assert_eq!(inserts.len(), 3);
    assert_eq!(inserts[0], inserts[2], "generated keys: one statement");
    assert_ne!(
        inserts[0], inserts[1],
        "the given key: a statement of its own"
    );
    let stored: Vec<i64> = s
        .execute(&calcine_sql::select(Thing::ID.column()).order_by([Thing::ID.asc()]))
        .unwrap()
        .into_iter()
        .map(|r| r.get::<i64>(0).unwrap())
        .collect();
    assert_eq!(stored.len(), 3);
    assert!(stored.contains(&555), "{stored:?}");
}

/// `#[derive(Model)]`'s `column_ref` lends the standard types and converts the others: the same
/// values as `column_value`.
#[test]
fn column_ref_lends_what_column_value_gives() {
    let t = thing(1);
    assert_eq!(t.column_ref(0), ValueRef::Null);
    assert_eq!(t.column_ref(1), ValueRef::Text("thing 1"));
    assert_eq!(t.column_ref(3), ValueRef::Int(-1));
    assert_eq!(t.column_ref(6), ValueRef::Bytes(&[1, 0, 255]));
    assert_eq!(t.column_ref(7), ValueRef::Value(Value::Text("C-k1".into())));
    for c in 0..Thing::mapper().table().columns().len() {
        assert_eq!(
            t.column_ref(c).into_value(),
            t.column_value(c),
            "column {c}"
        );
    }
    assert_eq!(t.column_ref(99), ValueRef::Null);
}

/// With `echo`, every row of the flush's INSERTs is logged with its own parameters.
#[test]
fn echo_shows_every_rows_parameters() {
    let db = calcine_testsuite::sqlite_memory();
    let engine = calcine_engine::Engine::builder(db.url.as_str())
        .echo(true)
        .build()
        .unwrap();
    calcine_orm::create_all(&engine, &[Thing::mapper()]).unwrap();
    let echoed = calcine_testsuite::Captured::default();
    let rows: Vec<Thing> = (0..4).map(thing).collect();
    tracing::subscriber::with_default(echoed.clone(), || {
        let mut s = Session::new(&engine);
        s.add_all(rows.clone());
        s.commit().unwrap();
    });
    let lines = echoed.messages_of("calcine::engine");
    let params: Vec<&String> = lines
        .iter()
        .zip(lines.iter().skip(1))
        .filter(|(sql, _)| sql.starts_with("INSERT INTO things"))
        .map(|(_, p)| p)
        .collect();
    assert_eq!(params.len(), rows.len(), "{lines:#?}");
    for (p, t) in params.iter().zip(&rows) {
        assert!(p.starts_with("[parameters: ("), "{p}");
        assert!(p.contains(&format!("'{}'", t.name)), "{p}");
        assert!(p.contains(&format!("'C-{}'", t.code.0)), "{p}");
    }
}

/// Generated keys land in the objects and their identity keys (the identity map hands the
/// same instance back, expired by the commit); a flush failing part-way leaves the objects it
/// inserted in the transaction: `rollback()` makes them transient, with those of the earlier
/// flush, and the pending ones too.
#[test]
fn generated_keys_identity_and_rollback_after_a_failing_row() {
    each_backend(|db| {
        let engine = db.engine();
        calcine_orm::create_all(&engine, &[Thing::mapper()]).unwrap();
        let mut s = Session::new(&engine);
        let first = s.add_all([1, 2].map(thing));
        s.flush().unwrap();
        let ids: Vec<i64> = first
            .iter()
            .map(|o| o.read().unwrap().id.unwrap())
            .collect();
        for (o, id) in first.iter().zip(&ids) {
            assert_eq!(o.status(), Status::Persistent, "{}", db.name);
            assert_eq!(o.key(), Some((*id).into()), "{}", db.name);
            assert!(s.get::<Thing>(*id).unwrap().unwrap() == *o, "{}", db.name);
        }
        s.commit().unwrap();
        assert!(first.iter().all(Obj::is_expired), "{}", db.name);
        assert!(s.get::<Thing>(ids[0]).unwrap().unwrap() == first[0]);

        // Two generated keys, then a duplicate of a stored key, then one more.
        let mut dup = thing(4);
        dup.id = Some(ids[1]);
        let second = s.add_all([thing(5), thing(7), dup, thing(9)]);
        let err = s.flush().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Integrity, "{}: {err}", db.name);
        if !db.pg {
            // SQLite: one row per execution; the rows before the failing one were inserted.
            let status: Vec<Status> = second.iter().map(Obj::status).collect();
            assert_eq!(status[..2], [Status::Persistent, Status::Persistent]);
            assert_eq!(status[2..], [Status::Pending, Status::Pending]);
            let id = second[0].read().unwrap().id.unwrap();
            assert_eq!(second[0].key(), Some(id.into()));
        }
        s.rollback().unwrap();
        for o in &second {
            assert_eq!(o.status(), Status::Transient, "{}", db.name);
            assert_eq!(o.key(), None, "{}", db.name);
        }
        // The committed objects are still there, expired.
        assert_eq!(first[0].status(), Status::Persistent, "{}", db.name);
        assert_eq!(first[1].read().unwrap().name, "thing 2", "{}", db.name);
    });
}

#[derive(Model, Debug, Clone, PartialEq)]
#[calcine(table = "gauges", crate = "calcine_orm")]
struct Gauge {
    #[calcine(primary_key)]
    id: Option<i64>,
    #[calcine(sql_type = "integer")]
    reading: i64,
}

/// A value that does not fit its column fails the INSERT with a `Data` error that names the
/// statement and every row's parameters, whether the values were copied for a listener or
/// lent (PostgreSQL encodes each lent value for its parameter's type before anything is sent);
/// the objects stay pending, nothing is written, and the session rolls back.
#[test]
fn a_value_out_of_its_columns_range_fails_the_insert_and_loses_nothing() {
    for watched in [false, true] {
        each_backend(|db| {
            if !db.pg {
                // SQLite's integers are 64-bit whatever the declared type.
                return;
            }
            let engine = db.engine();
            calcine_orm::create_all(&engine, &[Gauge::mapper()]).unwrap();
            let seen = Arc::new(Mutex::new(0usize));
            if watched {
                let n = seen.clone();
                engine.on_execute(move |ev| {
                    if ev.statement.starts_with("INSERT INTO gauges") {
                        *n.lock().unwrap() += 1;
                    }
                });
            }
            let readings = [1, 1 << 40, 3];
            let mut s = Session::new(&engine);
            let objs = s.add_all(readings.map(|reading| Gauge { id: None, reading }));
            let err = s.flush().unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Data, "{err}");
            assert!(err.to_string().contains("out of range"), "{err}");
            let sql = err.statement().unwrap_or_default();
            assert!(sql.starts_with("INSERT INTO gauges"), "{sql}");
            assert_eq!(
                err.params(),
                Some(&readings.map(Value::Int)[..]),
                "watched: {watched}"
            );
            assert!(objs.iter().all(|o| o.status() == Status::Pending));
            assert!(objs.iter().all(|o| o.read().unwrap().id.is_none()));
            assert_eq!(*seen.lock().unwrap(), usize::from(watched));
            s.rollback().unwrap();
            let stored: i64 = Session::new(&engine)
                .scalar(
                    &calcine_sql::select(calcine_sql::func::count_star())
                        .select_from(Gauge::mapper().table()),
                )
                .unwrap();
            assert_eq!(stored, 0);
        });
    }
}
