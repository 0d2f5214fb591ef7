//! calcine's SQL expression language (SQLAlchemy Core's `sql` package): schema metadata,
//! statement builders, the compiler and its dialects. This crate does no IO.

mod compiled;
mod value;

pub use compiled::{Compiled, Dialect, Executable, StatementCache};
pub use value::{FromValue, Value, ValueError};
