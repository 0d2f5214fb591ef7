//! [`SqlError`]: misuse of the SQL layer detected while building a statement or DDL (SQLAlchemy's
//! `ArgumentError`, `NoForeignKeysError`, `AmbiguousForeignKeysError`, `CircularDependencyError`).

use std::fmt;

/// What kind of misuse a [`SqlError`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SqlErrorKind {
    /// A column name that the table, alias or subquery does not have.
    UnknownColumn,
    /// A table name that the [`MetaData`](crate::MetaData) does not hold (e.g. a foreign key target).
    UnknownTable,
    /// A table or column defined twice, or a table added to a `MetaData` twice.
    Duplicate,
    /// A join without `ON` clause where no foreign key links the two sides.
    NoJoinCondition,
    /// A join without `ON` clause where more than one foreign key links the two sides.
    AmbiguousJoin,
    /// An empty values list (`INSERT` row, `UPDATE ... SET`, multi-row insert, upsert `SET`).
    EmptyValues,
    /// Rows of a multi-row `INSERT`, or a column list and a `SELECT`, that do not line up.
    ColumnMismatch,
    /// Foreign keys forming a cycle the dialect cannot break (SQLite has no `ALTER ADD CONSTRAINT`).
    DependencyCycle,
    /// A raw SQL text whose `?` placeholders do not match the number of values bound.
    BindCount,
    /// A statement built in an order that has no meaning (e.g. a join with nothing to join from).
    InvalidStatement,
}

/// A misuse of the SQL layer: what was wrong and how to fix it, with a [`SqlErrorKind`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqlError {
    kind: SqlErrorKind,
    message: Box<str>,
}

impl SqlError {
    /// A new error of `kind` with a message naming the object involved.
    pub fn new(kind: SqlErrorKind, message: impl Into<String>) -> Self {
        SqlError {
            kind,
            message: message.into().into_boxed_str(),
        }
    }

    /// The kind of misuse.
    pub fn kind(&self) -> SqlErrorKind {
        self.kind
    }

    /// The human-readable message (also what `Display` prints).
    pub fn message(&self) -> &str {
        &self.message
    }

    pub(crate) fn unknown_column(owner: &str, column: &str) -> Self {
        SqlError::new(
            SqlErrorKind::UnknownColumn,
            format!(
                "{owner:?} has no column named {column:?}; check the spelling or add the column"
            ),
        )
    }
}

impl fmt::Display for SqlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for SqlError {}

/// `Result` with [`SqlError`] as the default error.
pub type Result<T, E = SqlError> = std::result::Result<T, E>;
