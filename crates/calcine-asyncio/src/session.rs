//! [`AsyncSession`] and [`AsyncSessionMaker`] (SQLAlchemy `ext/asyncio/session.py`): the
//! synchronous [`Session`] driven through the greenlet bridge.

use calcine_engine::{Connection, Result, Row};
use calcine_greenlet::greenlet_spawn;
use calcine_orm::{Key, Model, ModelSelect, Obj, Session, SessionMaker};
use calcine_sql::{Executable, FromValue};

use crate::engine::AsyncEngine;
use crate::scalar_stream::AsyncScalarStream;
use crate::stream::AsyncResult;

/// The async face of a [`Session`] (SQLAlchemy's `AsyncSession`).
///
/// It owns one synchronous `Session`; every method that may do IO is that session's method run
/// inside [`greenlet_spawn`], and [`run_sync`](AsyncSession::run_sync) hands the very session to
/// ordinary synchronous code, which can then use everything the ORM offers (lazy loads,
/// autoflush, expired attributes reloading) as if it were in a plain `fn main`. Methods that do
/// no IO (`add`, `expunge`, the views) stay synchronous.
///
/// Outside a greenlet, implicit IO through an object of this session (reading an expired
/// attribute after `commit()`, a lazy load) fails with `MissingGreenlet` instead of blocking
/// the executor: read such attributes inside `run_sync`, or use `expire_on_commit(false)`.
///
/// The futures are `!Send` (inline mode): use a current-thread runtime, a `LocalSet`, or
/// `block_on` of the top-level future. Two concurrent operations on one session are a compile
/// error (`&mut self`), where SQLAlchemy raises "concurrent operations are not permitted" at
/// run time:
///
/// ```compile_fail
/// # async fn two_at_once(s: &mut calcine_asyncio::AsyncSession) {
/// let a = s.flush();
/// let b = s.commit(); // error[E0499]: cannot borrow `*s` as mutable more than once
/// drop((a, b));
/// # }
/// ```
///
/// # Example (the seed)
/// ```ignore
/// fn some_business_method(session: &mut Session, param: &str) -> calcine::Result<&'static str> {
///     session.add(MyObject::new(param));
///     session.flush()?;
///     Ok("success")
/// }
/// let mut s = AsyncSession::new(&engine);
/// let code = s.run_sync(|s| some_business_method(s, "param1")).await?;
/// ```
pub struct AsyncSession {
    sync: Session,
    /// The session's connection while lent to a stream; given back on the next call.
    streaming: Option<Connection>,
}

impl AsyncSession {
    /// A session on `engine` with SQLAlchemy's defaults.
    pub fn new(engine: &AsyncEngine) -> AsyncSession {
        AsyncSession::from_sync(Session::new(engine.sync_engine()))
    }

    /// Wraps a synchronous session (made by a [`SessionMaker`], for options).
    pub fn from_sync(mut sync: Session) -> AsyncSession {
        sync.set_async(true);
        AsyncSession {
            sync,
            streaming: None,
        }
    }

    /// The wrapped synchronous session (SQLAlchemy's `AsyncSession.sync_session`): the object
    /// [`run_sync`](AsyncSession::run_sync) hands to its closure.
    pub fn sync_session(&mut self) -> &mut Session {
        self.reclaim_stream();
        &mut self.sync
    }

    /// Runs synchronous ORM code with this session inside a greenlet: its database IO suspends
    /// this task instead of blocking the thread. Returns the closure's value; its `Err` and
    /// panics reach the caller unchanged.
    pub async fn run_sync<F, R>(&mut self, f: F) -> R
    where
        F: FnOnce(&mut Session) -> R,
    {
        self.reclaim_stream();
        let sync = &mut self.sync;
        greenlet_spawn(move || f(sync)).await
    }

    fn reclaim_stream(&mut self) {
        if let Some(conn) = self.streaming.take() {
            self.sync.end_stream(conn);
        }
    }

    /// Streams the instances of `T` selected by `stmt` from a live cursor, one chunk per trip
    /// through the bridge (SQLAlchemy's `await session.stream_scalars(select(User))`): a large
    /// result never sits in memory at once. The stream runs in the session's transaction and
    /// borrows the session until dropped.
    ///
    /// # Errors
    /// As [`Session::scalars`].
    pub async fn stream_scalars<T: Model>(
        &mut self,
        stmt: &ModelSelect<T>,
    ) -> Result<AsyncScalarStream<'_, T>> {
        self.reclaim_stream();
        let sync = &mut self.sync;
        let conn = greenlet_spawn(move || sync.begin_stream()).await?;
        let conn = self.streaming.insert(conn);
        let sync = &mut self.sync;
        let cursor = greenlet_spawn(move || conn.execute(stmt)).await?;
        Ok(AsyncScalarStream::new(cursor, sync))
    }

    /// Streams the rows of a Core statement in the session's transaction (SQLAlchemy's
    /// `await session.stream(stmt)`).
    ///
    /// # Errors
    /// As [`Session::execute`].
    pub async fn stream<S: Executable + ?Sized>(&mut self, stmt: &S) -> Result<AsyncResult<'_>> {
        self.reclaim_stream();
        let sync = &mut self.sync;
        let conn = greenlet_spawn(move || sync.begin_stream()).await?;
        let conn = self.streaming.insert(conn);
        let cursor = greenlet_spawn(move || conn.execute(stmt)).await?;
        Ok(AsyncResult::new(cursor))
    }

    /// [`Session::get`] through the bridge.
    ///
    /// # Errors
    /// As `Session::get`.
    pub async fn get<T: Model>(&mut self, key: impl Into<Key>) -> Result<Option<Obj<T>>> {
        let key = key.into();
        self.run_sync(move |s| s.get::<T>(key)).await
    }

    /// [`Session::get_one`] through the bridge.
    ///
    /// # Errors
    /// As `Session::get_one`.
    pub async fn get_one<T: Model>(&mut self, key: impl Into<Key>) -> Result<Obj<T>> {
        let key = key.into();
        self.run_sync(move |s| s.get_one::<T>(key)).await
    }

    /// [`Session::scalars`] through the bridge.
    ///
    /// # Errors
    /// As `Session::scalars`.
    pub async fn scalars<T: Model>(&mut self, stmt: &ModelSelect<T>) -> Result<Vec<Obj<T>>> {
        self.run_sync(|s| s.scalars::<T>(stmt)).await
    }

    /// [`Session::execute`] through the bridge (rows are buffered).
    ///
    /// # Errors
    /// As `Session::execute`.
    pub async fn execute<S: Executable + ?Sized>(&mut self, stmt: &S) -> Result<Vec<Row>> {
        self.run_sync(|s| s.execute(stmt)).await
    }

    /// [`Session::scalar`] through the bridge.
    ///
    /// # Errors
    /// As `Session::scalar`.
    pub async fn scalar<V: FromValue, S: Executable + ?Sized>(&mut self, stmt: &S) -> Result<V> {
        self.run_sync(|s| s.scalar::<V, S>(stmt)).await
    }

    /// [`Session::flush`] through the bridge.
    ///
    /// # Errors
    /// As `Session::flush`.
    pub async fn flush(&mut self) -> Result<()> {
        self.run_sync(Session::flush).await
    }

    /// [`Session::commit`] through the bridge.
    ///
    /// # Errors
    /// As `Session::commit`.
    pub async fn commit(&mut self) -> Result<()> {
        self.run_sync(Session::commit).await
    }

    /// [`Session::rollback`] through the bridge.
    ///
    /// # Errors
    /// As `Session::rollback`.
    pub async fn rollback(&mut self) -> Result<()> {
        self.run_sync(Session::rollback).await
    }

    /// [`Session::begin`] through the bridge.
    ///
    /// # Errors
    /// As `Session::begin`.
    pub async fn begin(&mut self) -> Result<()> {
        self.run_sync(Session::begin).await
    }

    /// [`Session::refresh`] through the bridge.
    ///
    /// # Errors
    /// As `Session::refresh`.
    pub async fn refresh<T: Model>(&mut self, obj: &Obj<T>) -> Result<()> {
        self.run_sync(|s| s.refresh(obj)).await
    }

    /// [`Session::delete`] (no IO until the flush).
    ///
    /// # Errors
    /// As `Session::delete`.
    pub fn delete<T: Model>(&mut self, obj: &Obj<T>) -> Result<()> {
        self.sync.delete(obj)
    }

    /// [`Session::refresh_relationships`] through the bridge (`await session.refresh(obj,
    /// ["posts"])`).
    ///
    /// # Errors
    /// As `Session::refresh_relationships`.
    pub async fn refresh_relationships<T: Model>(
        &mut self,
        obj: &Obj<T>,
        names: &[&str],
    ) -> Result<()> {
        self.run_sync(|s| s.refresh_relationships(obj, names)).await
    }

    /// [`Session::merge`] through the bridge.
    ///
    /// # Errors
    /// As `Session::merge`.
    pub async fn merge<T: Model>(&mut self, value: T) -> Result<Obj<T>> {
        self.run_sync(move |s| s.merge(value)).await
    }

    /// [`Session::close`] through the bridge.
    pub async fn close(&mut self) {
        self.run_sync(Session::close).await;
    }

    /// [`Session::add`] (no IO).
    pub fn add<T: Model>(&mut self, value: T) -> Obj<T> {
        self.sync.add(value)
    }

    /// [`Session::add_all`] (no IO).
    pub fn add_all<T: Model>(&mut self, values: impl IntoIterator<Item = T>) -> Vec<Obj<T>> {
        self.sync.add_all(values)
    }

    /// [`Session::expunge`] (no IO).
    pub fn expunge<T: Model>(&mut self, obj: &Obj<T>) {
        self.sync.expunge(obj);
    }

    /// [`Session::expunge_all`] (no IO).
    pub fn expunge_all(&mut self) {
        self.sync.expunge_all();
    }

    /// [`Session::expire`] (no IO).
    pub fn expire<T: Model>(&mut self, obj: &Obj<T>) {
        self.sync.expire(obj);
    }

    /// [`Session::expire_all`] (no IO).
    pub fn expire_all(&mut self) {
        self.sync.expire_all();
    }

    /// [`Session::in_transaction`] (no IO).
    pub fn in_transaction(&self) -> bool {
        self.sync.in_transaction()
    }

    /// [`Session::is_modified`] (no IO).
    ///
    /// # Errors
    /// As `Session::is_modified`.
    pub fn is_modified<T: Model>(&self, obj: &Obj<T>) -> Result<bool> {
        self.sync.is_modified(obj)
    }

    /// [`Session::new_objects`] (no IO).
    pub fn new_objects<T: Model>(&self) -> Vec<Obj<T>> {
        self.sync.new_objects()
    }

    /// [`Session::dirty_objects`] (no IO).
    pub fn dirty_objects<T: Model>(&self) -> Vec<Obj<T>> {
        self.sync.dirty_objects()
    }

    /// [`Session::deleted_objects`] (no IO).
    pub fn deleted_objects<T: Model>(&self) -> Vec<Obj<T>> {
        self.sync.deleted_objects()
    }
}

impl Drop for AsyncSession {
    /// Closes without blocking the executor: in place, unless the close needs bridged IO
    /// ([`Session::close_needs_io`]), which is then spawned on a home thread.
    fn drop(&mut self) {
        self.reclaim_stream();
        if !self.sync.has_connection() {
            return;
        }
        if self.sync.close_needs_io() && !calcine_greenlet::in_greenlet() {
            let engine = self.sync.engine();
            let mut session = std::mem::replace(&mut self.sync, Session::new(&engine));
            calcine_greenlet::spawn_send_detached(move || session.close());
        } else {
            self.sync.set_async(false);
            self.sync.close();
        }
    }
}

/// A factory of [`AsyncSession`]s with fixed options (SQLAlchemy's `async_sessionmaker`).
#[derive(Clone, Debug)]
pub struct AsyncSessionMaker {
    maker: SessionMaker,
}

impl AsyncSessionMaker {
    /// A factory for sessions on `engine`, SQLAlchemy's defaults.
    pub fn new(engine: &AsyncEngine) -> Self {
        AsyncSessionMaker {
            maker: SessionMaker::new(engine.sync_engine()),
        }
    }

    /// Whether queries flush pending changes first (default `true`).
    pub fn autoflush(mut self, on: bool) -> Self {
        self.maker = self.maker.autoflush(on);
        self
    }

    /// Whether `commit()` expires every instance (default `true`).
    pub fn expire_on_commit(mut self, on: bool) -> Self {
        self.maker = self.maker.expire_on_commit(on);
        self
    }

    /// A new session (inline mode, `!Send` futures).
    pub fn session(&self) -> AsyncSession {
        AsyncSession::from_sync(self.maker.session())
    }

    /// A new session whose futures are `Send` (home-thread mode, for `tokio::spawn`).
    pub fn session_send(&self) -> crate::SendAsyncSession {
        crate::SendAsyncSession::from_sync(self.maker.session())
    }

    /// Runs `f` with a new session in a transaction that commits if `f` returns `Ok` and rolls
    /// back otherwise; the session is closed either way (`async with maker.begin() as s:`).
    ///
    /// # Errors
    /// `f`'s error, or the commit's.
    pub async fn begin<R>(&self, f: impl AsyncFnOnce(&mut AsyncSession) -> Result<R>) -> Result<R> {
        let mut session = self.session();
        let out = match f(&mut session).await {
            Ok(v) => session.commit().await.map(|()| v),
            Err(e) => Err(e),
        };
        if out.is_err() {
            let _ = session.rollback().await;
        }
        session.close().await;
        out
    }
}
