//! [`AsyncConnection`]: the async facade over one [`Connection`] (SQLAlchemy's
//! `ext.asyncio.AsyncConnection`).

use std::fmt;

use calcine_engine::{Connection, DetachedTransaction, Error, Result};
use calcine_sql::{Executable, FromValue, Value};

use crate::bridge;
use crate::engine::AsyncEngine;
use crate::result::BufferedResult;
use crate::stream::AsyncResult;
use crate::transaction::AsyncTransaction;

/// A pooled connection used from async code (SQLAlchemy's `AsyncConnection`), inline mode:
/// every async method runs the synchronous [`Connection`] method inside
/// [`greenlet_spawn`](calcine_greenlet::greenlet_spawn) on the caller's task, so its futures
/// are `!Send` (current-thread runtimes, `LocalSet`; use
/// [`SendAsyncConnection`](crate::SendAsyncConnection) under `tokio::spawn`).
///
/// Methods take `&mut self`: two concurrent operations on one connection do not compile,
/// where SQLAlchemy detects them at run time ("This session is provisioning a new
/// connection; concurrent operations are not permitted"). For the same reason an
/// [`AsyncTransaction`] or a streaming [`AsyncResult`] borrows the connection until it ends.
///
/// A connection can only be obtained started (from [`AsyncEngine::connect`] or
/// [`AsyncEngine::begin`]) and [`close`](Self::close) consumes it, so SQLAlchemy's "not started"
/// and "closed" errors are impossible by construction. The only closed state is a driver
/// connection lost to a disconnect, which the sync layer reports with its typed errors.
///
/// Dropping the connection returns it to the pool, which rolls back an open transaction; on
/// PostgreSQL, a drop with an open transaction inside a tokio runtime hands the connection to
/// a home thread for that rollback (spawned, not skipped).
pub struct AsyncConnection {
    engine: AsyncEngine,
    conn: Option<Connection>,
    /// Transactions whose [`AsyncTransaction`] was dropped un-ended: rolled back first thing
    /// in the next operation (a drop cannot do IO without blocking).
    pending: Vec<DetachedTransaction>,
    /// The transaction begun by [`AsyncEngine::begin`].
    begun: Option<DetachedTransaction>,
}

fn closed() -> Error {
    Error::resource_closed("This AsyncConnection is closed")
}

/// Rolls back the transactions of dropped [`AsyncTransaction`]s, innermost first.
fn settle(conn: &mut Connection, pending: &mut Vec<DetachedTransaction>) -> Result<()> {
    while let Some(tx) = pending.pop() {
        match tx.rollback(conn) {
            Err(e) if !e.is_resource_closed() => return Err(e),
            _ => {}
        }
    }
    Ok(())
}

impl AsyncConnection {
    pub(crate) fn new(engine: AsyncEngine, conn: Connection) -> Self {
        AsyncConnection {
            engine,
            conn: Some(conn),
            pending: Vec::new(),
            begun: None,
        }
    }

    /// The async engine this connection came from.
    pub fn engine(&self) -> &AsyncEngine {
        &self.engine
    }

    /// The wrapped synchronous connection (SQLAlchemy's `AsyncConnection.sync_connection`).
    /// Calling its IO methods from async code outside [`run_sync`](Self::run_sync) fails on
    /// PostgreSQL with [`MissingGreenlet`](calcine_engine::ErrorKind::MissingGreenlet).
    ///
    /// # Panics
    /// Never: the connection is present for the whole life of `self`.
    pub fn sync_connection(&self) -> &Connection {
        match &self.conn {
            Some(c) => c,
            None => unreachable!("AsyncConnection without a connection"),
        }
    }

    /// Mutable access to the wrapped synchronous connection (see
    /// [`sync_connection`](Self::sync_connection)).
    pub fn sync_connection_mut(&mut self) -> &mut Connection {
        match &mut self.conn {
            Some(c) => c,
            None => unreachable!("AsyncConnection without a connection"),
        }
    }

    /// Runs `f` on the sync connection inside the bridge.
    pub(crate) async fn call<R>(
        &mut self,
        require_await: bool,
        f: impl FnOnce(&mut Connection) -> Result<R>,
    ) -> Result<R> {
        let require_await = require_await && self.engine.requires_await();
        let AsyncConnection { conn, pending, .. } = self;
        let conn = conn.as_mut().ok_or_else(closed)?;
        bridge::run(require_await, move || {
            settle(conn, pending)?;
            f(conn)
        })
        .await
    }

    /// Runs a synchronous function with the very [`Connection`] this object wraps, inside the
    /// bridge (SQLAlchemy's `await conn.run_sync(fn)`): any sync code (DDL, `create_all`,
    /// inspection, a whole unit of work) works unchanged. Never requires IO (no
    /// `AwaitRequired`). `f`'s value, `Err` included, is returned as is; a panic is re-raised.
    ///
    /// A rollback owed by a dropped [`AsyncTransaction`] runs first; if it fails, the error is
    /// logged and `f` still runs (and sees the connection's state).
    pub async fn run_sync<R>(&mut self, f: impl FnOnce(&mut Connection) -> R) -> R {
        let AsyncConnection { conn, pending, .. } = self;
        let conn = match conn {
            Some(c) => c,
            None => unreachable!("AsyncConnection without a connection"),
        };
        calcine_greenlet::greenlet_spawn(move || {
            if let Err(e) = settle(conn, pending) {
                tracing::warn!(target: "calcine::asyncio", error = %e, "rollback of a dropped AsyncTransaction failed");
            }
            f(conn)
        })
        .await
    }

    /// Executes `statement` and buffers its rows (SQLAlchemy's `await conn.execute(stmt)`).
    /// Takes it by reference or by value, as [`Connection::execute`] does. Use
    /// [`stream`](Self::stream) to fetch rows in chunks instead.
    ///
    /// # Errors
    /// As [`Connection::execute`];
    /// [`AwaitRequired`](calcine_engine::ErrorKind::AwaitRequired) when the engine's driver is
    /// bridged (PostgreSQL) but did no IO through the bridge.
    pub async fn execute<S: calcine_sql::IntoCompiled>(
        &mut self,
        statement: S,
    ) -> Result<BufferedResult> {
        self.call(true, |c| BufferedResult::fetch(c.execute(statement)?))
            .await
    }

    /// Executes SQL text as is and buffers its rows (SQLAlchemy's `exec_driver_sql`): `?`
    /// placeholders on SQLite, `$1, $2, …` on PostgreSQL.
    ///
    /// # Errors
    /// As [`execute`](Self::execute).
    pub async fn exec_driver_sql(&mut self, sql: &str, params: &[Value]) -> Result<BufferedResult> {
        self.call(true, |c| {
            BufferedResult::fetch(c.exec_driver_sql(sql, params)?)
        })
        .await
    }

    /// The first column of the first row (SQLAlchemy's `await conn.scalar(stmt)`).
    ///
    /// # Errors
    /// As [`execute`](Self::execute) and [`Connection::scalar`].
    pub async fn scalar<T: FromValue, S: Executable + ?Sized>(
        &mut self,
        statement: &S,
    ) -> Result<T> {
        self.call(true, |c| c.scalar(statement)).await
    }

    /// The first column of every row (SQLAlchemy's `(await conn.scalars(stmt)).all()`).
    ///
    /// # Errors
    /// As [`execute`](Self::execute).
    pub async fn scalars<T: FromValue, S: Executable + ?Sized>(
        &mut self,
        statement: &S,
    ) -> Result<Vec<T>> {
        self.call(true, |c| c.scalars(statement)?.all()).await
    }

    /// Executes `statement` and returns a streaming [`AsyncResult`] over its live cursor
    /// (SQLAlchemy's `await conn.stream(stmt)`): rows are fetched in chunks, each chunk in one
    /// trip through the bridge (PostgreSQL portals / SQLite stepping underneath).
    ///
    /// # Errors
    /// As [`execute`](Self::execute).
    pub async fn stream<S: Executable + ?Sized>(
        &mut self,
        statement: &S,
    ) -> Result<AsyncResult<'_>> {
        let require_await = self.engine.requires_await();
        let AsyncConnection { conn, pending, .. } = self;
        let conn = conn.as_mut().ok_or_else(closed)?;
        let cursor = bridge::run(require_await, move || {
            settle(conn, pending)?;
            conn.execute(statement)
        })
        .await?;
        Ok(AsyncResult::new(cursor))
    }

    /// [`stream`](Self::stream) for SQL text (SQLAlchemy's `stream` of `exec_driver_sql`).
    ///
    /// # Errors
    /// As [`execute`](Self::execute).
    pub async fn stream_driver_sql(
        &mut self,
        sql: &str,
        params: &[Value],
    ) -> Result<AsyncResult<'_>> {
        let require_await = self.engine.requires_await();
        let AsyncConnection { conn, pending, .. } = self;
        let conn = conn.as_mut().ok_or_else(closed)?;
        let cursor = bridge::run(require_await, move || {
            settle(conn, pending)?;
            conn.exec_driver_sql(sql, params)
        })
        .await?;
        Ok(AsyncResult::new(cursor))
    }

    /// Begins a transaction (SQLAlchemy's `await conn.begin()`); the [`AsyncTransaction`]
    /// borrows the connection and derefs to it.
    ///
    /// # Errors
    /// As [`Connection::begin`] (a transaction is already begun, …).
    pub async fn begin(&mut self) -> Result<AsyncTransaction<'_>> {
        let tx = self.call(false, |c| Ok(c.begin()?.detach())).await?;
        Ok(AsyncTransaction::new(self, tx))
    }

    /// Begins a SAVEPOINT (SQLAlchemy's `await conn.begin_nested()`).
    ///
    /// # Errors
    /// As [`Connection::begin_nested`].
    pub async fn begin_nested(&mut self) -> Result<AsyncTransaction<'_>> {
        let tx = self.call(false, |c| Ok(c.begin_nested()?.detach())).await?;
        Ok(AsyncTransaction::new(self, tx))
    }

    /// Records a dropped, un-ended [`AsyncTransaction`] for rollback by the next operation.
    pub(crate) fn defer_rollback(&mut self, tx: DetachedTransaction) {
        self.pending.push(tx);
    }

    /// Begins the transaction of [`AsyncEngine::begin`].
    pub(crate) async fn begin_engine_transaction(&mut self) -> Result<()> {
        let tx = self.call(false, |c| Ok(c.begin()?.detach())).await?;
        self.begun = Some(tx);
        Ok(())
    }

    /// Commits the current transaction, if any (SQLAlchemy's `await conn.commit()`).
    ///
    /// # Errors
    /// As [`Connection::commit`].
    pub async fn commit(&mut self) -> Result<()> {
        let begun = self.begun.take();
        self.call(false, move |c| match begun {
            Some(tx) => tx.finish_context(c),
            None => c.commit(),
        })
        .await
    }

    /// Rolls back the current transaction, if any (SQLAlchemy's `await conn.rollback()`).
    ///
    /// # Errors
    /// As [`Connection::rollback`].
    pub async fn rollback(&mut self) -> Result<()> {
        let begun = self.begun.take();
        self.call(false, move |c| match begun {
            Some(tx) => match tx.rollback(c) {
                Err(e) if e.is_resource_closed() => Ok(()),
                r => r,
            },
            None => c.rollback(),
        })
        .await
    }

    /// Whether a transaction is open (SQLAlchemy's `in_transaction()`).
    pub fn in_transaction(&self) -> bool {
        self.sync_connection().in_transaction()
    }

    /// Whether a SAVEPOINT is open (SQLAlchemy's `in_nested_transaction()`).
    pub fn in_nested_transaction(&self) -> bool {
        self.sync_connection().in_nested_transaction()
    }

    /// `0` outside a transaction, `1` in one, `1 + n` inside `n` SAVEPOINTs.
    pub fn transaction_depth(&self) -> usize {
        self.sync_connection().transaction_depth()
    }

    /// Returns the connection to the pool (SQLAlchemy's `await conn.close()`): the pool's reset
    /// rolls back an open transaction, savepoints included, without blocking.
    pub async fn close(mut self) {
        self.pending.clear();
        drop(self.conn.take());
    }
}

impl Drop for AsyncConnection {
    /// Returns the connection to the pool. An open transaction is rolled back by the pool's
    /// reset, which never blocks here: a local call on SQLite, a pipelined `ROLLBACK` whose reply
    /// is read with the connection's next request on PostgreSQL.
    fn drop(&mut self) {
        drop(self.conn.take());
    }
}

impl fmt::Debug for AsyncConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncConnection")
            .field("connection", &self.conn)
            .field("pending_rollbacks", &self.pending.len())
            .finish()
    }
}

const _: () = {
    const fn assert_send<T: Send>() {}
    assert_send::<AsyncConnection>();
};
