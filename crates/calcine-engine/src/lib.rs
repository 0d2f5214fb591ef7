//! calcine's engine layer (SQLAlchemy's `sqlalchemy.engine`): [`create_engine`], [`Engine`],
//! [`Connection`], [`Transaction`], the connection pool, [`CursorResult`]/[`Row`], the [`Error`]
//! model, and the synchronous driver seam with its two drivers (SQLite on rusqlite, PostgreSQL
//! on tokio-postgres through `calcine_greenlet::await_`).
//!
//! ```
//! use calcine_engine::create_engine;
//!
//! let engine = create_engine("sqlite://")?;
//! engine.begin(|conn| {
//!     conn.exec_driver_sql("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL)", &[])?;
//!     conn.exec_driver_sql("INSERT INTO users (name) VALUES (?), (?)", &["ann".into(), "bob".into()])?;
//!     Ok::<_, calcine_engine::Error>(())
//! })?;
//!
//! let mut conn = engine.connect()?;
//! let rows = conn.exec_driver_sql("SELECT id, name FROM users ORDER BY id", &[])?.all()?;
//! assert_eq!(rows[1].get::<String>("name")?, "bob");
//! let err = conn.exec_driver_sql("SELECT id FROM users WHERE id = 3", &[])?.one().unwrap_err();
//! assert!(err.is_no_result_found());
//! # Ok::<(), calcine_engine::Error>(())
//! ```

mod connection;
mod driver;
mod engine;
mod error;
mod event;
mod pool;
mod result;
mod row;
mod transaction;
mod url;

pub use connection::Connection;
pub use driver::{
    BufferedRows, Driver, DriverConnection, DriverCursor, DriverRow, FillParams, ParamSink,
    ValuesRow,
};
pub use engine::{Engine, EngineBuilder, create_engine};
pub use error::{Error, ErrorKind, Result, kind_for_sqlstate};
pub use event::{ExecuteEvent, ExecutePhase};
pub use pool::PoolStatus;
pub use result::{CursorResult, MappingResult, Partitions, ScalarResult, TupleResult};
pub use row::{FromRow, Row, RowIndex, RowMapping, RowRef};
pub use transaction::{DetachedTransaction, Transaction};
pub use url::{Backend, Url};
