//! The bridge's error type.

use std::borrow::Cow;
use std::fmt;

/// What went wrong in the bridge. Matches SQLAlchemy's `MissingGreenlet` / `AwaitRequired`
/// exceptions, plus the misuse cases a typed language can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// [`await_`](crate::await_) was called inside an async runtime but outside any greenlet
    /// (SQLAlchemy's `MissingGreenlet`): IO was attempted in an unexpected place.
    MissingGreenlet,
    /// An async `execute`-style call required IO through the bridge and none happened
    /// (SQLAlchemy's `AwaitRequired`).
    AwaitRequired,
    /// [`await_`](crate::await_) was called from inside a future that was itself handed to
    /// `await_`: that future must `.await` instead.
    NestedAwait,
    /// [`await_`](crate::await_) was called while the greenlet was being unwound (it was
    /// cancelled, or a panic is in flight): the coroutine cannot suspend any more.
    Unwinding,
    /// The fallback runtime used by `await_` outside any async context could not be built.
    Runtime,
}

/// The bridge's error: a kind plus a message that says what happened and what to do.
#[derive(Clone, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    message: Cow<'static, str>,
}

impl Error {
    pub(crate) fn new(kind: ErrorKind, message: impl Into<Cow<'static, str>>) -> Self {
        Error {
            kind,
            message: message.into(),
        }
    }

    /// SQLAlchemy's `MissingGreenlet`, with its message.
    pub fn missing_greenlet() -> Self {
        Error::new(
            ErrorKind::MissingGreenlet,
            "greenlet_spawn has not been called; can't call await_() here. \
             Was IO attempted in an unexpected place?",
        )
    }

    /// SQLAlchemy's `AwaitRequired`, with its message.
    pub fn await_required() -> Self {
        Error::new(
            ErrorKind::AwaitRequired,
            "The current operation required an async execution but none was detected. \
             This will usually happen when using a non compatible DBAPI driver. \
             Please ensure that an async DBAPI is used.",
        )
    }

    pub(crate) fn nested_await() -> Self {
        Error::new(
            ErrorKind::NestedAwait,
            "await_() was called from inside a future that is itself being awaited by await_(); \
             use `.await` inside async code, await_() only in synchronous code",
        )
    }

    pub(crate) fn unwinding() -> Self {
        Error::new(
            ErrorKind::Unwinding,
            "await_() was called while the greenlet is unwinding (cancelled, or a panic is in \
             flight); IO cannot be awaited from a destructor during cancellation, spawn it instead",
        )
    }

    /// The kind of this error.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// Whether this is [`ErrorKind::MissingGreenlet`].
    pub fn is_missing_greenlet(&self) -> bool {
        self.kind == ErrorKind::MissingGreenlet
    }

    /// Whether this is [`ErrorKind::AwaitRequired`].
    pub fn is_await_required(&self) -> bool {
        self.kind == ErrorKind::AwaitRequired
    }

    /// The human-readable message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Error({:?}: {})", self.kind, self.message)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}
