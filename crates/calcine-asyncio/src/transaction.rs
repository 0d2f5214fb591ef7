//! [`AsyncTransaction`]: a transaction or SAVEPOINT begun from async code (SQLAlchemy's
//! `ext.asyncio.AsyncTransaction`).

use std::fmt;
use std::ops::{Deref, DerefMut};

use calcine_engine::{DetachedTransaction, Result};

use crate::connection::AsyncConnection;

/// A transaction begun by [`AsyncConnection::begin`] (root) or
/// [`AsyncConnection::begin_nested`] (SAVEPOINT) (SQLAlchemy's `AsyncTransaction`).
///
/// It borrows its connection mutably and derefs to it, so statements run through the
/// transaction (`tx.execute(..)`), and nothing else can use the connection meanwhile.
/// [`commit`](Self::commit) / [`rollback`](Self::rollback) consume it, so using an ended
/// transaction does not compile; the one way to end it behind its back — `commit()` on the
/// connection inside its scope — leaves the connection refusing statements with
/// [`ResourceClosed`](calcine_engine::ErrorKind::ResourceClosed) ("Can't operate on closed
/// transaction inside context manager") until the transaction is ended or dropped.
///
/// **Dropped un-ended** (an early `?` return, a cancelled task): a drop cannot do IO without
/// blocking, so it only records the transaction on the connection; the connection's next
/// operation rolls it back (to the savepoint for a nested one) before doing anything else,
/// and returning the connection to the pool rolls back whatever is still open.
#[must_use = "an AsyncTransaction rolls back when dropped; call commit().await"]
pub struct AsyncTransaction<'a> {
    conn: &'a mut AsyncConnection,
    tx: DetachedTransaction,
    done: bool,
}

impl<'a> AsyncTransaction<'a> {
    pub(crate) fn new(conn: &'a mut AsyncConnection, tx: DetachedTransaction) -> Self {
        AsyncTransaction {
            conn,
            tx,
            done: false,
        }
    }

    /// Commits (root) or releases the savepoint (nested), through the bridge.
    ///
    /// # Errors
    /// [`ResourceClosed`](calcine_engine::ErrorKind::ResourceClosed) if the transaction was
    /// ended through the connection; the database's error otherwise.
    pub async fn commit(mut self) -> Result<()> {
        let tx = self.tx;
        let r = self.conn.call(false, move |c| tx.commit(c)).await;
        self.done = true;
        r
    }

    /// Rolls back (root) or rolls back to the savepoint (nested), through the bridge.
    ///
    /// # Errors
    /// As [`commit`](Self::commit).
    pub async fn rollback(mut self) -> Result<()> {
        let tx = self.tx;
        let r = self.conn.call(false, move |c| tx.rollback(c)).await;
        self.done = true;
        r
    }

    /// Whether the transaction is still open (SQLAlchemy's `is_active`).
    pub fn is_active(&self) -> bool {
        self.tx.is_active(self.conn.sync_connection())
    }

    /// Whether this is a SAVEPOINT.
    pub fn is_nested(&self) -> bool {
        self.tx.is_nested()
    }

    /// The connection, to end the transaction through it or to pass it on.
    pub fn connection(&mut self) -> &mut AsyncConnection {
        self.conn
    }
}

impl Deref for AsyncTransaction<'_> {
    type Target = AsyncConnection;
    fn deref(&self) -> &AsyncConnection {
        self.conn
    }
}

impl DerefMut for AsyncTransaction<'_> {
    fn deref_mut(&mut self) -> &mut AsyncConnection {
        self.conn
    }
}

impl Drop for AsyncTransaction<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.conn.defer_rollback(self.tx);
        }
    }
}

impl fmt::Debug for AsyncTransaction<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncTransaction")
            .field("nested", &self.is_nested())
            .field("active", &self.is_active())
            .finish()
    }
}
