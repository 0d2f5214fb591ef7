//! [`AsyncScalarStream`]: mapped objects streamed from a live cursor (SQLAlchemy's
//! `AsyncSession.stream_scalars`).

use std::collections::VecDeque;

use calcine_engine::{CursorResult, Error, Result};
use calcine_greenlet::greenlet_spawn;
use calcine_orm::{Model, Obj, Session};
use futures_core::Stream;

/// Instances of `T` fetched lazily, one chunk per trip through the bridge, each row mapped
/// through the session's identity map. Borrows the session until dropped.
pub struct AsyncScalarStream<'a, T: Model> {
    cursor: CursorResult<'a>,
    session: &'a mut Session,
    chunk: usize,
    /// The rows' values while a partition is mapped (kept from fill to fill).
    values: Vec<calcine_sql::Value>,
    buffer: VecDeque<Obj<T>>,
    done: bool,
}

impl<'a, T: Model> AsyncScalarStream<'a, T> {
    pub(crate) fn new(cursor: CursorResult<'a>, session: &'a mut Session) -> Self {
        AsyncScalarStream {
            cursor,
            session,
            chunk: 100,
            values: Vec::new(),
            buffer: VecDeque::new(),
            done: false,
        }
    }

    /// Fetch `n` rows per trip through the bridge (SQLAlchemy's `yield_per`).
    pub fn yield_per(mut self, n: usize) -> Self {
        self.chunk = n.max(1);
        self.cursor = self.cursor.yield_per(self.chunk);
        self
    }

    async fn fill(&mut self, want: usize) -> Result<()> {
        if self.done {
            return Ok(());
        }
        let (cursor, session, values) = (&mut self.cursor, &*self.session, &mut self.values);
        let objs =
            greenlet_spawn(move || session.load_partition::<T>(cursor, want, values)).await?;
        // Fewer than asked for only at the end.
        self.done = objs.len() < want;
        self.buffer.extend(objs);
        Ok(())
    }

    /// The next object, or `None` at the end.
    ///
    /// # Errors
    /// The database's error, or a row that does not fit `T`.
    pub async fn next(&mut self) -> Result<Option<Obj<T>>> {
        if self.buffer.is_empty() {
            self.fill(self.chunk).await?;
        }
        Ok(self.buffer.pop_front())
    }

    /// The next `n` objects (fewer at the end, empty when exhausted): SQLAlchemy's
    /// `partitions(n)`, one chunk at a time.
    ///
    /// # Errors
    /// As [`next`](Self::next).
    pub async fn next_partition(&mut self, n: usize) -> Result<Vec<Obj<T>>> {
        let n = n.max(1);
        if self.buffer.len() < n {
            let missing = n - self.buffer.len();
            self.fill(missing).await?;
        }
        let take = n.min(self.buffer.len());
        Ok(self.buffer.drain(..take).collect())
    }

    /// Every remaining object.
    ///
    /// # Errors
    /// As [`next`](Self::next).
    pub async fn all(mut self) -> Result<Vec<Obj<T>>> {
        let mut out = Vec::new();
        while let Some(o) = self.next().await? {
            out.push(o);
        }
        Ok(out)
    }

    /// Exactly one object: none is `NoResultFound`, more is `MultipleResultsFound`.
    ///
    /// # Errors
    /// As described, or as [`next`](Self::next).
    pub async fn one(mut self) -> Result<Obj<T>> {
        let Some(first) = self.next().await? else {
            return Err(Error::no_result_found(
                "No row was found when one was required",
            ));
        };
        if self.next().await?.is_some() {
            return Err(Error::multiple_results_found(
                "Multiple rows were found when exactly one was required",
            ));
        }
        Ok(first)
    }

    /// The first object, if any (the rest are not fetched).
    ///
    /// # Errors
    /// As [`next`](Self::next).
    pub async fn first(mut self) -> Result<Option<Obj<T>>> {
        self.next().await
    }

    /// As a `futures` [`Stream`].
    pub fn into_stream(self) -> impl Stream<Item = Result<Obj<T>>> + 'a {
        futures_util::stream::unfold(self, |mut s| async move {
            match s.next().await {
                Ok(Some(o)) => Some((Ok(o), s)),
                Ok(None) => None,
                Err(e) => {
                    s.done = true;
                    s.buffer.clear();
                    Some((Err(e), s))
                }
            }
        })
    }

    /// Chunks of `n` objects as a `futures` [`Stream`] (SQLAlchemy's `partitions(n)`).
    pub fn partitions(self, n: usize) -> impl Stream<Item = Result<Vec<Obj<T>>>> + 'a {
        futures_util::stream::unfold((self, false), move |(mut s, failed)| async move {
            if failed {
                return None;
            }
            match s.next_partition(n).await {
                Ok(p) if p.is_empty() => None,
                Ok(p) => Some((Ok(p), (s, false))),
                Err(e) => Some((Err(e), (s, true))),
            }
        })
    }
}
