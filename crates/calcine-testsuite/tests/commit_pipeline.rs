//! `Session::commit` sends the flush's last INSERT and the `COMMIT` together when nothing after
//! that INSERT can fail: one round trip on PostgreSQL for `add(..)` + `commit()` (BEGIN,
//! INSERT ... RETURNING and COMMIT pipelined). Round trips are counted on the socket
//! (`calcine_testsuite::round_trip_engine`); everything else runs on every backend (SQLite takes
//! the driver seam's sequential default).

#![allow(clippy::unwrap_used, missing_docs, dead_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use calcine_asyncio::{AsyncEngine, AsyncSession};
use calcine_engine::{Engine, ErrorKind, ExecutePhase, Result};
use calcine_orm::{Many, Model, Obj, Session, Status};
use calcine_sql::func;
use calcine_testsuite::{Db, each_backend};

#[derive(Model, Debug, Clone, PartialEq)]
#[calcine(table = "members", crate = "calcine_orm")]
struct Member {
    #[calcine(primary_key)]
    id: Option<i64>,
    name: String,
}

#[derive(Model, Debug, Clone, PartialEq)]
#[calcine(table = "notes", crate = "calcine_orm")]
struct Note {
    #[calcine(primary_key)]
    id: Option<i64>,
    #[calcine(foreign_key = "members.id")]
    member_id: i64,
    body: String,
}

#[derive(Model, Debug)]
#[calcine(table = "shelves", crate = "calcine_orm")]
struct Shelf {
    #[calcine(primary_key)]
    id: Option<i64>,
    name: String,
    #[calcine(relationship(order_by = "id", cascade = "all"))]
    books: Many<Book>,
}

#[derive(Model, Debug)]
#[calcine(table = "books", crate = "calcine_orm")]
struct Book {
    #[calcine(primary_key)]
    id: Option<i64>,
    #[calcine(foreign_key = "shelves.id")]
    shelf_id: Option<i64>,
    title: String,
}

#[derive(Model, Debug)]
#[calcine(table = "pupils", crate = "calcine_orm")]
struct Pupil {
    #[calcine(primary_key)]
    id: Option<i64>,
    name: String,
    #[calcine(relationship(secondary = Attendance, order_by = "id"))]
    classes: Many<Class>,
}

#[derive(Model, Debug)]
#[calcine(table = "classes", crate = "calcine_orm")]
struct Class {
    #[calcine(primary_key)]
    id: Option<i64>,
    title: String,
}

#[derive(Model, Debug)]
#[calcine(table = "attendances", crate = "calcine_orm")]
struct Attendance {
    #[calcine(primary_key, foreign_key = "pupils.id")]
    pupil_id: i64,
    #[calcine(primary_key, foreign_key = "classes.id")]
    class_id: i64,
}

fn member(name: &str) -> Member {
    Member {
        id: None,
        name: name.into(),
    }
}

fn create_tables(engine: &Engine) {
    calcine_orm::create_all(
        engine,
        &[
            Member::mapper(),
            Note::mapper(),
            Shelf::mapper(),
            Book::mapper(),
            Pupil::mapper(),
            Class::mapper(),
            Attendance::mapper(),
        ],
    )
    .unwrap();
}

/// Counts the statements an engine runs.
fn statement_counter(engine: &Engine) -> Arc<AtomicUsize> {
    let n = Arc::new(AtomicUsize::new(0));
    let c = n.clone();
    engine.on_execute(move |ev| {
        if ev.phase == ExecutePhase::Before {
            c.fetch_add(1, Ordering::SeqCst);
        }
    });
    n
}

fn count<T: Model>(engine: &Engine) -> i64 {
    let mut conn = engine.connect().unwrap();
    calcine_testsuite::count_rows(&mut conn, T::mapper().table().name())
}

/// A unit of work run twice on one pooled connection: the first run prepares its statements
/// (a round trip each, once per connection), the second is measured.
fn trips_of(
    engine: &Engine,
    trips: &calcine_testsuite::RoundTrips,
    mut unit: impl FnMut(&mut Session) -> Result<()>,
) -> usize {
    let mut s = Session::new(engine);
    unit(&mut s).unwrap();
    let (r, n) = trips.during(|| unit(&mut s));
    r.unwrap();
    n
}

#[test]
fn add_and_commit_is_one_round_trip_on_postgres() {
    let Some(db) = calcine_testsuite::postgres() else {
        return;
    };
    let (engine, trips) = calcine_testsuite::round_trip_engine(&db, 1).unwrap();
    create_tables(&engine);

    // The key case: BEGIN + INSERT ... RETURNING + COMMIT in one round trip (two before).
    let n = trips_of(&engine, &trips, |s| {
        s.add(member("ann"));
        s.commit()
    });
    assert_eq!(n, 1, "add one object + commit");

    // A batch of rows is one INSERT: still one round trip.
    let n = trips_of(&engine, &trips, |s| {
        s.add_all([member("a"), member("b"), member("c")]);
        s.commit()
    });
    assert_eq!(n, 1, "add three objects + commit");

    // Two mappers: BEGIN + INSERT members, then INSERT notes + COMMIT.
    let mut next = 1000;
    let n = trips_of(&engine, &trips, |s| {
        next += 1;
        s.add(Member {
            id: Some(next),
            name: "parent".into(),
        });
        s.add(Note {
            id: None,
            member_id: next,
            body: "hi".into(),
        });
        s.commit()
    });
    assert_eq!(n, 2, "two mappers + commit");

    // One-to-many with pending children: the children's INSERT is last and carries the COMMIT.
    let n = trips_of(&engine, &trips, |s| {
        let shelf = s.add(Shelf {
            id: None,
            name: "s".into(),
            books: Many::new(),
        });
        for title in ["x", "y"] {
            shelf.write()?.books.push(Obj::new(Book {
                id: None,
                shelf_id: None,
                title: title.into(),
            }))?;
        }
        s.commit()
    });
    assert_eq!(n, 2, "parent + children + commit");

    // Not pipelined: association rows follow the INSERTs (pupils, classes, two attendances,
    // then COMMIT on its own).
    let n = trips_of(&engine, &trips, |s| {
        let p = s.add(Pupil {
            id: None,
            name: "eve".into(),
            classes: Many::new(),
        });
        for title in ["math", "art"] {
            p.write()?.classes.push(Obj::new(Class {
                id: None,
                title: title.into(),
            }))?;
        }
        s.commit()
    });
    assert_eq!(n, 5, "many-to-many + commit");

    // Not pipelined: an UPDATE (its row count is checked) is followed by its own COMMIT.
    let mut s = Session::new(&engine);
    let m = s.add(member("to update"));
    s.commit().unwrap();
    for name in ["first", "second"] {
        drop(m.read().unwrap()); // reload (expired by the commit), not measured
        m.write().unwrap().name = name.into();
        let (r, n) = trips.during(|| s.commit());
        r.unwrap();
        if name == "second" {
            assert_eq!(n, 2, "UPDATE + commit");
        }
    }
    // Not pipelined: a DELETE, likewise.
    let doomed: Vec<_> = ["d1", "d2"].map(|n| s.add(member(n))).into();
    s.commit().unwrap();
    for (i, d) in doomed.iter().enumerate() {
        s.delete(d).unwrap();
        let (r, n) = trips.during(|| s.commit());
        r.unwrap();
        if i == 1 {
            assert_eq!(n, 2, "DELETE + commit");
        }
    }

    // A failing pipelined INSERT also costs one round trip; the transaction is over.
    let mut s = Session::new(&engine);
    s.add(Member {
        id: Some(1),
        name: "dup".into(),
    });
    let (r, n) = trips.during(|| s.commit());
    assert_eq!(r.unwrap_err().kind(), ErrorKind::Integrity);
    assert_eq!(n, 1, "failed INSERT + COMMIT (which rolls back)");
    assert!(!s.in_transaction());
    s.rollback().unwrap();

    // Through the async bridge: the same sync commit.
    let aengine = AsyncEngine::from_engine(engine.clone()).unwrap();
    let rt = calcine_testsuite::runtime();
    rt.block_on(async {
        let mut s = AsyncSession::new(&aengine);
        for _ in 0..2 {
            s.add(member("async"));
            let before = trips.get();
            s.commit().await.unwrap();
            assert_eq!(trips.get() - before, 1, "AsyncSession add + commit");
        }
        s.close().await;
    });
}

#[test]
fn pipelined_commit_leaves_objects_and_data_as_commit_does() {
    each_backend(|db| {
        let engine = db.engine();
        create_tables(&engine);
        let statements = statement_counter(&engine);
        let mut s = Session::new(&engine);
        let ann = s.add(member("ann"));
        let bob = s.add(member("bob"));
        let parent = s.add(Member {
            id: Some(500),
            name: "parent".into(),
        });
        let note = s.add(Note {
            id: None,
            member_id: 500,
            body: "hello".into(),
        });
        s.commit().unwrap();
        assert!(!s.in_transaction(), "{}", db.name);
        assert!(!s.has_connection(), "{}: connection released", db.name);
        for st in [ann.status(), bob.status(), parent.status(), note.status()] {
            assert_eq!(st, Status::Persistent, "{}", db.name);
        }
        assert!(ann.is_expired() && note.is_expired(), "expire_on_commit");
        assert_eq!(s.identity_len(), 4, "{}", db.name);

        // Visible from another connection (another engine where the database allows it).
        let other = if db.memory {
            engine.clone()
        } else {
            db.engine()
        };
        assert_eq!(count::<Member>(&other), 3, "{}", db.name);
        assert_eq!(count::<Note>(&other), 1, "{}", db.name);

        // Keys are in the objects and the identity map.
        let id = ann.read().unwrap().id.unwrap();
        let before = statements.load(Ordering::SeqCst);
        let again = s.get::<Member>(id).unwrap().unwrap();
        assert!(again == ann, "{}: same instance", db.name);
        assert_eq!(statements.load(Ordering::SeqCst), before, "no SQL");
        assert_ne!(bob.read().unwrap().id, Some(id));
        assert!(note.read().unwrap().id.is_some());

        // expire_on_commit = false: the generated key is there without a reload.
        s.set_expire_on_commit(false);
        let carl = s.add(member("carl"));
        s.commit().unwrap();
        assert!(!carl.is_expired(), "{}", db.name);
        let before = statements.load(Ordering::SeqCst);
        assert!(carl.read().unwrap().id.is_some());
        assert_eq!(statements.load(Ordering::SeqCst), before, "no reload");
        assert_eq!(count::<Member>(&other), 4, "{}", db.name);

        // After a released SAVEPOINT the root transaction is the session's again.
        s.begin_nested(|s| {
            s.add(member("in savepoint"));
            Ok(())
        })
        .unwrap();
        s.add(member("after savepoint"));
        s.commit().unwrap();
        assert!(!s.in_transaction());
        assert_eq!(count::<Member>(&other), 6, "{}", db.name);
    });
}

/// What a failed flush or commit of a duplicate key leaves behind: the statuses of the first
/// (flushed) and second (failing) object after the error, and after `rollback()`.
fn duplicate_key(db: &Db, end: fn(&mut Session) -> Result<()>) -> [Status; 4] {
    let engine = db.engine();
    create_tables(&engine);
    let mut s = Session::new(&engine);
    let first = s.add(Member {
        id: Some(7),
        name: "a".into(),
    });
    s.flush().unwrap();
    let second = s.add(Member {
        id: Some(7),
        name: "b".into(),
    });
    let err = end(&mut s).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Integrity, "{}: {err}", db.name);
    assert!(!s.in_transaction(), "{}: the transaction is over", db.name);
    let err = s.get::<Member>(1).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PendingRollback, "{}", db.name);
    let after_error = [first.status(), second.status()];
    s.rollback().unwrap();
    let after_rollback = [first.status(), second.status()];
    assert_eq!(after_rollback[0], Status::Transient, "{}", db.name);
    // The object whose INSERT failed is still the session's pending work after the error, and
    // `rollback()` expunges it like the one it un-inserts.
    assert_eq!(after_error[1], Status::Pending, "{}", db.name);
    assert_eq!(after_rollback[1], Status::Transient, "{}", db.name);
    assert_eq!(first.read().unwrap().id, Some(7));
    // Nothing of the transaction was committed: the flushed row is gone too.
    assert_eq!(count::<Member>(&engine), 0, "{}", db.name);
    // The session works again, and so does the pooled connection.
    s.add(member("after"));
    s.commit().unwrap();
    assert_eq!(count::<Member>(&engine), 1, "{}", db.name);
    let mut conn = engine.connect().unwrap();
    assert_eq!(calcine_testsuite::count_rows(&mut conn, "members"), 1);
    [
        after_error[0],
        after_error[1],
        after_rollback[0],
        after_rollback[1],
    ]
}

#[test]
fn failed_pipelined_insert_rolls_back_the_transaction_like_a_failed_flush() {
    each_backend(|db| {
        let by_flush = duplicate_key(db, Session::flush);
        let db2 = match db.name {
            "sqlite-memory" => calcine_testsuite::sqlite_memory(),
            "sqlite-file" => calcine_testsuite::sqlite_file(),
            _ => calcine_testsuite::postgres().unwrap(),
        };
        let by_commit = duplicate_key(&db2, Session::commit);
        assert_eq!(by_commit, by_flush, "{}", db.name);
    });
}

#[test]
fn stale_update_after_an_insert_rolls_back_the_insert_too() {
    each_backend(|db| {
        let engine = db.engine();
        create_tables(&engine);
        let mut s = Session::new(&engine);
        let ann = s.add(member("ann"));
        // Keeps SQLite from handing ann's key to the new row once ann's row is gone.
        s.add(member("keeper"));
        s.commit().unwrap();
        let id = ann.read().unwrap().id.unwrap();
        // Remove the row behind the session's back (in its own transaction).
        s.connection(|c| {
            c.execute(calcine_sql::delete(Member::mapper().table()).where_(Member::ID.eq(id)))
                .map(drop)
        })
        .unwrap();
        let new = s.add(member("new"));
        ann.write().unwrap().name = "changed".into();
        // INSERT new, then UPDATE ann: StaleData must roll the INSERT back with the rest.
        let err = s.commit().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::StaleData, "{}: {err}", db.name);
        s.rollback().unwrap();
        assert_eq!(new.status(), Status::Transient, "{}", db.name);
        let names: Vec<String> = s
            .scalars::<Member>(&calcine_orm::select::<Member>().order_by([Member::ID.asc()]))
            .unwrap()
            .iter()
            .map(|m| m.read().unwrap().name.clone())
            .collect();
        assert_eq!(names, ["ann", "keeper"], "{}", db.name);
        let n: i64 = s
            .scalar(&calcine_sql::select(func::count_star()).select_from(Member::mapper().table()))
            .unwrap();
        assert_eq!(n, 2);
    });
}

#[test]
fn a_read_guard_on_a_new_object_keeps_the_commit_separate() {
    each_backend(|db| {
        let engine = db.engine();
        create_tables(&engine);
        let mut s = Session::new(&engine);
        let ann = s.add(member("ann"));
        let guard = ann.read().unwrap();
        // The generated key cannot be written into `ann` while the guard lives: the flush
        // fails, so the INSERT must not have carried the COMMIT.
        let err = s.commit().unwrap_err();
        assert!(err.to_string().contains("locked"), "{}: {err}", db.name);
        drop(guard);
        assert!(!s.in_transaction());
        s.rollback().unwrap();
        assert_eq!(count::<Member>(&engine), 0, "{}", db.name);
    });
}

#[derive(Model, Debug)]
#[calcine(table = "tags", crate = "calcine_orm")]
struct Tag {
    #[calcine(primary_key)]
    id: Option<i64>,
    member_id: i64,
}

/// A COMMIT that fails (a deferred foreign key checked only then) leaves the session as a failed
/// flush does, whether the COMMIT went alone after a flush or rode with the last INSERT: it
/// refuses work until `rollback()`, which makes the object inserted in the failed transaction
/// transient again; nothing was committed.
#[test]
fn a_failed_commit_needs_rollback_like_a_failed_flush() {
    each_backend(|db| {
        for flush_first in [true, false] {
            let engine = db.engine();
            create_tables(&engine);
            engine
                .begin(|c| {
                    c.exec_driver_sql("DROP TABLE IF EXISTS tags", &[])?;
                    c.exec_driver_sql(
                        &format!(
                            "CREATE TABLE tags (id {}, member_id INTEGER REFERENCES members (id) \
                             DEFERRABLE INITIALLY DEFERRED)",
                            db.id_type()
                        ),
                        &[],
                    )
                    .map(drop)
                })
                .unwrap();
            let mut s = Session::new(&engine);
            let ann = s.add(member("ann"));
            s.commit().unwrap();
            let ann_id = ann.read().unwrap().id.unwrap();
            let tag = s.add(Tag {
                id: None,
                member_id: ann_id + 1000,
            });
            if flush_first {
                // The INSERT succeeds (the key is checked at COMMIT); commit() sends COMMIT alone.
                s.flush().unwrap();
                assert_eq!(tag.status(), Status::Persistent, "{}", db.name);
            }
            let err = s.commit().unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Integrity, "{}: {err}", db.name);
            let err = s.get::<Member>(ann_id).unwrap_err();
            assert_eq!(
                err.kind(),
                ErrorKind::PendingRollback,
                "{} (flush first: {flush_first})",
                db.name
            );
            s.rollback().unwrap();
            assert_eq!(tag.status(), Status::Transient, "{}", db.name);
            assert_eq!(count::<Tag>(&engine), 0, "{}", db.name);
            assert!(s.get::<Member>(ann_id).unwrap().is_some(), "{}", db.name);
        }
    });
}
