//! [`BufferedResult`]: the fully fetched result of an async `execute` (SQLAlchemy's async
//! `execute`, which returns a buffered `CursorResult`).

use std::collections::VecDeque;

use calcine_engine::{CursorResult, Error, Result, Row, RowMapping};
use calcine_sql::{FromValue, Value};

/// The rows of one statement run through [`AsyncConnection::execute`](crate::AsyncConnection::execute),
/// fetched inside the greenlet and owned (SQLAlchemy's async `execute` buffers the same way:
/// its `CursorResult` is pre-buffered so no IO happens while reading it). Use
/// [`stream`](crate::AsyncConnection::stream) for results too large to hold.
///
/// All accessors are plain sync methods: reading an owned buffer does no IO.
#[derive(Debug, Clone)]
pub struct BufferedResult {
    columns: Vec<String>,
    rows: VecDeque<Row>,
    rows_affected: Option<u64>,
}

impl BufferedResult {
    /// Reads every row of `result` (inside the greenlet that executed it).
    pub(crate) fn fetch(mut result: CursorResult<'_>) -> Result<BufferedResult> {
        let columns = result.columns().to_vec();
        let mut rows = VecDeque::new();
        while let Some(row) = result.next_row()? {
            rows.push_back(row);
        }
        let rows_affected = result.rows_affected();
        Ok(BufferedResult {
            columns,
            rows,
            rows_affected,
        })
    }

    /// The column names (SQLAlchemy's `keys()`).
    pub fn columns(&self) -> &[String] {
        &self.columns
    }

    /// Whether the statement returned rows (SQLAlchemy's `returns_rows`).
    pub fn returns_rows(&self) -> bool {
        !self.columns.is_empty()
    }

    /// Rows changed by an INSERT/UPDATE/DELETE (SQLAlchemy's `rowcount`).
    pub fn rows_affected(&self) -> Option<u64> {
        self.rows_affected
    }

    /// Rows not yet consumed.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether no rows remain.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// All rows.
    pub fn all(self) -> Vec<Row> {
        self.rows.into()
    }

    /// The first row, `None` when there is none; the rest are discarded.
    pub fn first(mut self) -> Option<Row> {
        self.rows.pop_front()
    }

    /// Exactly one row.
    ///
    /// # Errors
    /// [`NoResultFound`](calcine_engine::ErrorKind::NoResultFound) for no rows,
    /// [`MultipleResultsFound`](calcine_engine::ErrorKind::MultipleResultsFound) for more.
    pub fn one(self) -> Result<Row> {
        self.one_or_none()?.ok_or_else(no_result)
    }

    /// At most one row.
    ///
    /// # Errors
    /// [`MultipleResultsFound`](calcine_engine::ErrorKind::MultipleResultsFound) for more than
    /// one row.
    pub fn one_or_none(mut self) -> Result<Option<Row>> {
        if self.rows.len() > 1 {
            return Err(multiple());
        }
        Ok(self.rows.pop_front())
    }

    /// The first column of the first row (SQLAlchemy's `scalar()`); with no rows `NULL` is
    /// decoded, so `Option<T>` gives `None`.
    ///
    /// # Errors
    /// [`NoResultFound`](calcine_engine::ErrorKind::NoResultFound) for no rows when `T` is not
    /// an `Option`; [`Decode`](calcine_engine::ErrorKind::Decode) for a wrong type.
    pub fn scalar<T: FromValue>(self) -> Result<T> {
        let column = self.columns.first().cloned().unwrap_or_default();
        match self.first() {
            Some(mut row) => row.take(0),
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
    /// As [`one`](Self::one), and [`Decode`](calcine_engine::ErrorKind::Decode).
    pub fn scalar_one<T: FromValue>(self) -> Result<T> {
        self.one()?.take(0)
    }

    /// The first column of every row (SQLAlchemy's `scalars().all()`).
    ///
    /// # Errors
    /// [`Decode`](calcine_engine::ErrorKind::Decode) for a wrong type.
    pub fn scalars<T: FromValue>(self) -> Result<Vec<T>> {
        self.rows.into_iter().map(|mut r| r.take(0)).collect()
    }

    /// Every row as a name → value mapping (SQLAlchemy's `mappings().all()`).
    pub fn mappings(self) -> Vec<RowMapping> {
        self.rows.into_iter().map(Row::into_mapping).collect()
    }
}

impl IntoIterator for BufferedResult {
    type Item = Row;
    type IntoIter = std::collections::vec_deque::IntoIter<Row>;

    fn into_iter(self) -> Self::IntoIter {
        self.rows.into_iter()
    }
}

pub(crate) fn no_result() -> Error {
    Error::no_result_found(
        "No row was found when one was required; use one_or_none() or first() if none is acceptable",
    )
}

pub(crate) fn multiple() -> Error {
    Error::multiple_results_found(
        "Multiple rows were found when one or none was required; \
         add a WHERE clause or LIMIT, or use first()/all()",
    )
}
