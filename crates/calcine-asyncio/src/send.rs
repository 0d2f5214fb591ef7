//! [`SendAsyncConnection`]: the `Send` flavour of [`AsyncConnection`](crate::AsyncConnection)
//! for work-stealing runtimes (`tokio::spawn` on a multi-thread runtime, axum handlers).

use std::fmt;

use calcine_engine::{Connection, DetachedTransaction, Error, Result};
use calcine_greenlet::{await_, spawn_send};
use calcine_sql::{Executable, FromValue, Value};

use crate::bridge;
use crate::engine::AsyncEngine;
use crate::result::BufferedResult;

/// An async connection whose futures are `Send` (SQLAlchemy's `AsyncConnection`, home-thread
/// mode of the bridge). Each method moves the sync [`Connection`] to a home thread of
/// [`HomeThreads::global`](calcine_greenlet::HomeThreads::global), runs the sync method there in
/// a greenlet ([`spawn_send`]) and moves it back: one thread hop per call, none per query
/// inside [`run_sync`](Self::run_sync). Closures and statements must therefore be
/// `Send + 'static`; the results are owned ([`BufferedResult`]). There is no streaming and no
/// borrowed transaction object in this mode: use [`begin`](Self::begin) /
/// [`commit`](Self::commit) / [`rollback`](Self::rollback) on the connection, or `run_sync`.
///
/// **File SQLite**: a home thread is cooperative and SQLite waits for a locked database by
/// blocking (`busy_timeout`); a write transaction held open across calls can therefore block a
/// greenlet of the same home thread until "database is locked". Do a SQLite write transaction
/// inside one [`run_sync`](Self::run_sync).
///
/// **Cancellation**: if a method's future is dropped mid-way, the work is unwound on the home
/// thread and the connection dropped there (returned to the pool after a rollback, or closed
/// when the rollback cannot run); this object then reports
/// [`ResourceClosed`](calcine_engine::ErrorKind::ResourceClosed) "closed by cancellation" for
/// every further call.
pub struct SendAsyncConnection {
    engine: AsyncEngine,
    inner: Option<Box<Inner>>,
    cancelled: bool,
}

struct Inner {
    conn: Connection,
    begun: Option<DetachedTransaction>,
}

impl SendAsyncConnection {
    /// Checks a connection out of `engine`'s pool on a home thread.
    pub(crate) async fn connect(engine: &AsyncEngine) -> Result<SendAsyncConnection> {
        let sync = engine.sync_engine().clone();
        let conn = spawn_send(move || sync.connect()).await?;
        Ok(SendAsyncConnection {
            engine: engine.clone(),
            inner: Some(Box::new(Inner { conn, begun: None })),
            cancelled: false,
        })
    }

    /// Whether the connection was closed because a call on it was cancelled.
    pub fn closed_by_cancellation(&self) -> bool {
        self.cancelled
    }

    /// The engine this connection came from.
    pub fn engine(&self) -> &AsyncEngine {
        &self.engine
    }

    async fn call<R, F>(&mut self, require_await: bool, f: F) -> Result<R>
    where
        R: Send + 'static,
        F: FnOnce(&mut Inner) -> Result<R> + Send + 'static,
    {
        let Some(mut inner) = self.inner.take() else {
            return Err(if self.cancelled {
                Error::resource_closed(
                    "This AsyncConnection was closed by cancellation: an operation on it was \
                     cancelled, so its connection was discarded",
                )
            } else {
                Error::resource_closed("This AsyncConnection is closed")
            });
        };
        let require_await = require_await && self.engine.requires_await();
        // Until the home thread hands the connection back, a drop of this future loses it.
        self.cancelled = true;
        let (inner, r) = spawn_send(move || {
            let r = await_(bridge::run(require_await, || f(&mut inner)))
                .map_err(Error::from)
                .and_then(|r| r);
            (inner, r)
        })
        .await;
        self.cancelled = false;
        self.inner = Some(inner);
        r
    }

    /// Runs `f` with the very sync [`Connection`] on a home thread (SQLAlchemy's `run_sync`);
    /// never requires IO. Returns `f`'s value, `Err` included.
    ///
    /// # Errors
    /// [`ResourceClosed`](calcine_engine::ErrorKind::ResourceClosed) after a cancellation;
    /// otherwise `f`'s own error.
    pub async fn run_sync<R, F>(&mut self, f: F) -> Result<R>
    where
        R: Send + 'static,
        F: FnOnce(&mut Connection) -> R + Send + 'static,
    {
        self.call(false, move |i| Ok(f(&mut i.conn))).await
    }

    /// Executes `statement` and buffers its rows (as
    /// [`AsyncConnection::execute`](crate::AsyncConnection::execute)).
    ///
    /// # Errors
    /// As [`AsyncConnection::execute`](crate::AsyncConnection::execute).
    pub async fn execute<S>(&mut self, statement: S) -> Result<BufferedResult>
    where
        S: Executable + Send + 'static,
    {
        self.call(true, move |i| {
            BufferedResult::fetch(i.conn.execute(&statement)?)
        })
        .await
    }

    /// Executes SQL text as is and buffers its rows.
    ///
    /// # Errors
    /// As [`execute`](Self::execute).
    pub async fn exec_driver_sql(
        &mut self,
        sql: impl Into<String>,
        params: Vec<Value>,
    ) -> Result<BufferedResult> {
        let sql = sql.into();
        self.call(true, move |i| {
            BufferedResult::fetch(i.conn.exec_driver_sql(&sql, &params)?)
        })
        .await
    }

    /// The first column of the first row.
    ///
    /// # Errors
    /// As [`execute`](Self::execute).
    pub async fn scalar<T, S>(&mut self, statement: S) -> Result<T>
    where
        T: FromValue + Send + 'static,
        S: Executable + Send + 'static,
    {
        self.call(true, move |i| i.conn.scalar(&statement)).await
    }

    /// Begins a transaction on the connection; end it with [`commit`](Self::commit) or
    /// [`rollback`](Self::rollback).
    ///
    /// # Errors
    /// As [`Connection::begin`].
    pub async fn begin(&mut self) -> Result<()> {
        self.call(false, |i| {
            let tx = i.conn.begin()?.detach();
            i.begun = Some(tx);
            Ok(())
        })
        .await
    }

    /// Commits the current transaction, if any.
    ///
    /// # Errors
    /// As [`Connection::commit`].
    pub async fn commit(&mut self) -> Result<()> {
        self.call(false, |i| match i.begun.take() {
            Some(tx) => tx.finish_context(&mut i.conn),
            None => i.conn.commit(),
        })
        .await
    }

    /// Rolls back the current transaction, if any.
    ///
    /// # Errors
    /// As [`Connection::rollback`].
    pub async fn rollback(&mut self) -> Result<()> {
        self.call(false, |i| match i.begun.take() {
            Some(tx) => match tx.rollback(&mut i.conn) {
                Err(e) if e.is_resource_closed() => Ok(()),
                r => r,
            },
            None => i.conn.rollback(),
        })
        .await
    }

    /// Whether a transaction is open; `false` after a cancellation.
    pub fn in_transaction(&self) -> bool {
        self.inner.as_ref().is_some_and(|i| i.conn.in_transaction())
    }

    /// Returns the connection to the pool (the pool's reset rolls back an open transaction
    /// without blocking, so no hop to a home thread is needed).
    pub async fn close(mut self) {
        drop(self.inner.take());
    }
}

impl Drop for SendAsyncConnection {
    /// Returns the connection to the pool here: the pool's reset never blocks (see
    /// `AsyncConnection`'s `Drop`).
    fn drop(&mut self) {
        drop(self.inner.take());
    }
}

impl fmt::Debug for SendAsyncConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SendAsyncConnection")
            .field("connection", &self.inner.as_ref().map(|i| &i.conn))
            .field("closed_by_cancellation", &self.cancelled)
            .finish()
    }
}

const _: () = {
    const fn assert_send<T: Send>() {}
    assert_send::<SendAsyncConnection>();
};
