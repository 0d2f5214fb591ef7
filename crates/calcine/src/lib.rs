//! calcine: SQLAlchemy's Core, ORM and asyncio bridge for Rust, on one synchronous core.
//!
//! * [`sql`]: schema metadata, expressions, `select`/`insert`/`update`/`delete`, the compiler.
//! * [`engine`]: `create_engine`, `Engine`, `Connection`, transactions, the pool, results.
//! * [`orm`]: `#[derive(Model)]`, `Session` (identity map, unit of work), `Obj` handles.
//! * [`asyncio`]: `create_async_engine`, `AsyncConnection`, `AsyncSession::run_sync`.
//! * [`greenlet`]: the bridge that runs synchronous code inline on async tasks:
//!   [`greenlet_spawn`] runs a closure on a coroutine stack, and [`await_`] inside it suspends
//!   the coroutine while the task awaits a future.
//!
//! ```
//! use calcine::{Column, MetaData, SqlType, Table, create_engine, insert, select};
//!
//! let mut metadata = MetaData::new();
//! let users = metadata.add(
//!     Table::new("users")
//!         .column(Column::new("id", SqlType::Integer).primary_key())
//!         .column(Column::new("name", SqlType::Text).not_null()),
//! )?;
//! let engine = create_engine("sqlite://")?;
//! let mut conn = engine.connect()?;
//! for ddl in metadata.create_all_statements(engine.dialect(), true)? {
//!     conn.execute(&ddl)?;
//! }
//! conn.execute(&insert(&users).values([("name", "ada")])?)?;
//! let name: String = conn.scalar(&select(users.c("name")?).where_(users.c("id")?.eq(1)))?;
//! assert_eq!(name, "ada");
//! # Ok::<(), calcine::Error>(())
//! ```
//!
//! ```
//! use calcine::{await_, greenlet_spawn};
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let n = greenlet_spawn(|| await_(async { 41 }).map(|v| v + 1)).await;
//! assert_eq!(n, Ok(42));
//! # });
//! ```

pub use calcine_asyncio as asyncio;
pub use calcine_engine as engine;
pub use calcine_greenlet as greenlet;
pub use calcine_orm as orm;
pub use calcine_sql as sql;

pub use calcine_engine::{
    Connection, CursorResult, Engine, EngineBuilder, Error, ErrorKind, FromRow, Result, Row,
    Transaction, create_engine,
};
pub use calcine_greenlet::{await_, greenlet_spawn, in_greenlet, spawn_send};
pub use calcine_orm::{Model, Obj, Session, SessionMaker};
pub use calcine_sql::{
    Column, Dialect, Executable, Expr, ForeignKey, Index, IntoCompiled, MetaData,
    ReferentialAction, SqlType, Table, Value, and_, asc, delete, desc, func, insert, not_, or_,
    select, text, update,
};

/// The README's examples, compiled and run as doctests.
#[doc = include_str!("../../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
