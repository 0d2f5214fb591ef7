//! [`AsyncResult`]: a streaming result over a live cursor (SQLAlchemy's
//! `ext.asyncio.AsyncResult`, returned by `AsyncConnection.stream`).

use std::collections::VecDeque;
use std::fmt;

use calcine_engine::{CursorResult, Result, Row, RowMapping};
use calcine_sql::FromValue;
use futures_core::Stream;

use crate::bridge;
use crate::result::{multiple, no_result};

/// Rows fetched per trip through the bridge when no `yield_per` was set.
const DEFAULT_CHUNK: usize = 100;

/// The streaming result of [`AsyncConnection::stream`](crate::AsyncConnection::stream)
/// (SQLAlchemy's `AsyncResult`): it holds the engine's live [`CursorResult`] and borrows the
/// connection until dropped. Each fetch of a chunk is one
/// [`greenlet_spawn`](calcine_greenlet::greenlet_spawn) around the sync cursor, so at most
/// about one chunk ([`yield_per`](Self::yield_per), default 100 rows) is in memory.
///
/// Read it with [`next_row`](Self::next_row) / [`fetchmany`](Self::fetchmany), turn it into a
/// [`Stream`] with [`into_stream`](Self::into_stream) or [`partitions`](Self::partitions), or
/// consume it with `all`, `first`, `one`, `one_or_none`, `scalar`.
pub struct AsyncResult<'a> {
    cursor: CursorResult<'a>,
    buffer: VecDeque<Row>,
    chunk: usize,
    done: bool,
}

impl<'a> AsyncResult<'a> {
    pub(crate) fn new(cursor: CursorResult<'a>) -> Self {
        AsyncResult {
            cursor: cursor.yield_per(DEFAULT_CHUNK),
            buffer: VecDeque::new(),
            chunk: DEFAULT_CHUNK,
            done: false,
        }
    }

    /// The column names (SQLAlchemy's `keys()`).
    pub fn columns(&self) -> &[String] {
        self.cursor.columns()
    }

    /// Fetches `n` rows per trip through the bridge and per driver round trip from now on
    /// (SQLAlchemy's `yield_per`).
    #[must_use]
    pub fn yield_per(mut self, n: usize) -> Self {
        let n = n.max(1);
        self.chunk = n;
        self.cursor = self.cursor.yield_per(n);
        self
    }

    /// Fetches the next chunk of up to `n` rows into the buffer.
    async fn fill(&mut self, n: usize) -> Result<()> {
        if self.done {
            return Ok(());
        }
        let cursor = &mut self.cursor;
        let fetched = bridge::run(false, move || {
            let mut rows = Vec::with_capacity(n);
            while rows.len() < n {
                match cursor.next_row()? {
                    Some(r) => rows.push(r),
                    None => break,
                }
            }
            Ok(rows)
        })
        .await;
        match fetched {
            Ok(rows) => {
                if rows.len() < n {
                    self.done = true;
                }
                self.buffer.extend(rows);
                Ok(())
            }
            Err(e) => {
                self.done = true;
                Err(e)
            }
        }
    }

    /// The next row, `None` at the end.
    ///
    /// # Errors
    /// The driver's error while fetching.
    pub async fn next_row(&mut self) -> Result<Option<Row>> {
        if self.buffer.is_empty() {
            self.fill(self.chunk).await?;
        }
        Ok(self.buffer.pop_front())
    }

    /// Up to `n` rows; fewer only at the end (SQLAlchemy's `fetchmany(n)`).
    ///
    /// # Errors
    /// The driver's error while fetching.
    pub async fn fetchmany(&mut self, n: usize) -> Result<Vec<Row>> {
        let n = n.max(1);
        if self.buffer.len() < n {
            let missing = n - self.buffer.len();
            self.fill(missing).await?;
        }
        let take = n.min(self.buffer.len());
        Ok(self.buffer.drain(..take).collect())
    }

    /// All remaining rows.
    ///
    /// # Errors
    /// The driver's error while fetching.
    pub async fn all(mut self) -> Result<Vec<Row>> {
        let mut out = Vec::new();
        while let Some(r) = self.next_row().await? {
            out.push(r);
        }
        Ok(out)
    }

    /// The first row; the rest are discarded.
    ///
    /// # Errors
    /// The driver's error while fetching.
    pub async fn first(mut self) -> Result<Option<Row>> {
        if self.buffer.is_empty() {
            self.fill(1).await?;
        }
        Ok(self.buffer.pop_front())
    }

    /// At most one row.
    ///
    /// # Errors
    /// [`MultipleResultsFound`](calcine_engine::ErrorKind::MultipleResultsFound) for more than
    /// one row.
    pub async fn one_or_none(mut self) -> Result<Option<Row>> {
        if self.buffer.len() < 2 {
            let missing = 2 - self.buffer.len();
            self.fill(missing).await?;
        }
        if self.buffer.len() > 1 {
            return Err(multiple());
        }
        Ok(self.buffer.pop_front())
    }

    /// Exactly one row.
    ///
    /// # Errors
    /// [`NoResultFound`](calcine_engine::ErrorKind::NoResultFound) for no rows,
    /// [`MultipleResultsFound`](calcine_engine::ErrorKind::MultipleResultsFound) for more.
    pub async fn one(self) -> Result<Row> {
        self.one_or_none().await?.ok_or_else(no_result)
    }

    /// The first column of the first row; `Option<T>` gives `None` for no rows.
    ///
    /// # Errors
    /// [`NoResultFound`](calcine_engine::ErrorKind::NoResultFound) for no rows when `T` is not
    /// an `Option`; [`Decode`](calcine_engine::ErrorKind::Decode) for a wrong type.
    pub async fn scalar<T: FromValue>(self) -> Result<T> {
        match self.first().await? {
            Some(mut row) => row.take(0),
            None => T::from_value(calcine_sql::Value::Null).map_err(|_| no_result()),
        }
    }

    /// The rows as an async [`Stream`] (SQLAlchemy's `async for row in result`).
    pub fn into_stream(self) -> impl Stream<Item = Result<Row>> + 'a {
        futures_util::stream::unfold(self, |mut this| async move {
            match this.next_row().await {
                Ok(Some(row)) => Some((Ok(row), this)),
                Ok(None) => None,
                Err(e) => Some((Err(e), this)),
            }
        })
    }

    /// The first column of each row, decoded as `T` (SQLAlchemy's `AsyncResult.scalars()`).
    pub fn scalars<T: FromValue + 'a>(self) -> impl Stream<Item = Result<T>> + 'a {
        futures_util::StreamExt::map(self.into_stream(), |r| r.and_then(|mut row| row.take(0)))
    }

    /// Each row as a name → value mapping (SQLAlchemy's `AsyncResult.mappings()`).
    pub fn mappings(self) -> impl Stream<Item = Result<RowMapping>> + 'a {
        futures_util::StreamExt::map(self.into_stream(), |r| r.map(Row::into_mapping))
    }

    /// Chunks of up to `n` rows, each fetched in one trip through the bridge (SQLAlchemy's
    /// `AsyncResult.partitions(n)`); only the last chunk may be shorter.
    pub fn partitions(self, n: usize) -> impl Stream<Item = Result<Vec<Row>>> + 'a {
        let n = n.max(1);
        futures_util::stream::unfold(Some(self.yield_per(n)), move |state| async move {
            let mut this = state?;
            match this.fetchmany(n).await {
                Ok(part) if part.is_empty() => None,
                Ok(part) => Some((Ok(part), Some(this))),
                Err(e) => Some((Err(e), None)),
            }
        })
    }
}

impl fmt::Debug for AsyncResult<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncResult")
            .field("columns", &self.columns())
            .field("buffered", &self.buffer.len())
            .field("chunk", &self.chunk)
            .field("done", &self.done)
            .finish()
    }
}
