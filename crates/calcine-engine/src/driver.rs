//! The one IO seam: a synchronous, PEP-249 shaped driver interface (SQLAlchemy's DBAPI
//! `connect()` / `Connection` / `Cursor`, as seen by its `Dialect`).
//!
//! ```text
//!   Engine ─ Pool ─ Connection ─┐             (plain sync Rust above this line)
//!                               │ Box<dyn DriverConnection>
//!        ┌──────────────────────┴───────────────────────┐
//!   SqliteConnection (rusqlite, direct)     PostgresConnection (tokio-postgres;
//!                                             every call through calcine_greenlet::await_)
//! ```
//!
//! Everything above the seam is synchronous; a driver that speaks an async protocol bridges each
//! call itself. All traits are object safe.

pub(crate) mod postgres;
pub(crate) mod sqlite;

use std::fmt;
use std::sync::Arc;

use calcine_sql::{Dialect, Value, ValueRef};

use crate::error::{Error, Result};

/// A database driver: knows its dialect and opens connections (PEP-249's module-level
/// `connect()`, plus SQLAlchemy's `Dialect.is_disconnect`).
pub trait Driver: Send + Sync + fmt::Debug {
    /// The driver's name for messages (`"sqlite"`, `"postgresql"`).
    fn name(&self) -> &'static str;

    /// The SQL dialect statements are compiled for.
    fn dialect(&self) -> Dialect;

    /// Opens a new connection.
    ///
    /// # Errors
    /// [`ErrorKind::Operational`](crate::ErrorKind::Operational) when the database cannot be
    /// reached or opened.
    fn connect(&self) -> Result<Box<dyn DriverConnection>>;

    /// Whether this driver's calls do their IO through `calcine_greenlet::await_` (a bridged
    /// async protocol, like PostgreSQL's), rather than as short blocking calls (SQLite). Async
    /// callers use it to know which calls must run inside a greenlet.
    fn bridged(&self) -> bool {
        false
    }

    /// Whether [`DriverConnection::query_then_commit`] saves something over a statement followed
    /// by `commit()` (a round trip, on a pipelined network protocol). The ORM only hands a
    /// flush's last INSERT and the `COMMIT` over together when it does; SQLite, whose calls are
    /// in-process, keeps the plain path.
    fn pipelines_commit(&self) -> bool {
        false
    }

    /// Whether `err` means the connection is unusable (SQLAlchemy's `is_disconnect`). The default
    /// trusts the flag the driver set when it built the error.
    fn is_disconnect(&self, err: &Error) -> bool {
        err.is_disconnect()
    }
}

/// One open database connection (PEP-249 `Connection` with its `Cursor` folded in).
///
/// Transactions are explicit: the engine calls [`begin`](DriverConnection::begin) before the first
/// statement of a transaction and [`commit`](DriverConnection::commit) /
/// [`rollback`](DriverConnection::rollback) to end it; there is no driver-level autobegin.
pub trait DriverConnection: Send {
    /// Executes one statement with bound parameters, discarding any rows; returns the number of
    /// rows changed.
    ///
    /// # Errors
    /// The database's error, classified by [`ErrorKind`](crate::ErrorKind).
    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64>;

    /// Executes one statement once per parameter set, in order, discarding any rows, each set's
    /// parameters lent by the caller instead of collected first: `fill(i, sink)` pushes set
    /// `i`'s `width` values, in placeholder order, into `sink` (borrowed, so a value only has
    /// to live while `fill` runs); then `before(i)`, the statement, and
    /// `after(i, last_insert_id)` (with [`last_insert_id`](DriverConnection::last_insert_id) as
    /// of then). Stops at the first error, `fill`'s, the statement's or `after`'s, which it
    /// returns; the sets before it have run.
    ///
    /// The ORM's flush binds each new object's columns this way, straight from the object. The
    /// default collects each set into owned [`Value`]s and calls
    /// [`execute`](DriverConnection::execute); SQLite binds the lent values to the statement,
    /// prepared once.
    ///
    /// # Errors
    /// The database's error, classified by [`ErrorKind`](crate::ErrorKind) (the caller
    /// attaches the statement and that set's parameters); `fill`'s and `after`'s errors as
    /// they are;
    /// [`Programming`](crate::ErrorKind::Programming) when `fill` pushed other than `width`
    /// values.
    fn execute_each_with(
        &mut self,
        sql: &str,
        width: usize,
        rows: usize,
        fill: &mut FillParams<'_>,
        before: &mut dyn FnMut(usize),
        after: &mut dyn FnMut(usize, Option<i64>) -> Result<()>,
    ) -> Result<()> {
        let mut params: Vec<Value> = Vec::with_capacity(width);
        for i in 0..rows {
            Value::clear_all(&mut params);
            fill(i, &mut params)?;
            check_width(width, params.len())?;
            before(i);
            self.execute(sql, &params)?;
            after(i, self.last_insert_id())?;
        }
        Ok(())
    }

    /// Executes one statement with bound parameters and returns a cursor over its rows. The
    /// statement has run (at least up to its first row) when this returns, so DML takes effect
    /// even if the cursor is never read. The cursor borrows the connection until dropped.
    ///
    /// # Errors
    /// The database's error, classified by [`ErrorKind`](crate::ErrorKind).
    fn query<'c>(&'c mut self, sql: &str, params: &[Value]) -> Result<Box<dyn DriverCursor + 'c>>;

    /// Executes one statement, reads all its rows, then commits the transaction: the flush's last
    /// INSERT and the `COMMIT` of the ORM's unit of work. With no transaction open
    /// ([`in_transaction`](DriverConnection::in_transaction) false: autocommit mode) the
    /// statement commits itself and no `COMMIT` is sent. `Ok((rows, commit))` when the
    /// statement succeeded, with `commit` the outcome of the `COMMIT` (on failure the
    /// transaction is over, as after a failed [`commit`](DriverConnection::commit)); `Err` when
    /// the statement failed. The caller reads [`in_transaction`](DriverConnection::in_transaction)
    /// afterwards to know whether the transaction is still open.
    ///
    /// The default runs [`query`](DriverConnection::query), buffers the rows, then calls
    /// [`commit`](DriverConnection::commit) (a failed statement leaves the transaction open). A
    /// driver with a pipelined protocol sends the `COMMIT` without waiting for the statement's
    /// reply, so both cost one round trip; if the statement then fails on the server, the
    /// `COMMIT` still runs and ends the failed transaction (PostgreSQL rolls it back), and the
    /// error is the statement's.
    ///
    /// # Errors
    /// The statement's error (the database's, or a decode error), classified by
    /// [`ErrorKind`](crate::ErrorKind).
    fn query_then_commit(
        &mut self,
        sql: &str,
        params: &[Value],
    ) -> Result<(BufferedRows, Result<()>)> {
        sequential_query_then_commit(self, sql, params)
    }

    /// [`query`](DriverConnection::query) of one statement whose `rows` × `width` parameters
    /// the caller lends set by set, as [`execute_each_with`](DriverConnection::execute_each_with)
    /// does: `fill(i, sink)` pushes set `i`'s values. The ORM's flush binds a multi-row
    /// `INSERT ... RETURNING` this way, straight from its objects. The default collects owned
    /// [`Value`]s and calls `query`; PostgreSQL encodes each value for its parameter's type as
    /// it is lent.
    ///
    /// # Errors
    /// As [`query`](DriverConnection::query); `fill`'s errors as they are;
    /// [`Programming`](crate::ErrorKind::Programming) when a set is not `width` values.
    fn query_lent<'c>(
        &'c mut self,
        sql: &str,
        width: usize,
        rows: usize,
        fill: &mut FillParams<'_>,
    ) -> Result<Box<dyn DriverCursor + 'c>> {
        let params = collect_lent(width, rows, fill)?;
        self.query(sql, &params)
    }

    /// [`query_then_commit`](DriverConnection::query_then_commit) with lent parameters, as
    /// [`query_lent`](DriverConnection::query_lent).
    ///
    /// # Errors
    /// As `query_then_commit` and `query_lent`.
    fn query_lent_then_commit(
        &mut self,
        sql: &str,
        width: usize,
        rows: usize,
        fill: &mut FillParams<'_>,
    ) -> Result<(BufferedRows, Result<()>)> {
        let params = collect_lent(width, rows, fill)?;
        self.query_then_commit(sql, &params)
    }

    /// Starts a transaction (`BEGIN`).
    ///
    /// # Errors
    /// The database's error.
    fn begin(&mut self) -> Result<()>;

    /// Commits the current transaction; with none open
    /// ([`in_transaction`](DriverConnection::in_transaction) false: autocommit mode) does
    /// nothing, as [`rollback`](DriverConnection::rollback).
    ///
    /// # Errors
    /// The database's error (e.g. a deferred constraint failing).
    fn commit(&mut self) -> Result<()>;

    /// Rolls back the current transaction; does nothing when none is open.
    ///
    /// # Errors
    /// The database's error.
    fn rollback(&mut self) -> Result<()>;

    /// `SAVEPOINT name`.
    ///
    /// # Errors
    /// The database's error.
    fn savepoint(&mut self, name: &str) -> Result<()> {
        self.execute(&format!("SAVEPOINT {name}"), &[]).map(drop)
    }

    /// `RELEASE SAVEPOINT name`.
    ///
    /// # Errors
    /// The database's error.
    fn release_savepoint(&mut self, name: &str) -> Result<()> {
        self.execute(&format!("RELEASE SAVEPOINT {name}"), &[])
            .map(drop)
    }

    /// `ROLLBACK TO SAVEPOINT name`.
    ///
    /// # Errors
    /// The database's error.
    fn rollback_to_savepoint(&mut self, name: &str) -> Result<()> {
        self.execute(&format!("ROLLBACK TO SAVEPOINT {name}"), &[])
            .map(drop)
    }

    /// Ends any open transaction before the connection goes back to the pool (SQLAlchemy's
    /// "reset on return"). The default is [`rollback`](DriverConnection::rollback); a driver with
    /// a pipelined protocol may send the `ROLLBACK` without waiting for its reply, which it then
    /// reads with the reply of the connection's next request (where a failure surfaces).
    ///
    /// # Errors
    /// The database's error; the pool closes the connection.
    fn reset(&mut self) -> Result<()> {
        self.rollback()
    }

    /// Whether a transaction is open on the server side.
    fn in_transaction(&self) -> bool;

    /// The row id of the most recent successful INSERT (SQLite's `last_insert_rowid`); `None`
    /// where the database has no such notion (PostgreSQL: use `RETURNING`).
    fn last_insert_id(&self) -> Option<i64>;

    /// Checks that the connection is alive with a round trip (SQLAlchemy's `pool_pre_ping`).
    ///
    /// # Errors
    /// An error (normally a disconnect) when it is not.
    fn ping(&mut self) -> Result<()>;

    /// Closes the connection.
    ///
    /// # Errors
    /// The driver's error while closing; the connection is gone either way.
    fn close(self: Box<Self>) -> Result<()>;
}

/// The default [`DriverConnection::query_then_commit`]: the statement and its rows, then
/// `COMMIT`, one after the other.
pub(crate) fn sequential_query_then_commit<C: DriverConnection + ?Sized>(
    conn: &mut C,
    sql: &str,
    params: &[Value],
) -> Result<(BufferedRows, Result<()>)> {
    let rows = {
        let mut cursor = conn.query(sql, params)?;
        BufferedRows::read_all(&mut *cursor)?
    };
    // No transaction open (autocommit mode): the statement committed itself.
    let committed = if conn.in_transaction() {
        conn.commit()
    } else {
        Ok(())
    };
    Ok((rows, committed))
}

/// The rows of one statement, read to the end (what
/// [`DriverConnection::query_then_commit`] returns); a [`DriverCursor`] handing them out.
#[derive(Debug)]
pub struct BufferedRows {
    columns: Arc<[String]>,
    /// The values, row after row (`columns.len()` per row), as [`DriverCursor::fetch`] appends
    /// them.
    values: std::vec::IntoIter<Value>,
    /// Rows not handed out yet.
    rows: usize,
    rows_affected: Option<u64>,
}

impl BufferedRows {
    /// `rows` rows already read, their `values` row after row (one per column), with the
    /// statement's column names and its [`rows_affected`](DriverCursor::rows_affected).
    ///
    /// # Errors
    /// [`InvalidRequest`](crate::ErrorKind::InvalidRequest) when `values` does not hold
    /// `rows` × `columns.len()` values.
    pub fn new(
        columns: Arc<[String]>,
        values: Vec<Value>,
        rows: usize,
        rows_affected: Option<u64>,
    ) -> Result<Self> {
        if rows.checked_mul(columns.len()) != Some(values.len()) {
            return Err(Error::invalid_request(format!(
                "{} buffered values are not {rows} rows of {} columns",
                values.len(),
                columns.len()
            )));
        }
        Ok(BufferedRows {
            columns,
            values: values.into_iter(),
            rows,
            rows_affected,
        })
    }

    /// Reads `cursor` to the end.
    ///
    /// # Errors
    /// The cursor's error.
    pub fn read_all(cursor: &mut dyn DriverCursor) -> Result<Self> {
        let mut values = Vec::new();
        let mut rows = 0;
        loop {
            match cursor.fetch(1024, &mut values)? {
                0 => break,
                n => rows += n,
            }
        }
        BufferedRows::new(
            Arc::clone(cursor.columns()),
            values,
            rows,
            cursor.rows_affected(),
        )
    }
}

impl DriverCursor for BufferedRows {
    fn columns(&self) -> &Arc<[String]> {
        &self.columns
    }

    fn fetch(&mut self, max: usize, out: &mut Vec<Value>) -> Result<usize> {
        let n = self.rows.min(max);
        out.extend(self.values.by_ref().take(n * self.columns.len()));
        self.rows -= n;
        Ok(n)
    }

    fn read_rows(
        &mut self,
        max: usize,
        _: usize,
        f: &mut dyn FnMut(&mut dyn DriverRow) -> bool,
    ) -> Result<usize> {
        let width = self.columns.len();
        let mut n = 0;
        while n < max && self.rows > 0 {
            let Some(row) = self.values.as_mut_slice().get_mut(..width) else {
                return Err(Error::internal("buffered rows shorter than their count"));
            };
            let go = f(&mut ValuesRow(row));
            self.values.by_ref().take(width).for_each(Value::discard);
            self.rows -= 1;
            n += 1;
            if !go {
                break;
            }
        }
        Ok(n)
    }

    fn rows_affected(&self) -> Option<u64> {
        self.rows_affected
    }
}

/// A cursor over the rows of one executed statement (PEP-249 `Cursor.fetchmany`), read in chunks
/// so a large result never has to be in memory at once.
pub trait DriverCursor {
    /// The names of the result columns, in order (empty for statements that return no rows).
    fn columns(&self) -> &Arc<[String]>;

    /// Appends up to `max` rows to `out`, row after row, each as one value per column (so
    /// `columns().len()` values per row, with no separator): one flat buffer per chunk instead
    /// of an allocation per row. Returns how many rows were appended; `0` means the cursor is
    /// exhausted.
    ///
    /// # Errors
    /// The database's error, or a [`Decode`](crate::ErrorKind::Decode) error naming the column
    /// whose stored value does not match its declared type.
    fn fetch(&mut self, max: usize, out: &mut Vec<Value>) -> Result<usize>;

    /// Reads up to `max` of the next rows where the driver holds them, calling `f` on each in
    /// turn; stops early, after the row it was given, when `f` returns `false`. Returns how
    /// many rows `f` was given; `0` means the cursor is exhausted. `f` reads the columns it
    /// wants through [`DriverRow::get`], so a value is decoded straight into the caller's type.
    /// `prefetch` is how many rows the caller expects to read (a driver that fetches in round
    /// trips may fetch that many at once). The default fetches one row at a time into a
    /// buffer.
    ///
    /// # Errors
    /// As [`fetch`](DriverCursor::fetch) (errors of `f` are the caller's to keep).
    fn read_rows(
        &mut self,
        max: usize,
        prefetch: usize,
        f: &mut dyn FnMut(&mut dyn DriverRow) -> bool,
    ) -> Result<usize> {
        let _ = prefetch;
        let mut values = Vec::new();
        let mut n = 0;
        while n < max {
            values.clear();
            if self.fetch(1, &mut values)? == 0 {
                break;
            }
            n += 1;
            if !f(&mut ValuesRow(&mut values)) {
                break;
            }
        }
        Ok(n)
    }

    /// Rows changed by the statement, once known (after the cursor is exhausted, for statements
    /// that change rows); `None` for queries.
    fn rows_affected(&self) -> Option<u64>;
}

/// One row of a [`DriverCursor`], read column by column where the driver holds it
/// ([`DriverCursor::read_rows`]).
pub trait DriverRow {
    /// Column `i`'s value: scalars and borrowed text where the driver can, decoded per the
    /// column's type otherwise. `i` is below the cursor's column count. A column may be read
    /// any number of times.
    ///
    /// # Errors
    /// A [`Data`](crate::ErrorKind::Data) error naming the column whose stored value cannot
    /// be read (text that is not UTF-8, a malformed binary value).
    fn get(&mut self, i: usize) -> Result<ValueRef<'_>>;

    /// Column `i`'s value, for a caller that reads it only this once: a row of owned values
    /// moves it out (leaving `NULL`) instead of copying it. The default is
    /// [`get`](DriverRow::get).
    ///
    /// # Errors
    /// As [`get`](DriverRow::get).
    #[inline]
    fn take(&mut self, i: usize) -> Result<ValueRef<'_>> {
        self.get(i)
    }
}

/// The row a driver cursor read when its statement ran (so the statement's errors surface at
/// execution), handed out before any other.
#[derive(Default)]
pub(crate) struct FirstRow {
    values: Vec<Value>,
    present: bool,
}

impl FirstRow {
    /// Keeps `values` as the first row (none when `rows` is 0).
    pub(crate) fn new(values: Vec<Value>, rows: usize) -> FirstRow {
        FirstRow {
            present: rows == 1,
            values,
        }
    }

    /// Appends the row to `out` if it is still there and `max > 0`; returns how many rows.
    pub(crate) fn fetch(&mut self, max: usize, out: &mut Vec<Value>) -> usize {
        if self.present && max > 0 {
            self.present = false;
            out.append(&mut self.values);
            1
        } else {
            0
        }
    }

    /// Hands the row to `f` if it is still there and `max > 0` (as
    /// [`DriverCursor::read_rows`]): `None` if there was none, else what `f` returned.
    pub(crate) fn read(
        &mut self,
        max: usize,
        f: &mut dyn FnMut(&mut dyn DriverRow) -> bool,
    ) -> Option<bool> {
        if !self.present || max == 0 {
            return None;
        }
        self.present = false;
        let go = f(&mut ValuesRow(&mut self.values));
        Value::clear_all(&mut self.values);
        Some(go)
    }
}

/// [`DriverCursor::read_rows`] of a cursor that read its first row at execution: `first` is
/// what [`FirstRow::read`] gave for `max`; then `rest(left, f)` reads up to `left` more rows,
/// unless `f` stopped at the first one or `max` is reached. How many rows `f` saw.
///
/// # Errors
/// `rest`'s.
pub(crate) fn read_after_first(
    first: Option<bool>,
    max: usize,
    f: &mut dyn FnMut(&mut dyn DriverRow) -> bool,
    rest: impl FnOnce(usize, &mut dyn FnMut(&mut dyn DriverRow) -> bool) -> Result<usize>,
) -> Result<usize> {
    let n = match first {
        Some(false) => return Ok(1),
        Some(true) => 1,
        None => 0,
    };
    if n == max {
        return Ok(n);
    }
    Ok(n + rest(max - n, f)?)
}

/// A row already decoded into [`Value`]s, one per column (what a driver hands out for a row it
/// buffered): [`take`](DriverRow::take) moves a value out, [`get`](DriverRow::get) borrows it.
///
/// ```
/// use calcine_engine::{DriverRow, ValuesRow};
/// use calcine_sql::{Value, ValueRef};
/// let mut values = [Value::Int(7), Value::Text("ann".into())];
/// let mut row = ValuesRow(&mut values);
/// assert_eq!(row.get(1)?, ValueRef::Text("ann"));
/// assert_eq!(row.get(1)?, ValueRef::Text("ann"));
/// assert_eq!(row.take(1)?, ValueRef::Value(Value::Text("ann".into())));
/// assert!(row.get(1)?.is_null());
/// assert!(row.get(2).is_err());
/// # Ok::<(), calcine_engine::Error>(())
/// ```
pub struct ValuesRow<'a>(pub &'a mut [Value]);

impl ValuesRow<'_> {
    #[cold]
    fn out_of_range(&self, i: usize) -> Error {
        Error::internal(format!("column {i} of a row of {} values", self.0.len()))
    }
}

impl DriverRow for ValuesRow<'_> {
    #[inline]
    fn get(&mut self, i: usize) -> Result<ValueRef<'_>> {
        match self.0.get(i) {
            Some(v) => Ok(v.as_value_ref()),
            None => Err(self.out_of_range(i)),
        }
    }

    #[inline]
    fn take(&mut self, i: usize) -> Result<ValueRef<'_>> {
        if i < self.0.len() {
            Ok(ValueRef::Value(std::mem::take(&mut self.0[i])))
        } else {
            Err(self.out_of_range(i))
        }
    }
}

/// The width of each of `rows` parameter sets laid out one after the other in `len` values
/// ([`DriverConnection::execute_each_with`]).
///
/// # Errors
/// [`Internal`](crate::ErrorKind::Internal) when `len` is not a multiple of `rows`.
pub(crate) fn param_width(len: usize, rows: usize) -> Result<usize> {
    match len.checked_div(rows) {
        Some(w) if w * rows == len => Ok(w),
        None if len == 0 => Ok(0),
        _ => Err(Error::internal(format!(
            "{len} parameters do not split into {rows} sets of equal width"
        ))),
    }
}

/// What [`DriverConnection::execute_each_with`] calls to have parameter set `i` pushed into a
/// [`ParamSink`].
pub type FillParams<'f> = dyn FnMut(usize, &mut dyn ParamSink) -> Result<()> + 'f;

/// Takes one parameter set's values, lent, in placeholder order
/// ([`DriverConnection::execute_each_with`]). A `Vec<Value>` collects owned copies.
pub trait ParamSink {
    /// The next parameter. A value the driver cannot bind is reported after the set was
    /// filled, as the statement's error.
    fn push(&mut self, value: ValueRef<'_>);
}

impl ParamSink for Vec<Value> {
    #[inline]
    fn push(&mut self, value: ValueRef<'_>) {
        Vec::push(self, value.into_value());
    }
}

/// Owned copies of `rows` parameter sets of `width` values that `fill` lends, one after the
/// other.
///
/// # Errors
/// `fill`'s; [`Programming`](crate::ErrorKind::Programming) when a set is not `width` values.
pub(crate) fn collect_lent(
    width: usize,
    rows: usize,
    fill: &mut FillParams<'_>,
) -> Result<Vec<Value>> {
    let mut params: Vec<Value> = Vec::with_capacity(width * rows);
    for i in 0..rows {
        let start = params.len();
        fill(i, &mut params)?;
        check_width(width, params.len() - start)?;
    }
    Ok(params)
}

/// The error of a parameter set of `got` values where the statement takes `width`.
pub(crate) fn check_width(width: usize, got: usize) -> Result<()> {
    if got == width {
        return Ok(());
    }
    Err(Error::programming(format!(
        "Incorrect number of bindings supplied. The current statement uses {width}, and there \
         are {got} supplied."
    )))
}

/// Parameter set `i` of width `width` ([`DriverConnection::execute_each_with`]).
pub(crate) fn param_set(params: &[Value], width: usize, i: usize) -> &[Value] {
    params.get(i * width..(i + 1) * width).unwrap_or(&[])
}
