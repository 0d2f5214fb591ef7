//! [`Transaction`]: a transaction or SAVEPOINT guard (SQLAlchemy's `RootTransaction` and
//! `NestedTransaction`).

use std::fmt;
use std::ops::{Deref, DerefMut};

use crate::connection::Connection;
use crate::error::Result;

/// A begun transaction (SQLAlchemy's `Transaction`): from [`Connection::begin`] (the root
/// transaction) or [`Connection::begin_nested`] (a SAVEPOINT).
///
/// The guard derefs to its [`Connection`], so statements run through it. It rolls back when
/// dropped without [`commit`](Transaction::commit) (also during a panic); a nested guard rolls
/// back only to its savepoint, keeping the outer transaction's work.
///
/// # Example
/// ```
/// let engine = calcine_engine::create_engine("sqlite://")?;
/// let mut conn = engine.connect()?;
/// let mut tx = conn.begin()?;
/// tx.exec_driver_sql("CREATE TABLE t (x INTEGER)", &[])?;
/// tx.exec_driver_sql("INSERT INTO t VALUES (1)", &[])?;
/// {
///     let mut sp = tx.begin_nested()?;
///     sp.exec_driver_sql("INSERT INTO t VALUES (2)", &[])?;
///     sp.rollback()?; // undoes only the 2
/// }
/// tx.commit()?;
/// let xs: Vec<i64> = conn.exec_driver_sql("SELECT x FROM t", &[])?.scalars().all()?;
/// assert_eq!(xs, [1]);
/// # Ok::<(), calcine_engine::Error>(())
/// ```
#[must_use = "a Transaction rolls back when dropped; call commit()"]
pub struct Transaction<'c> {
    conn: &'c mut Connection,
    id: u64,
    nested: bool,
    done: bool,
}

impl<'c> Transaction<'c> {
    pub(crate) fn new(conn: &'c mut Connection, id: u64, nested: bool) -> Self {
        Transaction {
            conn,
            id,
            nested,
            done: false,
        }
    }

    fn end(&mut self, commit: bool) -> Result<()> {
        self.done = true;
        if self.nested {
            self.conn.end_savepoint(self.id, commit)
        } else {
            self.conn.end_root(self.id, commit)
        }
    }

    /// Commits (root) or releases the savepoint (nested).
    ///
    /// # Errors
    /// [`ResourceClosed`](crate::ErrorKind::ResourceClosed) when the transaction was already
    /// ended through the connection; the database's error otherwise.
    pub fn commit(mut self) -> Result<()> {
        self.end(true)
    }

    /// Rolls back (root) or rolls back to the savepoint (nested).
    ///
    /// # Errors
    /// As [`commit`](Transaction::commit).
    pub fn rollback(mut self) -> Result<()> {
        self.end(false)
    }

    /// Whether this transaction is still open (SQLAlchemy's `is_active`).
    pub fn is_active(&self) -> bool {
        self.conn.is_active(self.id)
    }

    /// Whether this is a SAVEPOINT.
    pub fn is_nested(&self) -> bool {
        self.nested
    }

    /// Gives up the guard without ending the transaction and returns a handle that ends it
    /// later through its connection (for wrappers that cannot hold the borrowing guard, such
    /// as the async `AsyncTransaction`). The transaction stays open; nothing rolls it back
    /// when the handle is dropped (the connection's return to the pool still does).
    pub fn detach(mut self) -> DetachedTransaction {
        self.done = true;
        DetachedTransaction {
            id: self.id,
            nested: self.nested,
        }
    }

    /// Commits if still open; if the scope already ended it, that is not an error (the end of
    /// SQLAlchemy's `with engine.begin():` block).
    pub(crate) fn finish_context(mut self) -> Result<()> {
        self.done = true;
        self.conn.finish_context(self.id)
    }
}

impl Deref for Transaction<'_> {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        self.conn
    }
}

impl DerefMut for Transaction<'_> {
    fn deref_mut(&mut self) -> &mut Connection {
        self.conn
    }
}

impl Drop for Transaction<'_> {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        if let Err(e) = self.end(false) {
            if !e.is_resource_closed() {
                tracing::warn!(target: "calcine::engine", error = %e, "rollback of a dropped Transaction failed");
            }
        }
    }
}

/// A [`Transaction`] whose guard was given up with [`Transaction::detach`]: ends the same
/// transaction (or SAVEPOINT) through the [`Connection`] it was begun on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DetachedTransaction {
    id: u64,
    nested: bool,
}

impl DetachedTransaction {
    /// Commits (root) or releases the savepoint (nested); as [`Transaction::commit`].
    ///
    /// # Errors
    /// As [`Transaction::commit`].
    pub fn commit(self, conn: &mut Connection) -> Result<()> {
        self.end(conn, true)
    }

    /// Rolls back (root) or rolls back to the savepoint (nested); as [`Transaction::rollback`].
    ///
    /// # Errors
    /// As [`Transaction::commit`].
    pub fn rollback(self, conn: &mut Connection) -> Result<()> {
        self.end(conn, false)
    }

    /// Commits if still open; if it was already ended through the connection, that is not an
    /// error (the end of SQLAlchemy's `with engine.begin():` block). Root transactions only;
    /// a nested one is released.
    ///
    /// # Errors
    /// The database's error.
    pub fn finish_context(self, conn: &mut Connection) -> Result<()> {
        if self.nested {
            self.end(conn, true)
        } else {
            conn.finish_context(self.id)
        }
    }

    fn end(self, conn: &mut Connection, commit: bool) -> Result<()> {
        if self.nested {
            conn.end_savepoint(self.id, commit)
        } else {
            conn.end_root(self.id, commit)
        }
    }

    /// Whether the transaction is still open on `conn`.
    pub fn is_active(&self, conn: &Connection) -> bool {
        conn.is_active(self.id)
    }

    /// Whether this is a SAVEPOINT.
    pub fn is_nested(&self) -> bool {
        self.nested
    }
}

impl fmt::Debug for Transaction<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Transaction")
            .field("nested", &self.nested)
            .field("active", &self.is_active())
            .finish()
    }
}
