//! [`Error`]: the one error type of the engine (SQLAlchemy's `sqlalchemy.exc` hierarchy, flattened
//! into an opaque error with a [`ErrorKind`]).
//!
//! A database error carries the statement and parameters it came from (SQLAlchemy's
//! `StatementError.statement` / `.params`) and the driver's detail: the SQLSTATE (PostgreSQL, or a
//! synthesized code name for SQLite) and the constraint name when the server reports one.
//! `Display` prints them like SQLAlchemy does (`[SQL: ...]`, `[parameters: ...]`), with long
//! parameters shortened so a 1 MB string never lands in a log line.

use std::fmt;
use std::sync::Arc;

use calcine_sql::{Value, ValueError};

/// `Result` with calcine's [`Error`] as the default error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong, by class. PEP-249 classes for database errors, plus calcine's own.
///
/// New kinds may be added; match with a wildcard arm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// PEP-249 `IntegrityError`: a constraint was violated (SQLSTATE class 23, SQLite
    /// `SQLITE_CONSTRAINT`).
    Integrity,
    /// PEP-249 `OperationalError`: the database could not do the work (connection lost, locked,
    /// disk full, serialization failure, ...). Not necessarily the caller's fault.
    Operational,
    /// PEP-249 `ProgrammingError`: the SQL is wrong (syntax error, unknown table or column, wrong
    /// number of parameters).
    Programming,
    /// PEP-249 `DataError`: a value does not fit (numeric overflow, invalid text for a type,
    /// string too long).
    Data,
    /// PEP-249 `InterfaceError`: the driver itself failed, not the database.
    Interface,
    /// PEP-249 `NotSupportedError`: the database does not support the operation.
    NotSupported,
    /// PEP-249 `InternalError`: the database reported an internal problem.
    Internal,
    /// SQLAlchemy's pool `TimeoutError`: no connection became free within `pool_timeout`.
    Timeout,
    /// SQLAlchemy's `ResourceClosedError`: the connection, transaction or result is closed.
    ResourceClosed,
    /// SQLAlchemy's `InvalidRequestError` / `ArgumentError`: the call is not valid in this state
    /// or with these arguments (malformed URL, unknown dialect, transaction already begun, ...).
    InvalidRequest,
    /// A column value could not be converted to the Rust type asked for; names the column.
    Decode,
    /// SQLAlchemy's `MissingGreenlet`: IO was attempted from async code outside `greenlet_spawn`.
    MissingGreenlet,
    /// SQLAlchemy's `AwaitRequired`: an async engine's driver did no IO through the bridge.
    AwaitRequired,
    /// Any other failure reported by the greenlet bridge.
    Bridge,
    /// SQLAlchemy's `NoResultFound`: exactly one row was required and there were none.
    NoResultFound,
    /// SQLAlchemy's `MultipleResultsFound`: at most one row was required and there were more.
    MultipleResultsFound,
    /// SQLAlchemy's `StaleDataError` (ORM): an UPDATE/DELETE matched an unexpected number of rows.
    StaleData,
    /// SQLAlchemy's `PendingRollbackError` (ORM): a flush failed; `rollback()` is required first.
    PendingRollback,
    /// SQLAlchemy's `ObjectDeletedError` (ORM): the row behind an instance is gone.
    ObjectDeleted,
    /// SQLAlchemy's `DetachedInstanceError` (ORM): the instance has no session to load through.
    DetachedInstance,
}

impl ErrorKind {
    /// The name printed in `Display` (SQLAlchemy prints the exception class, e.g.
    /// `(sqlite3.IntegrityError)`).
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::Integrity => "IntegrityError",
            ErrorKind::Operational => "OperationalError",
            ErrorKind::Programming => "ProgrammingError",
            ErrorKind::Data => "DataError",
            ErrorKind::Interface => "InterfaceError",
            ErrorKind::NotSupported => "NotSupportedError",
            ErrorKind::Internal => "InternalError",
            ErrorKind::Timeout => "TimeoutError",
            ErrorKind::ResourceClosed => "ResourceClosedError",
            ErrorKind::InvalidRequest => "InvalidRequestError",
            ErrorKind::Decode => "DecodeError",
            ErrorKind::MissingGreenlet => "MissingGreenlet",
            ErrorKind::AwaitRequired => "AwaitRequired",
            ErrorKind::Bridge => "BridgeError",
            ErrorKind::NoResultFound => "NoResultFound",
            ErrorKind::MultipleResultsFound => "MultipleResultsFound",
            ErrorKind::StaleData => "StaleDataError",
            ErrorKind::PendingRollback => "PendingRollbackError",
            ErrorKind::ObjectDeleted => "ObjectDeletedError",
            ErrorKind::DetachedInstance => "DetachedInstanceError",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// calcine's error (SQLAlchemy's `sqlalchemy.exc.*`): a [`kind`](Error::kind), a message that says
/// what happened and what to do, and where it applies the statement, parameters, SQLSTATE,
/// constraint name and column.
pub struct Error {
    inner: Box<Inner>,
}

struct Inner {
    kind: ErrorKind,
    message: String,
    statement: Option<Arc<str>>,
    params: Option<Vec<Value>>,
    sqlstate: Option<String>,
    constraint: Option<String>,
    column: Option<String>,
    disconnect: bool,
    source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

macro_rules! constructors {
    ($($(#[$doc:meta])* $fn:ident => $kind:ident;)*) => {$(
        $(#[$doc])*
        pub fn $fn(message: impl Into<String>) -> Self {
            Error::new(ErrorKind::$kind, message)
        }
    )*};
}

macro_rules! predicates {
    ($($fn:ident => $kind:ident;)*) => {$(
        #[doc = concat!("Whether this error is of kind [`ErrorKind::", stringify!($kind), "`].")]
        pub fn $fn(&self) -> bool {
            self.inner.kind == ErrorKind::$kind
        }
    )*};
}

impl Error {
    /// An error of `kind` with `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            inner: Box::new(Inner {
                kind,
                message: message.into(),
                statement: None,
                params: None,
                sqlstate: None,
                constraint: None,
                column: None,
                disconnect: false,
                source: None,
            }),
        }
    }

    constructors! {
        /// An [`ErrorKind::Integrity`] error.
        integrity => Integrity;
        /// An [`ErrorKind::Operational`] error.
        operational => Operational;
        /// An [`ErrorKind::Programming`] error.
        programming => Programming;
        /// An [`ErrorKind::Data`] error.
        data => Data;
        /// An [`ErrorKind::Interface`] error.
        interface => Interface;
        /// An [`ErrorKind::NotSupported`] error.
        not_supported => NotSupported;
        /// An [`ErrorKind::Internal`] error.
        internal => Internal;
        /// An [`ErrorKind::Timeout`] error.
        timeout => Timeout;
        /// An [`ErrorKind::ResourceClosed`] error.
        resource_closed => ResourceClosed;
        /// An [`ErrorKind::InvalidRequest`] error.
        invalid_request => InvalidRequest;
        /// An [`ErrorKind::AwaitRequired`] error.
        await_required => AwaitRequired;
        /// An [`ErrorKind::NoResultFound`] error.
        no_result_found => NoResultFound;
        /// An [`ErrorKind::MultipleResultsFound`] error.
        multiple_results_found => MultipleResultsFound;
        /// An [`ErrorKind::StaleData`] error.
        stale_data => StaleData;
        /// An [`ErrorKind::PendingRollback`] error.
        pending_rollback => PendingRollback;
        /// An [`ErrorKind::ObjectDeleted`] error.
        object_deleted => ObjectDeleted;
        /// An [`ErrorKind::DetachedInstance`] error.
        detached_instance => DetachedInstance;
    }

    /// The [`ErrorKind::MissingGreenlet`] error with SQLAlchemy's message.
    pub fn missing_greenlet() -> Self {
        Error::new(
            ErrorKind::MissingGreenlet,
            "greenlet_spawn has not been called; can't call await_() here. \
             Was IO attempted in an unexpected place?",
        )
    }

    /// An [`ErrorKind::Decode`] error: the value of `column` could not become the type asked for.
    pub fn decode(column: impl Into<String>, err: ValueError) -> Self {
        let column = column.into();
        let mut e = Error::new(
            ErrorKind::Decode,
            format!(
                "column {column:?}: {err}; read it as a matching Rust type (or Option<T> for NULL)"
            ),
        );
        e.inner.column = Some(column);
        e.inner.source = Some(Box::new(err));
        e
    }

    /// The class of this error.
    pub fn kind(&self) -> ErrorKind {
        self.inner.kind
    }

    /// The message, without statement and parameters.
    pub fn message(&self) -> &str {
        &self.inner.message
    }

    /// The SQL statement that failed, if the error came from one.
    pub fn statement(&self) -> Option<&str> {
        self.inner.statement.as_deref()
    }

    /// The parameters bound to [`statement`](Error::statement), unredacted.
    pub fn params(&self) -> Option<&[Value]> {
        self.inner.params.as_deref()
    }

    /// The SQLSTATE the database reported (PostgreSQL: five characters, e.g. `"23505"`; SQLite:
    /// the extended result code name, e.g. `"SQLITE_CONSTRAINT_UNIQUE"`).
    pub fn sqlstate(&self) -> Option<&str> {
        self.inner.sqlstate.as_deref()
    }

    /// The name of the violated constraint, when the database names it (PostgreSQL reports the
    /// constraint name; SQLite reports the columns, e.g. `"users.email"`, or a CHECK's name).
    pub fn constraint(&self) -> Option<&str> {
        self.inner.constraint.as_deref()
    }

    /// The column a [`Decode`](ErrorKind::Decode) error is about.
    pub fn column(&self) -> Option<&str> {
        self.inner.column.as_deref()
    }

    /// Whether the driver classified this error as a lost connection (SQLAlchemy's
    /// `is_disconnect`): the connection it came from is invalidated, not returned to the pool.
    pub fn is_disconnect(&self) -> bool {
        self.inner.disconnect
    }

    predicates! {
        is_integrity => Integrity;
        is_operational => Operational;
        is_programming => Programming;
        is_data => Data;
        is_interface => Interface;
        is_not_supported => NotSupported;
        is_internal => Internal;
        is_timeout => Timeout;
        is_resource_closed => ResourceClosed;
        is_invalid_request => InvalidRequest;
        is_decode => Decode;
        is_missing_greenlet => MissingGreenlet;
        is_await_required => AwaitRequired;
        is_bridge => Bridge;
        is_no_result_found => NoResultFound;
        is_multiple_results_found => MultipleResultsFound;
        is_stale_data => StaleData;
        is_pending_rollback => PendingRollback;
        is_object_deleted => ObjectDeleted;
        is_detached_instance => DetachedInstance;
    }

    /// Attaches the statement and parameters the error came from.
    pub fn with_statement(mut self, sql: impl Into<Arc<str>>, params: &[Value]) -> Self {
        self.inner.statement = Some(sql.into());
        self.inner.params = Some(params.to_vec());
        self
    }

    /// Attaches the SQLSTATE (or SQLite result code name).
    pub fn with_sqlstate(mut self, sqlstate: impl Into<String>) -> Self {
        self.inner.sqlstate = Some(sqlstate.into());
        self
    }

    /// Attaches the constraint name.
    pub fn with_constraint(mut self, constraint: impl Into<String>) -> Self {
        self.inner.constraint = Some(constraint.into());
        self
    }

    /// Marks the error as a lost connection (see [`is_disconnect`](Error::is_disconnect)).
    pub fn with_disconnect(mut self, disconnect: bool) -> Self {
        self.inner.disconnect = disconnect;
        self
    }

    /// Attaches the underlying error (returned by [`std::error::Error::source`]).
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.inner.source = Some(Box::new(source));
        self
    }
}

/// The PEP-249 class for a PostgreSQL SQLSTATE, and whether it means the connection is gone
/// (psycopg's and SQLAlchemy's mapping, by SQLSTATE class).
pub fn kind_for_sqlstate(code: &str) -> (ErrorKind, bool) {
    let class = code.get(..2).unwrap_or("");
    match code {
        // admin_shutdown, crash_shutdown, cannot_connect_now: the server went away.
        "57P01" | "57P02" | "57P03" => return (ErrorKind::Operational, true),
        // query_canceled: a statement_timeout or pg_cancel_backend.
        "57014" => return (ErrorKind::Operational, false),
        _ => {}
    }
    let kind = match class {
        "08" => return (ErrorKind::Operational, true),
        "0A" => ErrorKind::NotSupported,
        "21" | "22" => ErrorKind::Data,
        "23" => ErrorKind::Integrity,
        "24" | "25" | "2B" | "2D" | "2F" | "XX" => ErrorKind::Internal,
        "26" | "34" | "3B" | "3D" | "3F" | "42" | "44" => ErrorKind::Programming,
        "27" | "28" | "40" | "53" | "54" | "55" | "57" | "58" | "F0" | "HV" | "P0" => {
            ErrorKind::Operational
        }
        _ => ErrorKind::Operational,
    };
    (kind, false)
}

/// How many characters of one parameter `Display` shows before shortening it.
const PARAM_DISPLAY_CHARS: usize = 40;
/// How many parameters `Display` shows before eliding the rest.
const PARAMS_DISPLAYED: usize = 10;

struct ParamDisplay<'a>(&'a Value);

impl fmt::Display for ParamDisplay<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shorten = |f: &mut fmt::Formatter<'_>, text: &str, quote: bool| {
            let total = text.chars().count();
            let q = if quote { "'" } else { "" };
            if total <= PARAM_DISPLAY_CHARS {
                write!(f, "{q}{}{q}", text.escape_debug())
            } else {
                let head: String = text.chars().take(PARAM_DISPLAY_CHARS / 2).collect();
                write!(
                    f,
                    "{q}{}{q} ... ({} characters truncated)",
                    head.escape_debug(),
                    total - PARAM_DISPLAY_CHARS / 2
                )
            }
        };
        match self.0 {
            Value::Null => f.write_str("None"),
            Value::Text(s) => shorten(f, s, true),
            Value::Numeric(s) => shorten(f, s, false),
            Value::Bytes(b) if b.len() > PARAM_DISPLAY_CHARS => {
                write!(f, "<{} bytes>", b.len())
            }
            Value::Json(j) => shorten(f, &j.to_string(), false),
            other => shorten(f, &format!("{other:?}"), false),
        }
    }
}

/// Parameters as `Display` shows them: long values shortened, long lists elided.
pub(crate) struct ParamsDisplay<'a>(pub(crate) &'a [Value]);

impl fmt::Display for ParamsDisplay<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("(")?;
        for (n, p) in self.0.iter().take(PARAMS_DISPLAYED).enumerate() {
            if n > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{}", ParamDisplay(p))?;
        }
        if self.0.len() > PARAMS_DISPLAYED {
            write!(f, ", ... {} more", self.0.len() - PARAMS_DISPLAYED)?;
        }
        f.write_str(")")
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = &self.inner;
        write!(f, "({}) {}", i.kind, i.message)?;
        if let Some(sql) = &i.statement {
            write!(f, "\n[SQL: {sql}]")?;
        }
        if let Some(params) = &i.params {
            write!(f, "\n[parameters: {}]", ParamsDisplay(params))?;
        }
        Ok(())
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = &self.inner;
        let mut d = f.debug_struct("Error");
        d.field("kind", &i.kind).field("message", &i.message);
        if let Some(s) = &i.statement {
            d.field("statement", s);
        }
        if let Some(s) = &i.sqlstate {
            d.field("sqlstate", s);
        }
        if let Some(s) = &i.constraint {
            d.field("constraint", s);
        }
        if let Some(s) = &i.column {
            d.field("column", s);
        }
        if i.disconnect {
            d.field("disconnect", &true);
        }
        d.finish_non_exhaustive()
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.inner
            .source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

impl From<calcine_greenlet::Error> for Error {
    fn from(e: calcine_greenlet::Error) -> Error {
        use calcine_greenlet::ErrorKind as K;
        match e.kind() {
            K::MissingGreenlet => Error::missing_greenlet(),
            K::AwaitRequired => Error::await_required(e.message().to_owned()),
            _ => Error::new(ErrorKind::Bridge, e.message().to_owned()).with_source(e),
        }
    }
}

/// A statement that could not be built (unknown column, ambiguous join, ...) is SQLAlchemy's
/// `ArgumentError`/`InvalidRequestError`: [`ErrorKind::InvalidRequest`], with the SQL layer's
/// error as the source.
impl From<calcine_sql::SqlError> for Error {
    fn from(e: calcine_sql::SqlError) -> Error {
        Error::new(ErrorKind::InvalidRequest, e.to_string()).with_source(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlstate_classes_map_to_pep249_kinds() {
        assert_eq!(kind_for_sqlstate("23505"), (ErrorKind::Integrity, false));
        assert_eq!(kind_for_sqlstate("08006"), (ErrorKind::Operational, true));
        assert_eq!(kind_for_sqlstate("57P01"), (ErrorKind::Operational, true));
        assert_eq!(kind_for_sqlstate("42P01"), (ErrorKind::Programming, false));
        assert_eq!(kind_for_sqlstate("22003"), (ErrorKind::Data, false));
        assert_eq!(kind_for_sqlstate("40001"), (ErrorKind::Operational, false));
        assert_eq!(kind_for_sqlstate("0A000"), (ErrorKind::NotSupported, false));
        assert_eq!(kind_for_sqlstate("XX000"), (ErrorKind::Internal, false));
    }

    #[test]
    fn display_redacts_long_params_and_keeps_short_ones() {
        let big = "x".repeat(1_000_000);
        let e = Error::integrity("UNIQUE constraint failed: t.name").with_statement(
            "INSERT INTO t VALUES (?, ?)",
            &[Value::Text(big), Value::Int(7)],
        );
        let shown = e.to_string();
        assert!(shown.len() < 300, "{} chars", shown.len());
        assert!(
            shown.contains("[SQL: INSERT INTO t VALUES (?, ?)]"),
            "{shown}"
        );
        assert!(shown.contains("characters truncated"), "{shown}");
        assert!(shown.contains(", Int(7))]"), "{shown}");
        // The unredacted parameter is still available.
        assert!(matches!(&e.params().unwrap()[0], Value::Text(s) if s.len() == 1_000_000));
    }

    #[test]
    fn decode_error_names_the_column() {
        let err = calcine_sql::FromValue::from_value(Value::Int(i64::MAX))
            .map(|_: i32| ())
            .unwrap_err();
        let e = Error::decode("age", err);
        assert!(e.is_decode());
        assert_eq!(e.column(), Some("age"));
        assert!(e.to_string().contains("\"age\""), "{e}");
        assert!(std::error::Error::source(&e).is_some());
    }
}
