//! The ORM suite (acceptance A1–A3, C27–C28, C30, C33–C35, C38–C40, C43) on every backend,
//! each test body run twice: as plain sync code, and inside `AsyncSession::run_sync` on a
//! multi-thread tokio runtime (the parity harness: SQLAlchemy runs its sync suite through
//! `greenlet_spawn` when the driver is async).

#![allow(clippy::unwrap_used, missing_docs, dead_code)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use calcine_asyncio::{AsyncEngine, AsyncSession, AsyncSessionMaker};
use calcine_engine::{Engine, ErrorKind, ExecutePhase, Result};
use calcine_orm::{Model, Obj, Session, SessionMaker, Status, select};
use calcine_sql::func;
use calcine_testsuite::{Db, each_backend};

#[derive(Model, Debug, Clone, PartialEq)]
#[calcine(table = "users", crate = "calcine_orm")]
struct User {
    #[calcine(primary_key)]
    id: Option<i64>,
    #[calcine(sql_type = "varchar(50)")]
    name: String,
    fullname: Option<String>,
}

#[derive(Model, Debug, Clone, PartialEq)]
#[calcine(table = "posts", crate = "calcine_orm")]
struct Post {
    #[calcine(primary_key)]
    id: Option<i64>,
    #[calcine(foreign_key = "users.id")]
    user_id: i64,
    title: String,
}

#[derive(Model, Debug, Clone, PartialEq)]
#[calcine(table = "nodes", crate = "calcine_orm")]
struct Node {
    #[calcine(primary_key)]
    id: i64,
    #[calcine(foreign_key = "nodes.id")]
    parent_id: Option<i64>,
    name: String,
}

fn user(name: &str) -> User {
    User {
        id: None,
        name: name.into(),
        fullname: None,
    }
}

/// What a test body sees: the engine and a log of the statements it ran.
struct Ctx {
    engine: Engine,
    log: Arc<Mutex<Vec<String>>>,
    count: Arc<AtomicUsize>,
}

impl Ctx {
    fn new(db: &Db) -> Ctx {
        let engine = db.engine();
        calcine_orm::create_all(&engine, &[User::mapper(), Post::mapper(), Node::mapper()])
            .unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let count = Arc::new(AtomicUsize::new(0));
        let (l, c) = (log.clone(), count.clone());
        engine.on_execute(move |ev| {
            if ev.phase == ExecutePhase::Before {
                c.fetch_add(1, Ordering::SeqCst);
                l.lock().unwrap().push(ev.statement.to_owned());
            }
        });
        Ctx { engine, log, count }
    }

    fn statements(&self) -> usize {
        self.count.load(Ordering::SeqCst)
    }

    /// Statements run by `f`.
    fn counting<R>(&self, f: impl FnOnce() -> R) -> (R, usize) {
        let before = self.statements();
        let r = f();
        (r, self.statements() - before)
    }

    fn take_log(&self) -> Vec<String> {
        std::mem::take(&mut *self.log.lock().unwrap())
    }
}

type Body = fn(&Ctx, &mut Session) -> Result<()>;

/// Runs `body` on every backend, sync and inside `run_sync`.
fn parity(body: Body) {
    each_backend(|db| {
        let ctx = Ctx::new(db);
        let mut session = Session::new(&ctx.engine);
        body(&ctx, &mut session).unwrap_or_else(|e| panic!("sync on {}: {e}", db.name));
        drop(session);

        let db2 = fresh(db);
        let ctx = Ctx::new(&db2);
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let engine = AsyncEngine::from_engine(ctx.engine.clone()).unwrap();
        rt.block_on(async {
            let mut s = AsyncSession::new(&engine);
            s.run_sync(|s| body(&ctx, s))
                .await
                .unwrap_or_else(|e| panic!("run_sync on {}: {e}", db.name));
            s.close().await;
        });
    });
}

/// A second database of the same backend (the async pass must not see the sync pass's rows).
fn fresh(db: &Db) -> Db {
    match db.name {
        "sqlite-memory" => calcine_testsuite::sqlite_memory(),
        "sqlite-file" => calcine_testsuite::sqlite_file(),
        _ => calcine_testsuite::postgres().unwrap(),
    }
}

fn count_users(s: &mut Session) -> Result<i64> {
    s.scalar(&calcine_sql::select(func::count_star()).select_from(User::mapper().table()))
}

// C27
fn get_returns_the_same_instance(ctx: &Ctx, s: &mut Session) -> Result<()> {
    let ann = s.add(user("ann"));
    s.commit()?;
    let id = ann.read()?.id.unwrap();
    let (a, n1) = ctx.counting(|| s.get::<User>(id));
    let a = a?.unwrap();
    assert_eq!(n1, 0, "ann is in the identity map");
    let (b, n2) = ctx.counting(|| s.get::<User>(id));
    assert!(b?.unwrap() == a);
    assert_eq!(n2, 0);
    a.write()?.name = "anne".into();
    assert_eq!(
        ann.read()?.name,
        "anne",
        "a change through one handle is seen through all"
    );
    assert!(s.get::<User>(id + 1000)?.is_none());
    let err = s.get_one::<User>(id + 1000).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NoResultFound);
    Ok(())
}

#[test]
fn c27_get_identity_map() {
    parity(get_returns_the_same_instance);
}

/// A session started after another one ended on the same thread (which hands its emptied
/// identity map on) knows none of the old session's objects, even those still alive.
#[test]
fn a_new_session_does_not_see_the_last_ones_objects() {
    each_backend(|db| {
        let ctx = Ctx::new(db);
        let mut s1 = Session::new(&ctx.engine);
        let ann = s1.add(user("ann"));
        s1.commit().unwrap();
        let id = ann.read().unwrap().id.unwrap();
        let loaded = s1.get::<User>(id).unwrap().unwrap();
        assert!(loaded == ann);
        drop(s1);
        assert_eq!(ann.status(), calcine_orm::Status::Detached);
        let mut s2 = Session::new(&ctx.engine);
        let (again, n) = ctx.counting(|| s2.get::<User>(id));
        let again = again.unwrap().unwrap();
        assert_eq!(n, 1, "{}: the new session loads the row", db.name);
        assert!(
            again != ann,
            "{}: a new instance, not the old session's",
            db.name
        );
        assert_eq!(again.status(), calcine_orm::Status::Persistent);
        assert_eq!(ann.status(), calcine_orm::Status::Detached);
        assert_eq!(again.read().unwrap().name, "ann");
    });
}

// C28
fn add_flush_count_rollback(_ctx: &Ctx, s: &mut Session) -> Result<()> {
    let obj = s.add(user("temp"));
    s.flush()?;
    assert_eq!(count_users(s)?, 1);
    assert_eq!(obj.status(), Status::Persistent);
    s.rollback()?;
    assert_eq!(obj.status(), Status::Transient);
    assert_eq!(count_users(s)?, 0);
    Ok(())
}

#[test]
fn c28_rollback_leaves_nothing_behind() {
    parity(add_flush_count_rollback);
}

// C30 (sync half; the async half is below)
fn expire_on_commit(ctx: &Ctx, s: &mut Session) -> Result<()> {
    let ann = s.add(user("ann"));
    s.commit()?;
    assert!(ann.is_expired());
    let (name, n) = ctx.counting(|| ann.read().map(|u| u.name.clone()));
    assert_eq!(name?, "ann");
    assert_eq!(n, 1, "the expired object reloads with one SELECT");
    let (_, n) = ctx.counting(|| ann.read().map(|u| u.name.clone()));
    assert_eq!(n, 0);

    s.set_expire_on_commit(false);
    ann.write()?.fullname = Some("Ann A.".into());
    s.commit()?;
    let (full, n) = ctx.counting(|| ann.read().map(|u| u.fullname.clone()));
    assert_eq!(full?, Some("Ann A.".into()));
    assert_eq!(n, 0, "expire_on_commit=false keeps loaded state");
    Ok(())
}

#[test]
fn c30_expire_on_commit() {
    parity(expire_on_commit);
}

// C33
fn flush_orders_by_dependency(ctx: &Ctx, s: &mut Session) -> Result<()> {
    // Children added before their parent.
    s.add(Post {
        id: None,
        user_id: 10,
        title: "first".into(),
    });
    s.add(User {
        id: Some(10),
        name: "parent".into(),
        fullname: None,
    });
    s.add(Node {
        id: 3,
        parent_id: Some(2),
        name: "grandchild".into(),
    });
    s.add(Node {
        id: 2,
        parent_id: Some(1),
        name: "child".into(),
    });
    s.add(Node {
        id: 1,
        parent_id: None,
        name: "root".into(),
    });
    ctx.take_log();
    s.flush()?;
    let log = ctx.take_log();
    let pos = |needle: &str| log.iter().position(|q| q.contains(needle)).unwrap();
    assert!(
        pos("INSERT INTO users") < pos("INSERT INTO posts"),
        "{log:#?}"
    );
    s.commit()?;

    // Deletes run children first (FKs are enforced on both backends).
    let posts = s.scalars::<Post>(&select::<Post>())?;
    let parent = s.get_one::<User>(10)?;
    let nodes = s.scalars::<Node>(&select::<Node>().order_by([Node::ID.asc()]))?;
    s.delete(&parent)?;
    for p in &posts {
        s.delete(p)?;
    }
    for n in &nodes {
        s.delete(n)?;
    }
    ctx.take_log();
    s.flush()?;
    let log = ctx.take_log();
    let pos = |needle: &str| {
        log.iter()
            .position(|q| q.contains(needle))
            .unwrap_or_else(|| panic!("no {needle:?} in {log:#?}"))
    };
    assert!(
        pos("DELETE FROM posts") < pos("DELETE FROM users"),
        "{log:#?}"
    );
    let node_deletes: Vec<&String> = log
        .iter()
        .filter(|q| q.contains("DELETE FROM nodes"))
        .collect();
    assert_eq!(node_deletes.len(), 3);
    s.commit()?;
    assert_eq!(count_users(s)?, 0);
    Ok(())
}

#[test]
fn c33_flush_order() {
    parity(flush_orders_by_dependency);
}

// C34
fn only_changed_columns(ctx: &Ctx, s: &mut Session) -> Result<()> {
    let ann = s.add(User {
        id: None,
        name: "ann".into(),
        fullname: Some("Ann".into()),
    });
    s.commit()?;
    drop(ann.read()?);
    ann.write()?.name = "anne".into();
    ctx.take_log();
    s.flush()?;
    let log = ctx.take_log();
    let updates: Vec<&String> = log.iter().filter(|q| q.starts_with("UPDATE")).collect();
    assert_eq!(updates.len(), 1, "{log:#?}");
    assert!(updates[0].contains("name"), "{}", updates[0]);
    assert!(!updates[0].contains("fullname"), "{}", updates[0]);

    // Written but not changed: no statement at all.
    {
        let mut w = ann.write()?;
        w.name = "anne".into();
    }
    assert!(!s.is_modified(&ann)?);
    let (r, n) = ctx.counting(|| s.flush());
    r?;
    assert_eq!(n, 0);
    Ok(())
}

#[test]
fn c34_update_changed_columns_only() {
    parity(only_changed_columns);
}

// C35
fn stale_data(_ctx: &Ctx, s: &mut Session) -> Result<()> {
    let ann = s.add(user("ann"));
    let bob = s.add(user("bob"));
    s.flush()?;
    let (a, b) = (ann.read()?.id.unwrap(), bob.read()?.id.unwrap());
    // Remove the rows behind the session's back, in its own transaction.
    s.connection(|c| {
        c.execute(calcine_sql::delete(User::mapper().table()).where_(User::ID.in_([a, b])))
            .map(drop)
    })?;
    ann.write()?.name = "changed".into();
    let err = s.flush().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::StaleData, "{err}");
    assert!(
        err.to_string()
            .contains("expected to update 1 row(s); 0 were matched")
    );
    s.rollback()?;

    let carl = s.add(user("carl"));
    s.commit()?;
    let c = carl.read()?.id.unwrap();
    s.connection(|conn| {
        conn.execute(calcine_sql::delete(User::mapper().table()).where_(User::ID.eq(c)))
            .map(drop)
    })?;
    s.delete(&carl)?;
    let err = s.flush().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::StaleData, "{err}");
    s.rollback()?;
    Ok(())
}

#[test]
fn c35_stale_data() {
    parity(stale_data);
}

// C38
fn merge_delete_expunge(_ctx: &Ctx, s: &mut Session) -> Result<()> {
    let ann = s.add(user("ann"));
    s.commit()?;
    let id = ann.read()?.id.unwrap();
    let merged = s.merge(User {
        id: Some(id),
        name: "merged".into(),
        fullname: Some("from a detached copy".into()),
    })?;
    assert!(merged == ann, "merge returns the persistent instance");
    assert_eq!(ann.read()?.name, "merged");
    s.commit()?;
    let name: String =
        s.scalar(&calcine_sql::select(User::NAME.column()).where_(User::ID.eq(id)))?;
    assert_eq!(name, "merged");

    // A merge of an unknown key adds it.
    let new = s.merge(User {
        id: Some(id + 500),
        name: "new".into(),
        fullname: None,
    })?;
    assert_eq!(new.status(), Status::Pending);
    s.flush()?;

    s.delete(&ann)?;
    s.flush()?;
    assert_eq!(ann.status(), Status::Deleted);
    assert!(
        s.get::<User>(id)?.is_none(),
        "deleted rows leave the identity map"
    );
    s.commit()?;
    assert_eq!(ann.status(), Status::Detached);

    let kept = s.get_one::<User>(id + 500)?;
    s.expunge(&kept);
    assert_eq!(kept.status(), Status::Detached);
    let again = s.get_one::<User>(id + 500)?;
    assert!(
        again != kept,
        "an expunged object is no longer the session's instance"
    );
    Ok(())
}

#[test]
fn c38_merge_delete_expunge() {
    parity(merge_delete_expunge);
}

// C39
fn pending_rollback(_ctx: &Ctx, s: &mut Session) -> Result<()> {
    s.add(User {
        id: Some(7),
        name: "a".into(),
        fullname: None,
    });
    s.flush()?;
    s.add(User {
        id: Some(7),
        name: "b".into(),
        fullname: None,
    });
    let err = s.flush().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Integrity, "{err}");
    let err = count_users(s).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PendingRollback, "{err}");
    let err = s.get::<User>(1).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PendingRollback);
    s.rollback()?;
    assert_eq!(count_users(s)?, 0);
    Ok(())
}

#[test]
fn c39_pending_rollback() {
    parity(pending_rollback);
}

// C40
fn autoflush(_ctx: &Ctx, s: &mut Session) -> Result<()> {
    s.add(user("zed"));
    let found = s.scalars::<User>(&select::<User>().where_(User::NAME.eq("zed")))?;
    assert_eq!(found.len(), 1, "the query flushed the pending object first");
    s.add(user("quiet"));
    let hidden =
        s.no_autoflush(|s| s.scalars::<User>(&select::<User>().where_(User::NAME.eq("quiet"))))?;
    assert!(hidden.is_empty(), "no_autoflush suppresses the flush");
    let seen = s.scalars::<User>(&select::<User>().where_(User::NAME.eq("quiet")))?;
    assert_eq!(seen.len(), 1);
    s.rollback()?;
    Ok(())
}

#[test]
fn c40_autoflush() {
    parity(autoflush);
}

fn views_and_is_modified(_ctx: &Ctx, s: &mut Session) -> Result<()> {
    let ann = s.add(user("ann"));
    assert_eq!(s.new_objects::<User>().len(), 1);
    assert!(s.is_modified(&ann)?);
    s.commit()?;
    assert!(s.new_objects::<User>().is_empty());
    ann.write()?.name = "x".into();
    assert_eq!(s.dirty_objects::<User>().len(), 1);
    assert!(s.is_modified(&ann)?);
    s.delete(&ann)?;
    assert_eq!(s.deleted_objects::<User>().len(), 1);
    s.commit()?;
    assert!(s.deleted_objects::<User>().is_empty());
    Ok(())
}

#[test]
fn session_views() {
    parity(views_and_is_modified);
}

fn savepoints(_ctx: &Ctx, s: &mut Session) -> Result<()> {
    s.add(user("outer"));
    let r: Result<()> = s.begin_nested(|s| {
        s.add(user("inner"));
        s.flush()?;
        Err(calcine_engine::Error::invalid_request(
            "roll the savepoint back",
        ))
    });
    assert!(r.is_err());
    s.begin_nested(|s| {
        s.add(user("kept"));
        Ok(())
    })?;
    s.commit()?;
    let names: Vec<String> = s
        .scalars::<User>(&select::<User>().order_by([User::NAME.asc()]))?
        .iter()
        .map(|u| u.read().map(|u| u.name.clone()))
        .collect::<Result<_>>()?;
    assert_eq!(names, ["kept", "outer"]);
    Ok(())
}

#[test]
fn begin_nested_savepoints() {
    parity(savepoints);
}

// A1: run_sync hands the very session the AsyncSession wraps; A2: no IO is fine; A3: errors
// come out unchanged.
#[test]
fn a1_a3_run_sync_hands_the_sync_session() {
    let rt = calcine_testsuite::runtime();
    rt.block_on(async {
        let engine = calcine_asyncio::create_async_engine("sqlite://").unwrap();
        let mut s = AsyncSession::new(&engine);
        let inner = s.run_sync(|s| s as *mut Session as usize).await;
        assert_eq!(inner, s.sync_session() as *mut Session as usize);
        assert_eq!(s.run_sync(|_| 5).await, 5);
        let err = s
            .run_sync(|_| -> Result<()> { Err(calcine_engine::Error::invalid_request("mine")) })
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidRequest);
        assert_eq!(err.message(), "mine");
    });
}

// C30, async half: an expired attribute read outside a greenlet is MissingGreenlet.
#[test]
fn c30_expired_attribute_outside_greenlet_is_missing_greenlet() {
    each_backend(|db| {
        let ctx = Ctx::new(db);
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let engine = AsyncEngine::from_engine(ctx.engine.clone()).unwrap();
        rt.block_on(async {
            let mut s = AsyncSession::new(&engine);
            let ann = s.add(user("ann"));
            s.commit().await.unwrap();
            let err = ann.read().map(drop).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::MissingGreenlet, "{err}");
            assert!(err.to_string().contains("<User"), "{err}");
            // Inside run_sync the same read loads.
            let name = s
                .run_sync(|_| ann.read().map(|u| u.name.clone()))
                .await
                .unwrap();
            assert_eq!(name, "ann");
            // Afterwards plain access does no IO.
            let (r, n) = ctx.counting(|| ann.read().map(|u| u.name.clone()));
            assert_eq!(r.unwrap(), "ann");
            assert_eq!(n, 0);
            // The session holds its connection until it ends (in-memory SQLite has one).
            s.close().await;

            let maker = AsyncSessionMaker::new(&engine).expire_on_commit(false);
            let mut s2 = maker.session();
            let bob = s2.add(user("bob"));
            s2.commit().await.unwrap();
            let (r, n) = ctx.counting(|| bob.read().map(|u| u.name.clone()));
            assert_eq!(
                r.unwrap(),
                "bob",
                "expire_on_commit=false reads loaded state"
            );
            assert_eq!(n, 0);
            s2.close().await;
        });
    });
}

// C43
#[test]
fn c43_async_sessionmaker_begin_commits_and_closes() {
    each_backend(|db| {
        let ctx = Ctx::new(db);
        let rt = calcine_testsuite::runtime();
        let engine = AsyncEngine::from_engine(ctx.engine.clone()).unwrap();
        rt.block_on(async {
            let maker = AsyncSessionMaker::new(&engine);
            let id = maker
                .begin(async |s: &mut AsyncSession| {
                    let u = s.add(user("committed"));
                    s.flush().await?;
                    s.run_sync(|_| u.read().map(|u| u.id)).await
                })
                .await
                .unwrap();
            let failed: Result<()> = maker
                .begin(async |s: &mut AsyncSession| {
                    s.add(user("rolled back"));
                    s.flush().await?;
                    Err(calcine_engine::Error::invalid_request("no"))
                })
                .await;
            assert!(failed.is_err());
            let mut s = maker.session();
            let names: Vec<String> = s
                .run_sync(|s| {
                    s.scalars::<User>(&select::<User>())?
                        .iter()
                        .map(|u| u.read().map(|u| u.name.clone()))
                        .collect::<Result<Vec<_>>>()
                })
                .await
                .unwrap();
            assert_eq!(names, ["committed"]);
            assert!(id.is_some());
            s.close().await;
        });
        assert_eq!(
            ctx.engine.pool_status().checked_out,
            0,
            "sessions were closed"
        );
    });
}

/// The seed, verbatim in spirit: sync business logic run from async code.
fn some_business_method(session: &mut Session, param: &str) -> Result<&'static str> {
    session.add(User {
        id: None,
        name: param.into(),
        fullname: None,
    });
    session.flush()?;
    Ok("success")
}

#[test]
fn seed_runs_through_run_sync() {
    each_backend(|db| {
        let ctx = Ctx::new(db);
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let engine = AsyncEngine::from_engine(ctx.engine.clone()).unwrap();
        rt.block_on(async {
            let mut s = AsyncSession::new(&engine);
            let code = s
                .run_sync(|s| some_business_method(s, "param1"))
                .await
                .unwrap();
            assert_eq!(code, "success");
            let n: i64 = s.run_sync(count_users).await.unwrap();
            assert_eq!(n, 1);
            s.close().await;
        });
    });
}

#[test]
fn sessionmaker_begin_sync() {
    each_backend(|db| {
        let ctx = Ctx::new(db);
        let maker = SessionMaker::new(&ctx.engine);
        maker
            .begin(|s| {
                s.add(user("a"));
                Ok(())
            })
            .unwrap();
        let n = maker.begin(count_users).unwrap();
        assert_eq!(n, 1);
        let _: Option<Obj<User>> = None;
    });
}

// The Send flavour under tokio::spawn on a multi-thread runtime (issue 5, both bridge modes).
#[test]
fn send_async_session_under_tokio_spawn() {
    each_backend(|db| {
        if db.name == "sqlite-memory" {
            return; // one shared connection: 200 tasks would only queue on it
        }
        let ctx = Ctx::new(db);
        let engine = AsyncEngine::from_engine(ctx.engine.clone()).unwrap();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(4)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let mut handles = Vec::new();
            for i in 0..200 {
                let engine = engine.clone();
                handles.push(tokio::spawn(async move {
                    let mut s = calcine_asyncio::SendAsyncSession::new(&engine);
                    let u = s.add(user(&format!("user{i}")))?;
                    s.commit().await?;
                    let id = s.run_sync(move |_| u.read().map(|u| u.id)).await??;
                    let again = s.get_one::<User>(id.unwrap()).await?;
                    let name = s
                        .run_sync(move |_| again.read().map(|u| u.name.clone()))
                        .await??;
                    s.close().await?;
                    Ok::<_, calcine_engine::Error>(name)
                }));
            }
            for (i, h) in handles.into_iter().enumerate() {
                assert_eq!(h.await.unwrap().unwrap(), format!("user{i}"));
            }

            // Cancelled mid-call: the session is gone, and says so; the pool gets its slot back.
            let mut s = calcine_asyncio::SendAsyncSession::new(&engine);
            let cut = tokio::time::timeout(
                std::time::Duration::from_millis(50),
                s.run_sync(|s| {
                    s.flush().unwrap();
                    calcine_greenlet::await_(std::future::pending::<()>()).unwrap();
                }),
            )
            .await;
            assert!(cut.is_err());
            assert!(s.closed_by_cancellation());
            let err = s.commit().await.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::ResourceClosed);
        });
        let n = count_users(&mut Session::new(&ctx.engine)).unwrap();
        assert_eq!(n, 200);
        for _ in 0..100 {
            if ctx.engine.pool_status().checked_out == 0 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert_eq!(ctx.engine.pool_status().checked_out, 0);
    });
}

// D47: a panic inside run_sync while a transaction is open: nothing is committed and the
// connection goes back clean.
#[test]
fn d47_panic_in_run_sync_rolls_back() {
    each_backend(|db| {
        let ctx = Ctx::new(db);
        let engine = AsyncEngine::from_engine(ctx.engine.clone()).unwrap();
        let rt = calcine_testsuite::runtime();
        rt.block_on(async {
            let mut s = AsyncSession::new(&engine);
            let caught = futures_catch(s.run_sync(|s| {
                s.add(user("doomed"));
                s.flush().unwrap();
                panic!("business logic bug");
            }))
            .await;
            assert!(caught.is_err(), "the panic reaches the awaiter");
            drop(s);
            let mut s = AsyncSession::new(&engine);
            let n = s.run_sync(count_users).await.unwrap();
            assert_eq!(n, 0, "the flushed row was rolled back");
            s.close().await;
        });
        for _ in 0..100 {
            if ctx.engine.pool_status().checked_out == 0 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert_eq!(ctx.engine.pool_status().checked_out, 0);
    });
}

/// `catch_unwind` for a future (no extra dependency).
async fn futures_catch<F: std::future::Future>(f: F) -> std::thread::Result<F::Output> {
    let mut f = std::pin::pin!(f);
    std::future::poll_fn(|cx| {
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f.as_mut().poll(cx))) {
            Ok(std::task::Poll::Pending) => std::task::Poll::Pending,
            Ok(std::task::Poll::Ready(v)) => std::task::Poll::Ready(Ok(v)),
            Err(p) => std::task::Poll::Ready(Err(p)),
        }
    })
    .await
}

// B20: a session bound to a connection joins the caller's transaction; its commit() leaves the
// outer transaction open for the caller (the "join an external transaction" test pattern).
#[test]
fn b20_session_joins_an_external_transaction() {
    each_backend(|db| {
        let ctx = Ctx::new(db);
        let count = || calcine_sql::select(func::count_star()).select_from(User::mapper().table());
        let mut conn = ctx.engine.connect().unwrap();
        let outer = conn.begin().unwrap().detach();
        let mut s = Session::with_connection(conn);
        s.add(user("inside"));
        s.commit().unwrap();
        assert_eq!(count_users(&mut s).unwrap(), 1);
        let mut conn = s.into_connection().unwrap();
        assert!(conn.in_transaction(), "the outer transaction is still open");
        outer.rollback(&mut conn).unwrap();
        let n: i64 = conn.scalar(&count()).unwrap();
        assert_eq!(
            n, 0,
            "rolling the outer transaction back undid the session's work"
        );
    });
}

// C41, C42 for mapped objects: stream_scalars fetches lazily in chunks, partitions(n) and
// yield_per(n) give chunks of n, one() checks the count; the session keeps working afterwards.
#[test]
fn c41_c42_stream_scalars() {
    use futures_util::StreamExt;
    each_backend(|db| {
        let ctx = Ctx::new(db);
        let mut s = Session::new(&ctx.engine);
        for i in 0..25 {
            s.add(user(&format!("u{i:02}")));
        }
        s.commit().unwrap();
        drop(s);
        let engine = AsyncEngine::from_engine(ctx.engine.clone()).unwrap();
        let rt = calcine_testsuite::runtime();
        rt.block_on(async {
            let mut s = AsyncSession::new(&engine);
            let q = select::<User>().order_by([User::ID.asc()]);
            let mut st = s.stream_scalars::<User>(&q).await.unwrap().yield_per(10);
            let before = ctx.statements();
            let first = st.next_partition(10).await.unwrap();
            assert_eq!(first.len(), 10);
            assert_eq!(st.next_partition(10).await.unwrap().len(), 10);
            assert_eq!(st.next_partition(10).await.unwrap().len(), 5);
            assert!(st.next_partition(10).await.unwrap().is_empty());
            assert_eq!(
                ctx.statements() - before,
                0,
                "one statement, fetched in chunks"
            );
            drop(st);
            // Streamed objects are the session's instances.
            let id = s
                .run_sync(|_| first[0].read().map(|u| u.id.unwrap()))
                .await
                .unwrap();
            let again = s.get::<User>(id).await.unwrap().unwrap();
            assert!(again == first[0]);

            let sizes: Vec<usize> = s
                .stream_scalars::<User>(&q)
                .await
                .unwrap()
                .partitions(10)
                .map(|p| p.unwrap().len())
                .collect()
                .await;
            assert_eq!(sizes, [10, 10, 5]);
            let n = s
                .stream_scalars::<User>(&q)
                .await
                .unwrap()
                .into_stream()
                .count()
                .await;
            assert_eq!(n, 25);

            let none = select::<User>().where_(User::NAME.eq("nobody"));
            let err = s
                .stream_scalars::<User>(&none)
                .await
                .unwrap()
                .one()
                .await
                .unwrap_err();
            assert_eq!(err.kind(), ErrorKind::NoResultFound);
            let two = select::<User>().where_(User::NAME.in_(["u01", "u02"]));
            let err = s
                .stream_scalars::<User>(&two)
                .await
                .unwrap()
                .one()
                .await
                .unwrap_err();
            assert_eq!(err.kind(), ErrorKind::MultipleResultsFound);
            let one = select::<User>().where_(User::NAME.eq("u03"));
            let u = s
                .stream_scalars::<User>(&one)
                .await
                .unwrap()
                .one()
                .await
                .unwrap();
            assert_eq!(
                s.run_sync(|_| u.read().map(|u| u.name.clone()))
                    .await
                    .unwrap(),
                "u03"
            );

            // Core rows through the session.
            let count = calcine_sql::select(func::count_star()).select_from(User::mapper().table());
            let n: i64 = s.stream(&count).await.unwrap().scalar().await.unwrap();
            assert_eq!(n, 25);

            // The session goes on, in the same transaction.
            s.add(user("after"));
            s.commit().await.unwrap();
            let n: i64 = s.run_sync(count_users).await.unwrap();
            assert_eq!(n, 26);
            s.close().await;
        });
        assert_eq!(ctx.engine.pool_status().checked_out, 0);
    });
}

// The flush's INSERTs give every object its own key: on PostgreSQL batched (multi-row
// `INSERT ... RETURNING`, 1,000 rows each), on SQLite one INSERT per row (one statement,
// prepared once, executed per row).
fn bulk_insert_keys_line_up(ctx: &Ctx, s: &mut Session) -> Result<()> {
    let objs = s.add_all((0..2500).map(|i| user(&format!("bulk{i}"))));
    let (r, n) = ctx.counting(|| s.flush());
    r?;
    let pg = s.engine().dialect() == calcine_sql::Dialect::Postgresql;
    assert_eq!(n, if pg { 3 } else { 2500 }, "statements for 2,500 rows");
    let lone = s.add(user("lone"));
    let (r, n) = ctx.counting(|| s.flush());
    r?;
    assert_eq!(n, 1);
    assert!(lone.read()?.id.is_some());
    let rows = s.execute(
        &calcine_sql::select((User::ID.column(), User::NAME.column())).order_by([User::ID.asc()]),
    )?;
    let by_id: std::collections::HashMap<i64, String> = rows
        .into_iter()
        .map(|r| (r.get::<i64>(0).unwrap(), r.get::<String>(1).unwrap()))
        .collect();
    for o in &objs {
        let u = o.read()?;
        assert_eq!(by_id.get(&u.id.unwrap()), Some(&u.name));
    }
    s.commit()
}

#[test]
fn bulk_insert_keys() {
    parity(bulk_insert_keys_line_up);
}

// Rows of one shape go out as one statement executed once per row (prepared once on SQLite):
// a row that fails stops the flush there, as one INSERT per row did. The rows before it were
// written in the failed transaction, the rest stay in `session.new`; `rollback()` makes all of
// them transient.
fn failing_row_stops_the_inserts(ctx: &Ctx, s: &mut Session) -> Result<()> {
    let with_id = |id: i64| User {
        id: Some(id),
        name: format!("u{id}"),
        fullname: None,
    };
    let objs = s.add_all([10, 11, 10, 12].map(with_id));
    let (r, n) = ctx.counting(|| s.flush());
    let err = r.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Integrity, "{err}");
    assert_eq!(n, 3, "the INSERTs up to the failing one");
    let status: Vec<Status> = objs.iter().map(Obj::status).collect();
    assert_eq!(
        status,
        [
            Status::Persistent,
            Status::Persistent,
            Status::Pending,
            Status::Pending
        ]
    );
    assert_eq!(s.new_objects::<User>(), objs[2..]);
    s.rollback()?;
    assert!(objs.iter().all(|o| o.status() == Status::Transient));
    assert_eq!(count_users(s)?, 0);

    // An object that cannot take its generated key (a live read guard) stops the flush right
    // after its own row (SQLite; on PostgreSQL after the batch holding it).
    let objs = s.add_all(["a", "b", "c"].map(user));
    let guard = objs[1].read()?;
    let (r, n) = ctx.counting(|| s.flush());
    let err = r.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidRequest, "{err}");
    assert!(err.message().contains("locked"), "{err}");
    // PostgreSQL sent the three rows in one `INSERT ... RETURNING`.
    let pg = s.engine().dialect() == calcine_sql::Dialect::Postgresql;
    assert_eq!(
        n,
        if pg { 1 } else { 2 },
        "the INSERTs up to the locked object's"
    );
    drop(guard);
    assert_eq!(objs[0].status(), Status::Persistent);
    assert_eq!(s.new_objects::<User>(), objs[1..]);
    s.rollback()?;
    assert_eq!(count_users(s)?, 0);
    let objs = s.add_all(["d", "e"].map(user));
    s.commit()?;
    assert!(objs.iter().all(|o| o.key().is_some()));
    assert_eq!(count_users(s)?, 2);
    Ok(())
}

// Rows of one mapper in different shapes (a generated key or a given one): each run of one
// shape is one statement, every object gets its own key, in order.
fn mixed_shapes(ctx: &Ctx, s: &mut Session) -> Result<()> {
    let ids = [None, None, Some(1000), None, Some(2000), Some(2001), None];
    let objs = s.add_all(ids.iter().enumerate().map(|(i, &id)| User {
        id,
        name: format!("m{i}"),
        fullname: (i % 2 == 0).then(|| format!("full {i}")),
    }));
    let (r, n) = ctx.counting(|| s.flush());
    r?;
    // PostgreSQL sends each run of generated keys as one `INSERT ... RETURNING`.
    let pg = s.engine().dialect() == calcine_sql::Dialect::Postgresql;
    assert_eq!(n, if pg { 6 } else { 7 });
    let mut seen = std::collections::HashSet::new();
    let mut written = Vec::new();
    for (o, id) in objs.iter().zip(ids) {
        let u = o.read()?;
        let key = u.id.unwrap();
        if let Some(id) = id {
            assert_eq!(key, id);
        }
        assert!(seen.insert(key), "{key} twice");
        assert_eq!(o.key(), Some(key.into()));
        written.push(u.clone());
    }
    s.commit()?;
    s.close();
    for u in written {
        let fresh = s.get_one::<User>(u.id.unwrap())?;
        assert_eq!(*fresh.read()?, u);
    }
    Ok(())
}

#[test]
fn flush_inserts_runs_of_one_shape() {
    parity(mixed_shapes);
}

#[test]
fn failing_row_stops_the_flush_inserts() {
    parity(failing_row_stops_the_inserts);
}

/// Closing needs bridged IO only for a session bound to a caller's PostgreSQL connection with a
/// transaction of its own open; async sessions close in place otherwise.
#[test]
fn close_needs_io_only_on_a_bound_bridged_connection() {
    each_backend(|db| {
        let db = fresh(db);
        let engine = Ctx::new(&db).engine;
        let pg = engine.is_bridged();

        let mut s = Session::new(&engine);
        count_users(&mut s).unwrap();
        assert!(
            s.in_transaction() && !s.close_needs_io(),
            "{}: engine-bound",
            db.name
        );
        s.close();

        let mut s = Session::with_connection(engine.connect().unwrap());
        assert!(!s.close_needs_io(), "{}: nothing begun yet", db.name);
        count_users(&mut s).unwrap();
        assert_eq!(
            s.close_needs_io(),
            pg,
            "{}: bound, transaction open",
            db.name
        );
        s.close();
        assert!(!s.close_needs_io(), "{}: closed", db.name);
        drop(s.into_connection());

        // Joined to the caller's transaction: closing leaves it to its owner, no IO.
        let mut conn = engine.connect().unwrap();
        conn.begin().unwrap().detach();
        let mut s = Session::with_connection(conn);
        count_users(&mut s).unwrap();
        assert!(!s.close_needs_io(), "{}: joined outer transaction", db.name);
    });
}

#[derive(Model, Debug, Clone, PartialEq)]
#[calcine(table = "notes", crate = "calcine_orm")]
struct Note {
    #[calcine(primary_key)]
    id: Option<i64>,
    body: String,
    #[calcine(sql_type = "varchar(20)", server_default = "'draft'")]
    state: Option<String>,
}

/// A NULL in a column with a server default is left out of the INSERT, so such rows are a shape
/// of their own between the others; the database fills the default in.
#[test]
fn flush_leaves_server_defaults_to_the_database() {
    each_backend(|db| {
        let engine = db.engine();
        calcine_orm::create_all(&engine, &[Note::mapper()]).unwrap();
        let mut s = Session::new(&engine);
        let states = [None, None, Some("kept"), None, Some("also kept")];
        let objs = s.add_all(states.iter().enumerate().map(|(i, st)| Note {
            id: None,
            body: format!("n{i}"),
            state: st.map(str::to_owned),
        }));
        s.commit().unwrap();
        let got: Vec<Option<String>> = objs
            .iter()
            .map(|o| o.read().unwrap().state.clone())
            .collect();
        assert_eq!(
            got,
            states.map(|st| Some(st.unwrap_or("draft").to_owned())),
            "{}",
            db.name
        );
    });
}

#[derive(Model, Debug, Clone, PartialEq)]
#[calcine(table = "countries", crate = "calcine_orm")]
struct Country {
    #[calcine(primary_key, sql_type = "varchar(2)")]
    code: String,
    name: String,
}

#[derive(Model, Debug, Clone, PartialEq)]
#[calcine(table = "seats", crate = "calcine_orm")]
struct Seat {
    #[calcine(primary_key)]
    row_no: i64,
    #[calcine(primary_key)]
    seat_no: i64,
    holder: String,
}

/// The identity map keeps one instance per key whatever the key's shape: integer keys (held
/// in a table of their own), text keys and composite keys, side by side in one session.
#[test]
fn identity_holds_integer_text_and_composite_keys() {
    each_backend(|db| {
        let engine = db.engine();
        calcine_orm::create_all(
            &engine,
            &[User::mapper(), Country::mapper(), Seat::mapper()],
        )
        .unwrap();
        let mut s = Session::new(&engine);
        let u = s.add(user("ann"));
        let c = s.add(Country {
            code: "NZ".into(),
            name: "New Zealand".into(),
        });
        let seats = s.add_all((1..=3).map(|n| Seat {
            row_no: 7,
            seat_no: n,
            holder: format!("holder {n}"),
        }));
        s.commit().unwrap();
        let id = u.read().unwrap().id.unwrap();

        // Loaded again: the same instances, not copies.
        let users = s.scalars(&select::<User>()).unwrap();
        assert_eq!(users, vec![u.clone()], "{}", db.name);
        let countries = s.scalars(&select::<Country>()).unwrap();
        assert_eq!(countries, vec![c.clone()], "{}", db.name);
        let mut loaded = s.scalars(&select::<Seat>()).unwrap();
        loaded.sort_by_key(|o| o.read().unwrap().seat_no);
        assert_eq!(loaded, seats, "{}", db.name);

        assert_eq!(s.get::<User>(id).unwrap(), Some(u.clone()), "{}", db.name);
        assert_eq!(
            s.get::<Country>("NZ".to_owned()).unwrap(),
            Some(c.clone()),
            "{}",
            db.name
        );
        assert_eq!(
            s.get::<Country>("AU".to_owned()).unwrap(),
            None,
            "{}",
            db.name
        );
        // One user, one country, three seats.
        assert_eq!(s.identity_len(), 5, "{}", db.name);

        // A deleted object leaves the map under its own key only.
        s.delete(&c).unwrap();
        s.commit().unwrap();
        assert_eq!(
            s.get::<Country>("NZ".to_owned()).unwrap(),
            None,
            "{}",
            db.name
        );
        assert_eq!(s.get::<User>(id).unwrap(), Some(u), "{}", db.name);
    });
}
