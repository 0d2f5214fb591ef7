//! [`CursorResult`]: the rows of one executed statement (SQLAlchemy's `CursorResult`), with its
//! `ScalarResult`, `MappingResult` and `partitions` views.

use std::marker::PhantomData;
use std::sync::Arc;

use calcine_sql::{FromValue, Value};

use crate::driver::{Driver, DriverCursor};
use crate::error::{Error, Result};
use crate::row::{Columns, FromRow, Row, RowMapping, RowRef};

/// Rows fetched from the driver per round when no `yield_per` was set.
const DEFAULT_CHUNK: usize = 100;

/// The result of executing a statement (SQLAlchemy's `CursorResult`): an iterator of
/// `Result<Row>` over a live driver cursor, fetched in chunks of [`yield_per`](Self::yield_per)
/// rows, plus the usual consumers (`all`, `first`, `one`, `one_or_none`, `scalar`, `scalars`,
/// `mappings`, `partitions`).
///
/// The result borrows its [`Connection`](crate::Connection): drop it (or consume it) before using
/// the connection again. Dropping it early discards the unread rows.
///
/// # Example
/// ```
/// let engine = calcine_engine::create_engine("sqlite://")?;
/// let mut conn = engine.connect()?;
/// conn.exec_driver_sql("CREATE TABLE t (n INTEGER)", &[])?;
/// for n in 0..10i64 {
///     conn.exec_driver_sql("INSERT INTO t VALUES (?)", &[n.into()])?;
/// }
/// let mut seen = 0;
/// for part in conn.exec_driver_sql("SELECT n FROM t ORDER BY n", &[])?.partitions(4) {
///     let part = part?;
///     assert!(part.len() <= 4);
///     seen += part.len();
/// }
/// assert_eq!(seen, 10);
/// # Ok::<(), calcine_engine::Error>(())
/// ```
pub struct CursorResult<'c> {
    cursor: Box<dyn DriverCursor + 'c>,
    columns: Arc<Columns>,
    /// Values per row (the number of columns).
    width: usize,
    /// The current chunk's values, row after row, as the driver appended them; rows already
    /// handed out are left `NULL` (moved out), the next one starts at `pos`. The connection's
    /// own buffer, kept from statement to statement (emptied when the result is dropped).
    buffer: &'c mut Vec<Value>,
    pos: usize,
    /// Rows of the chunk not handed out yet.
    rows_left: usize,
    chunk: usize,
    exhausted: bool,
    driver: &'c dyn Driver,
    disconnected: &'c mut bool,
}

impl<'c> CursorResult<'c> {
    pub(crate) fn new(
        cursor: Box<dyn DriverCursor + 'c>,
        columns: Arc<Columns>,
        driver: &'c dyn Driver,
        disconnected: &'c mut bool,
        buffer: &'c mut Vec<Value>,
    ) -> Self {
        Value::clear_all(buffer);
        CursorResult {
            cursor,
            width: columns.names().len(),
            columns,
            buffer,
            pos: 0,
            rows_left: 0,
            chunk: DEFAULT_CHUNK,
            exhausted: false,
            driver,
            disconnected,
        }
    }

    /// The column names (SQLAlchemy's `keys()`).
    pub fn columns(&self) -> &[String] {
        self.columns.names()
    }

    /// Whether the statement returns rows (SQLAlchemy's `returns_rows`).
    pub fn returns_rows(&self) -> bool {
        !self.columns.names().is_empty()
    }

    /// Rows changed by an INSERT/UPDATE/DELETE (SQLAlchemy's `rowcount`); `None` for queries,
    /// and for DML with `RETURNING` until its rows were read.
    pub fn rows_affected(&self) -> Option<u64> {
        self.cursor.rows_affected()
    }

    /// Fetches `n` rows per round trip from now on (SQLAlchemy's `yield_per`): at most about `n`
    /// rows are held in memory at once.
    #[must_use]
    pub fn yield_per(mut self, n: usize) -> Self {
        self.chunk = n.max(1);
        self
    }

    /// Appends up to `max` rows' values from the driver to `out`; marks the result exhausted at
    /// the end or on an error (noting a disconnect for the connection).
    fn pull(&mut self, max: usize, out: &mut Vec<Value>) -> Result<usize> {
        if self.exhausted {
            return Ok(0);
        }
        let before = out.len();
        let fetched = self.cursor.fetch(max, out).and_then(|n| {
            if out.len() - before == n * self.width {
                Ok(n)
            } else {
                Err(Error::internal(format!(
                    "the {} driver returned {} values for {n} rows of {} columns",
                    self.driver.name(),
                    out.len() - before,
                    self.width
                )))
            }
        });
        self.settle(fetched)
    }

    /// A driver read's outcome: how many rows; `0`, or an error, marks the result exhausted
    /// (a disconnect is noted for the connection).
    fn settle(&mut self, read: Result<usize>) -> Result<usize> {
        match read {
            Ok(n) => {
                self.exhausted = n == 0;
                Ok(n)
            }
            Err(e) => {
                self.exhausted = true;
                if self.driver.is_disconnect(&e) {
                    *self.disconnected = true;
                }
                Err(e)
            }
        }
    }

    /// Replaces the consumed chunk with the next one.
    fn fill(&mut self) -> Result<()> {
        let mut buffer = std::mem::take(&mut *self.buffer);
        Value::clear_all(&mut buffer);
        self.pos = 0;
        let r = self.pull(self.chunk, &mut buffer);
        *self.buffer = buffer;
        self.rows_left = *r.as_ref().unwrap_or(&0);
        r.map(drop)
    }

    /// The next row, built as `T` from its values (moved out of the chunk); `None` at the end.
    fn next_as<T: FromRow>(&mut self) -> Result<Option<T>> {
        if self.rows_left == 0 {
            if self.direct() {
                return self.next_direct();
            }
            self.fill()?;
            if self.rows_left == 0 {
                return Ok(None);
            }
        }
        let end = self.pos + self.width;
        let values = &mut self.buffer[self.pos..end];
        self.pos = end;
        self.rows_left -= 1;
        T::from_row(&mut RowRef::new(values, &self.columns)).map(Some)
    }

    /// Whether rows are read in place from the driver (nothing left in the buffer, and not
    /// too wide for [`RowRef`]'s taken-column mask).
    fn direct(&self) -> bool {
        self.rows_left == 0 && (1..=RowRef::DIRECT_MAX).contains(&self.width)
    }

    /// Reads up to `max` rows in place from the driver, calling `f` on each (with the
    /// result's columns), which returns whether to go on; `f`'s first error stops the read and
    /// is returned. Returns how many rows were read (`0`: the end).
    fn read_in_place(
        &mut self,
        max: usize,
        mut f: impl FnMut(&Arc<Columns>, &mut dyn crate::driver::DriverRow) -> Result<bool>,
    ) -> Result<usize> {
        if self.exhausted {
            return Ok(0);
        }
        let columns = &self.columns;
        let mut failed = None;
        let read = self
            .cursor
            .read_rows(max, self.chunk, &mut |row| match f(columns, row) {
                Ok(go) => go,
                Err(e) => {
                    failed = Some(e);
                    false
                }
            });
        let n = self.settle(read)?;
        failed.map_or(Ok(n), Err)
    }

    /// Reads up to `max` rows in place, handing each, built as `T`, to `each` (which returns
    /// whether to go on); returns how many rows were read (`0`: the end).
    fn read_direct<T: FromRow>(
        &mut self,
        max: usize,
        mut each: impl FnMut(T) -> bool,
    ) -> Result<usize> {
        self.read_in_place(max, |columns, row| {
            T::from_row(&mut RowRef::driver(row, columns)).map(&mut each)
        })
    }

    /// The next row, built as `T` from the driver's own row; `None` at the end.
    fn next_direct<T: FromRow>(&mut self) -> Result<Option<T>> {
        let mut out = None;
        self.read_direct(1, |v| {
            out = Some(v);
            true
        })?;
        Ok(out)
    }

    /// All remaining rows as `T`.
    fn all_as<T: FromRow>(mut self) -> Result<Vec<T>> {
        let mut out = Vec::new();
        while !self.direct() {
            match self.next_as()? {
                Some(v) => out.push(v),
                None => return Ok(out),
            }
        }
        while self.read_direct(usize::MAX, |v| {
            out.push(v);
            true
        })? > 0
        {}
        Ok(out)
    }

    /// The first row as `T`, discarding the rest.
    fn first_as<T: FromRow>(mut self) -> Result<Option<T>> {
        self.chunk = 1;
        self.next_as()
    }

    /// At most one row, as `T`.
    fn one_or_none_as<T: FromRow>(mut self) -> Result<Option<T>> {
        self.chunk = 2;
        let first = self.next_as()?;
        if first.is_some() && self.next_as::<Skip>()?.is_some() {
            return Err(Error::multiple_results_found(
                "Multiple rows were found when one or none was required; \
                 add a WHERE clause or LIMIT, or use first()/all()",
            ));
        }
        Ok(first)
    }

    /// Exactly one row, as `T`.
    fn one_as<T: FromRow>(self) -> Result<T> {
        self.one_or_none_as()?.ok_or_else(no_result)
    }

    /// The next row, `None` at the end.
    ///
    /// # Errors
    /// The driver's error while fetching.
    pub fn next_row(&mut self) -> Result<Option<Row>> {
        self.next_as()
    }

    /// All remaining rows.
    ///
    /// # Errors
    /// The driver's error while fetching.
    pub fn all(self) -> Result<Vec<Row>> {
        self.all_as()
    }

    /// The rows decoded as `T` (SQLAlchemy's `tuples()`, typed): a tuple of
    /// [`FromValue`](calcine_sql::FromValue) types with one element per column, or any
    /// [`FromRow`] type. Each value is moved out of the fetched chunk and decoded once, with no
    /// [`Row`] built per row: the fast way to read many rows into structs.
    ///
    /// # Example
    /// ```
    /// let engine = calcine_engine::create_engine("sqlite://")?;
    /// let mut conn = engine.connect()?;
    /// let rows = conn
    ///     .exec_driver_sql("SELECT 1, 'ann' UNION ALL SELECT 2, NULL", &[])?
    ///     .tuples::<(i64, Option<String>)>()
    ///     .all()?;
    /// assert_eq!(rows, [(1, Some("ann".to_owned())), (2, None)]);
    /// # Ok::<(), calcine_engine::Error>(())
    /// ```
    pub fn tuples<T: FromRow>(self) -> TupleResult<'c, T> {
        TupleResult {
            inner: self,
            _t: PhantomData,
        }
    }

    /// Appends up to `max` of the next rows' values to `out`, row after row (one value per
    /// column, in column order, with no separator); returns how many rows (`0`: the result is
    /// exhausted). For loaders that build their own objects chunk by chunk, with no allocation
    /// per row.
    ///
    /// # Errors
    /// The driver's error while fetching.
    pub fn fetch_values(&mut self, max: usize, out: &mut Vec<Value>) -> Result<usize> {
        let buffered = self.rows_left.min(max);
        let end = self.pos + buffered * self.width;
        out.extend(self.buffer[self.pos..end].iter_mut().map(std::mem::take));
        self.pos = end;
        self.rows_left -= buffered;
        let mut n = buffered;
        while n < max {
            match self.pull(max - n, out)? {
                0 => break,
                k => n += k,
            }
        }
        Ok(n)
    }

    /// The next rows' values, up to `max` rows, row after row (one value per column, in column
    /// order), in the result's own buffer: the rows still buffered, else the next fetch of up
    /// to `max` rows. Empty at the end (and always for a result without columns). The caller may move values out; the rows count as
    /// read. For loaders that build their own objects chunk by chunk without copying the values
    /// out first ([`fetch_values`](Self::fetch_values) appends them to a buffer of the caller's).
    ///
    /// # Errors
    /// The driver's error while fetching.
    pub fn next_chunk(&mut self, max: usize) -> Result<&mut [Value]> {
        if self.rows_left == 0 {
            let chunk = std::mem::replace(&mut self.chunk, max.max(1));
            let r = self.fill();
            self.chunk = chunk;
            r?;
        }
        let rows = self.rows_left.min(max.max(1));
        let start = self.pos;
        self.pos += rows * self.width;
        self.rows_left -= rows;
        Ok(&mut self.buffer[start..self.pos])
    }

    /// All remaining rows as plain value vectors (SQLAlchemy's `result.tuples().all()`,
    /// untyped).
    ///
    /// # Errors
    /// The driver's error while fetching.
    pub fn all_values(self) -> Result<Vec<Vec<Value>>> {
        self.tuples::<Vec<Value>>().all()
    }

    /// The first row, discarding the rest (SQLAlchemy's `first()`).
    ///
    /// # Errors
    /// The driver's error while fetching.
    pub fn first(self) -> Result<Option<Row>> {
        self.first_as()
    }

    /// Exactly one row.
    ///
    /// # Errors
    /// [`NoResultFound`](crate::ErrorKind::NoResultFound) for no rows,
    /// [`MultipleResultsFound`](crate::ErrorKind::MultipleResultsFound) for more than one.
    pub fn one(self) -> Result<Row> {
        self.one_as()
    }

    /// At most one row.
    ///
    /// # Errors
    /// [`MultipleResultsFound`](crate::ErrorKind::MultipleResultsFound) for more than one row.
    pub fn one_or_none(self) -> Result<Option<Row>> {
        self.one_or_none_as()
    }

    /// The first column of the first row, decoded as `T` (SQLAlchemy's `scalar()`); with no rows,
    /// `NULL` is decoded (so `Option<T>` gives `None`).
    ///
    /// # Errors
    /// [`NoResultFound`](crate::ErrorKind::NoResultFound) for no rows when `T` is not an
    /// `Option`; [`Decode`](crate::ErrorKind::Decode) naming the column for a wrong type.
    pub fn scalar<T: FromValue>(self) -> Result<T> {
        let column = self.columns.names().first().cloned().unwrap_or_default();
        match self.first_as::<First<T>>()? {
            Some(First(v)) => Ok(v),
            None => T::from_value(Value::Null).map_err(|_| {
                Error::no_result_found(format!(
                    "scalar() found no row for column {column:?}; read it as Option<T> to accept no result"
                ))
            }),
        }
    }

    /// The first column of exactly one row.
    ///
    /// # Errors
    /// As [`one`](Self::one), and [`Decode`](crate::ErrorKind::Decode) for a wrong type.
    pub fn scalar_one<T: FromValue>(self) -> Result<T> {
        self.one_as::<First<T>>().map(|First(v)| v)
    }

    /// The first column of every row, decoded as `T` (SQLAlchemy's `scalars()`).
    pub fn scalars<T: FromValue>(self) -> ScalarResult<'c, T> {
        ScalarResult {
            inner: self,
            _t: PhantomData,
        }
    }

    /// Rows as name → value mappings (SQLAlchemy's `mappings()`).
    pub fn mappings(self) -> MappingResult<'c> {
        MappingResult { inner: self }
    }

    /// Chunks of up to `n` rows, fetched `n` at a time (SQLAlchemy's `partitions(n)`).
    pub fn partitions(self, n: usize) -> Partitions<'c> {
        let n = n.max(1);
        Partitions {
            inner: self.yield_per(n),
            size: n,
            done: false,
        }
    }
}

fn no_result() -> Error {
    Error::no_result_found(
        "No row was found when one was required; use one_or_none() or first() if none is acceptable",
    )
}

impl Iterator for CursorResult<'_> {
    type Item = Result<Row>;

    fn next(&mut self) -> Option<Result<Row>> {
        self.next_row().transpose()
    }
}

impl Drop for CursorResult<'_> {
    /// Empties the connection's buffer (its capacity stays for the next statement).
    fn drop(&mut self) {
        Value::clear_all(self.buffer);
    }
}

impl std::fmt::Debug for CursorResult<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CursorResult")
            .field("columns", &self.columns.names())
            .field("exhausted", &self.exhausted)
            .finish_non_exhaustive()
    }
}

/// Chunks of rows from a [`CursorResult`] (SQLAlchemy's `Result.partitions`).
pub struct Partitions<'c> {
    inner: CursorResult<'c>,
    size: usize,
    done: bool,
}

impl Iterator for Partitions<'_> {
    type Item = Result<Vec<Row>>;

    fn next(&mut self) -> Option<Result<Vec<Row>>> {
        if self.done {
            return None;
        }
        let mut part = Vec::with_capacity(self.size);
        while part.len() < self.size {
            match self.inner.next_row() {
                Ok(Some(r)) => part.push(r),
                Ok(None) => break,
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            }
        }
        if part.len() < self.size {
            self.done = true;
        }
        (!part.is_empty()).then_some(Ok(part))
    }
}

/// The first column of each row, decoded as `T` (SQLAlchemy's `ScalarResult`).
pub struct ScalarResult<'c, T> {
    inner: CursorResult<'c>,
    _t: PhantomData<fn() -> T>,
}

impl<T: FromValue> ScalarResult<'_, T> {
    /// All remaining values.
    ///
    /// # Errors
    /// The driver's error, or [`Decode`](crate::ErrorKind::Decode) naming the column.
    pub fn all(self) -> Result<Vec<T>> {
        let all = self.inner.all_as::<First<T>>()?;
        Ok(all.into_iter().map(|First(v)| v).collect())
    }

    /// The first value, if any.
    ///
    /// # Errors
    /// As [`all`](Self::all).
    pub fn first(self) -> Result<Option<T>> {
        Ok(self.inner.first_as::<First<T>>()?.map(|First(v)| v))
    }

    /// Exactly one value.
    ///
    /// # Errors
    /// [`NoResultFound`](crate::ErrorKind::NoResultFound) /
    /// [`MultipleResultsFound`](crate::ErrorKind::MultipleResultsFound), or a decode error.
    pub fn one(self) -> Result<T> {
        self.inner.one_as::<First<T>>().map(|First(v)| v)
    }

    /// At most one value.
    ///
    /// # Errors
    /// [`MultipleResultsFound`](crate::ErrorKind::MultipleResultsFound), or a decode error.
    pub fn one_or_none(self) -> Result<Option<T>> {
        Ok(self.inner.one_or_none_as::<First<T>>()?.map(|First(v)| v))
    }
}

impl<T: FromValue> Iterator for ScalarResult<'_, T> {
    type Item = Result<T>;

    fn next(&mut self) -> Option<Result<T>> {
        self.inner
            .next_as::<First<T>>()
            .map(|r| r.map(|First(v)| v))
            .transpose()
    }
}

/// The first column of a row, decoded as `T` (what [`ScalarResult`] reads).
struct First<T>(T);

impl<T: FromValue> FromRow for First<T> {
    fn from_row(row: &mut RowRef<'_>) -> Result<Self> {
        row.take(0).map(First)
    }
}

/// A row read only to know it is there.
struct Skip;

impl FromRow for Skip {
    fn from_row(_: &mut RowRef<'_>) -> Result<Self> {
        Ok(Skip)
    }
}

/// The rows of a [`CursorResult`] decoded as `T` ([`CursorResult::tuples`]).
pub struct TupleResult<'c, T> {
    inner: CursorResult<'c>,
    _t: PhantomData<fn() -> T>,
}

impl<T: FromRow> TupleResult<'_, T> {
    /// All remaining rows.
    ///
    /// # Errors
    /// The driver's error, or [`Decode`](crate::ErrorKind::Decode) naming the column.
    pub fn all(self) -> Result<Vec<T>> {
        self.inner.all_as()
    }

    /// The first row, if any, discarding the rest.
    ///
    /// # Errors
    /// As [`all`](Self::all).
    pub fn first(self) -> Result<Option<T>> {
        self.inner.first_as()
    }

    /// Exactly one row.
    ///
    /// # Errors
    /// [`NoResultFound`](crate::ErrorKind::NoResultFound) /
    /// [`MultipleResultsFound`](crate::ErrorKind::MultipleResultsFound), or a decode error.
    pub fn one(self) -> Result<T> {
        self.inner.one_as()
    }

    /// At most one row.
    ///
    /// # Errors
    /// [`MultipleResultsFound`](crate::ErrorKind::MultipleResultsFound), or a decode error.
    pub fn one_or_none(self) -> Result<Option<T>> {
        self.inner.one_or_none_as()
    }
}

impl<T: FromRow> Iterator for TupleResult<'_, T> {
    type Item = Result<T>;

    fn next(&mut self) -> Option<Result<T>> {
        self.inner.next_as().transpose()
    }
}

/// Rows as [`RowMapping`]s (SQLAlchemy's `MappingResult`).
pub struct MappingResult<'c> {
    inner: CursorResult<'c>,
}

impl MappingResult<'_> {
    /// All remaining rows.
    ///
    /// # Errors
    /// The driver's error while fetching.
    pub fn all(self) -> Result<Vec<RowMapping>> {
        self.collect()
    }

    /// The first row, if any.
    ///
    /// # Errors
    /// The driver's error while fetching.
    pub fn first(self) -> Result<Option<RowMapping>> {
        Ok(self.inner.first()?.map(Row::into_mapping))
    }

    /// Exactly one row.
    ///
    /// # Errors
    /// [`NoResultFound`](crate::ErrorKind::NoResultFound) /
    /// [`MultipleResultsFound`](crate::ErrorKind::MultipleResultsFound).
    pub fn one(self) -> Result<RowMapping> {
        Ok(self.inner.one()?.into_mapping())
    }
}

impl Iterator for MappingResult<'_> {
    type Item = Result<RowMapping>;

    fn next(&mut self) -> Option<Result<RowMapping>> {
        Some(self.inner.next_row().transpose()?.map(Row::into_mapping))
    }
}
