//! calcine's SQL expression language (SQLAlchemy Core's `sql` package): schema metadata,
//! statement builders, the compiler and its dialects. This crate does no IO.
//!
//! ```
//! use calcine_sql::{Column, Dialect, Executable, MetaData, SqlType, StatementCache, Table, Value};
//! use calcine_sql::{func, insert, select};
//!
//! # fn main() -> Result<(), calcine_sql::SqlError> {
//! let mut metadata = MetaData::new();
//! let users = metadata.add(
//!     Table::new("users")
//!         .column(Column::new("id", SqlType::Integer).primary_key())
//!         .column(Column::new("name", SqlType::Varchar(50)).not_null()),
//! )?;
//! let cache = StatementCache::default();
//!
//! let ddl = metadata.create_all_statements(Dialect::Sqlite, true)?;
//! assert_eq!(
//!     &*ddl[0].compile(Dialect::Sqlite, &cache).sql,
//!     "CREATE TABLE IF NOT EXISTS users (id INTEGER NOT NULL, name VARCHAR(50) NOT NULL, PRIMARY KEY (id))"
//! );
//!
//! let stmt = insert(&users).values([("name", "ada")])?.returning(users.c("id")?);
//! let compiled = stmt.compile(Dialect::Postgresql, &cache);
//! assert_eq!(&*compiled.sql, "INSERT INTO users (name) VALUES ($1) RETURNING id");
//! assert_eq!(compiled.params, vec![Value::from("ada")]);
//!
//! let q = select((users.c("name")?, func::count_star()))
//!     .where_(users.c("name")?.like("a%"))
//!     .group_by([users.c("name")?]);
//! let compiled = q.compile(Dialect::Sqlite, &cache);
//! assert_eq!(
//!     &*compiled.sql,
//!     "SELECT users.name, count(*) AS count_1 FROM users WHERE users.name LIKE ?1 GROUP BY users.name"
//! );
//! assert_eq!(q.result_columns().iter().map(|c| &**c).collect::<Vec<_>>(), ["name", "count_1"]);
//! # Ok(())
//! # }
//! ```
//!
//! An engine executes any statement through [`Executable::compile`], which takes the SQL text
//! from the [`StatementCache`] when a statement of the same shape was compiled before, and binds
//! [`Compiled::params`] in order; [`Executable::result_columns`] names the result columns.

mod compiled;
mod compound;
mod ddl;
mod delete;
pub mod dialect;
mod dml;
mod error;
mod expression;
#[cfg(test)]
mod fixtures;
pub mod func;
mod insert;
mod query;
mod schema;
mod select;
mod selectable;
mod sink;
mod sql_type;
mod text;
mod update;
mod value;

pub use compiled::{Compiled, Dialect, Executable, IntoCompiled, StatementCache};
pub use compound::CompoundSelect;
pub use ddl::{AddForeignKey, CreateIndex, CreateTable, Ddl, DropForeignKey, DropTable};
pub use delete::{Delete, delete};
pub use dml::ColumnName;
pub use error::{Result, SqlError, SqlErrorKind};
pub use expression::{
    Case, CaseBuilder, ColumnRef, Expr, Nulls, OrderBy, and_, asc, case, cast, desc, distinct,
    exists, false_, lit, not_, null, or_, true_,
};
pub use insert::{Insert, insert};
pub use query::Query;
pub use schema::{
    CheckConstraint, Column, ForeignKey, ForeignKeyConstraint, Index, MetaData, ReferentialAction,
    Table,
};
pub use select::{IntoSelectList, Select, select};
pub use selectable::{Alias, FromClause, Subquery};
pub use sql_type::SqlType;
pub use text::{TextClause, text};
pub use update::{Update, UpdateBuilder, update};
pub use value::{AsValueRef, FromValue, Value, ValueError, ValueRef};
