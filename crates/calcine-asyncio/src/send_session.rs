//! [`SendAsyncSession`]: the `Send` flavour of [`AsyncSession`](crate::AsyncSession), for
//! work-stealing runtimes (`tokio::spawn` on a multi-thread runtime, axum handlers).

use calcine_engine::{Error, Result, Row};
use calcine_greenlet::{spawn_send, spawn_send_detached};
use calcine_orm::{Key, Model, ModelSelect, Obj, Session};
use calcine_sql::{Executable, FromValue};

use crate::engine::AsyncEngine;

/// An async ORM session whose futures are `Send` (the home-thread mode of the bridge).
///
/// Each method moves the synchronous [`Session`] to a home thread, runs the sync method there in
/// a greenlet ([`spawn_send`]) and moves the session back: one thread hop per call, none per
/// query inside [`run_sync`](Self::run_sync), and no coroutine ever resumes on another thread,
/// so thread-locals inside the closure stay sound. Closures and statements are therefore
/// `Send + 'static`, and every call returns a `Result` (the session may be gone, see below).
///
/// **Cancellation**: if a call's future is dropped mid-way, the work is unwound on the home
/// thread and the session dropped there (its connection rolled back and returned to the pool);
/// this object then answers every call with `ResourceClosed` ("closed by cancellation").
pub struct SendAsyncSession {
    session: Option<Session>,
    cancelled: bool,
}

impl SendAsyncSession {
    /// A session on `engine` with SQLAlchemy's defaults.
    pub fn new(engine: &AsyncEngine) -> SendAsyncSession {
        SendAsyncSession::from_sync(Session::new(engine.sync_engine()))
    }

    /// Wraps a synchronous session (from a [`SessionMaker`](calcine_orm::SessionMaker)).
    pub fn from_sync(mut session: Session) -> SendAsyncSession {
        session.set_async(true);
        SendAsyncSession {
            session: Some(session),
            cancelled: false,
        }
    }

    /// Whether the session was lost because a call on it was cancelled.
    pub fn closed_by_cancellation(&self) -> bool {
        self.cancelled
    }

    fn closed(&self) -> Error {
        if self.cancelled {
            Error::resource_closed(
                "This AsyncSession was closed by cancellation: an operation on it was cancelled, \
                 so its session and connection were discarded",
            )
        } else {
            Error::resource_closed("This AsyncSession is closed")
        }
    }

    /// Runs `f` with the very sync [`Session`] on a home thread (SQLAlchemy's `run_sync`).
    /// Returns `f`'s value, `Err` included, inside the `Ok` of this call.
    ///
    /// # Errors
    /// `ResourceClosed` after a cancellation.
    pub async fn run_sync<R, F>(&mut self, f: F) -> Result<R>
    where
        R: Send + 'static,
        F: FnOnce(&mut Session) -> R + Send + 'static,
    {
        let mut session = self.session.take().ok_or_else(|| self.closed())?;
        // Until the home thread hands the session back, a drop of this future loses it.
        self.cancelled = true;
        let (session, out) = spawn_send(move || {
            let out = f(&mut session);
            (session, out)
        })
        .await;
        self.cancelled = false;
        self.session = Some(session);
        Ok(out)
    }

    async fn call<R, F>(&mut self, f: F) -> Result<R>
    where
        R: Send + 'static,
        F: FnOnce(&mut Session) -> Result<R> + Send + 'static,
    {
        self.run_sync(f).await?
    }

    /// [`Session::get`] on the home thread.
    ///
    /// # Errors
    /// As `Session::get`, or `ResourceClosed`.
    pub async fn get<T: Model>(&mut self, key: impl Into<Key>) -> Result<Option<Obj<T>>> {
        let key = key.into();
        self.call(move |s| s.get::<T>(key)).await
    }

    /// [`Session::get_one`] on the home thread.
    ///
    /// # Errors
    /// As `Session::get_one`, or `ResourceClosed`.
    pub async fn get_one<T: Model>(&mut self, key: impl Into<Key>) -> Result<Obj<T>> {
        let key = key.into();
        self.call(move |s| s.get_one::<T>(key)).await
    }

    /// [`Session::scalars`] on the home thread.
    ///
    /// # Errors
    /// As `Session::scalars`, or `ResourceClosed`.
    pub async fn scalars<T: Model>(&mut self, stmt: ModelSelect<T>) -> Result<Vec<Obj<T>>> {
        self.call(move |s| s.scalars::<T>(&stmt)).await
    }

    /// [`Session::execute`] on the home thread.
    ///
    /// # Errors
    /// As `Session::execute`, or `ResourceClosed`.
    pub async fn execute<S: Executable + Send + 'static>(&mut self, stmt: S) -> Result<Vec<Row>> {
        self.call(move |s| s.execute(&stmt)).await
    }

    /// [`Session::scalar`] on the home thread.
    ///
    /// # Errors
    /// As `Session::scalar`, or `ResourceClosed`.
    pub async fn scalar<V, S>(&mut self, stmt: S) -> Result<V>
    where
        V: FromValue + Send + 'static,
        S: Executable + Send + 'static,
    {
        self.call(move |s| s.scalar::<V, S>(&stmt)).await
    }

    /// [`Session::flush`] on the home thread.
    ///
    /// # Errors
    /// As `Session::flush`, or `ResourceClosed`.
    pub async fn flush(&mut self) -> Result<()> {
        self.call(Session::flush).await
    }

    /// [`Session::commit`] on the home thread.
    ///
    /// # Errors
    /// As `Session::commit`, or `ResourceClosed`.
    pub async fn commit(&mut self) -> Result<()> {
        self.call(Session::commit).await
    }

    /// [`Session::rollback`] on the home thread.
    ///
    /// # Errors
    /// As `Session::rollback`, or `ResourceClosed`.
    pub async fn rollback(&mut self) -> Result<()> {
        self.call(Session::rollback).await
    }

    /// [`Session::refresh`] on the home thread.
    ///
    /// # Errors
    /// As `Session::refresh`, or `ResourceClosed`.
    pub async fn refresh<T: Model>(&mut self, obj: &Obj<T>) -> Result<()> {
        let obj = obj.clone();
        self.call(move |s| s.refresh(&obj)).await
    }

    /// [`Session::merge`] on the home thread.
    ///
    /// # Errors
    /// As `Session::merge`, or `ResourceClosed`.
    pub async fn merge<T: Model>(&mut self, value: T) -> Result<Obj<T>> {
        self.call(move |s| s.merge(value)).await
    }

    /// [`Session::close`] on the home thread.
    ///
    /// # Errors
    /// `ResourceClosed` after a cancellation.
    pub async fn close(&mut self) -> Result<()> {
        self.run_sync(Session::close).await
    }

    /// [`Session::add`] (no IO).
    ///
    /// # Errors
    /// `ResourceClosed` after a cancellation.
    pub fn add<T: Model>(&mut self, value: T) -> Result<Obj<T>> {
        let closed = self.closed();
        self.session.as_mut().map(|s| s.add(value)).ok_or(closed)
    }

    /// [`Session::delete`] (no IO until the flush).
    ///
    /// # Errors
    /// As `Session::delete`, or `ResourceClosed`.
    pub fn delete<T: Model>(&mut self, obj: &Obj<T>) -> Result<()> {
        let closed = self.closed();
        self.session.as_mut().ok_or(closed)?.delete(obj)
    }

    /// [`Session::expunge`] (no IO).
    pub fn expunge<T: Model>(&mut self, obj: &Obj<T>) {
        if let Some(s) = self.session.as_mut() {
            s.expunge(obj);
        }
    }

    /// The wrapped synchronous session, unless it was lost to a cancellation.
    pub fn sync_session(&mut self) -> Option<&mut Session> {
        self.session.as_mut()
    }
}

impl Drop for SendAsyncSession {
    /// Closes without blocking: in place, unless the close needs bridged IO
    /// ([`Session::close_needs_io`]), which then runs on a home thread.
    fn drop(&mut self) {
        if let Some(mut session) = self.session.take() {
            if session.close_needs_io() {
                spawn_send_detached(move || session.close());
            } else {
                session.close();
            }
        }
    }
}
