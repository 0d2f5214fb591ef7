//! calcine's asyncio extension for Core (SQLAlchemy's `sqlalchemy.ext.asyncio`, `engine.py`
//! and `result.py`): [`create_async_engine`], [`AsyncEngine`], [`AsyncConnection`],
//! [`AsyncTransaction`], the buffered [`BufferedResult`] of `execute` and the streaming
//! [`AsyncResult`] of `stream`.
//!
//! There is no async twin of any logic: every async method is the synchronous
//! `calcine_engine` method run inside [`calcine_greenlet::greenlet_spawn`], whose `await_`
//! calls (PostgreSQL IO) suspend the caller's task. Pure in-memory accessors stay sync.
//!
//! ```
//! use calcine_asyncio::create_async_engine;
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let engine = create_async_engine("sqlite://")?;
//!
//! // `engine.begin()`: a connection in a transaction; commit it, or drop it to roll back.
//! let mut conn = engine.begin().await?;
//! conn.exec_driver_sql("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)", &[]).await?;
//! conn.exec_driver_sql("INSERT INTO users (name) VALUES (?), (?)", &["ann".into(), "bob".into()])
//!     .await?;
//! conn.commit().await?;
//!
//! // `execute` buffers the rows inside the bridge and returns them owned.
//! let rows = conn.exec_driver_sql("SELECT name FROM users ORDER BY id", &[]).await?.all();
//! assert_eq!(rows[1].get::<String>("name")?, "bob");
//!
//! // `run_sync` hands the very sync `Connection` to ordinary sync code.
//! let n: i64 = conn
//!     .run_sync(|c| c.exec_driver_sql("SELECT count(*) FROM users", &[])?.scalar())
//!     .await?;
//! assert_eq!(n, 2);
//!
//! // `stream` fetches in chunks through the bridge.
//! let mut result = conn.stream_driver_sql("SELECT id FROM users", &[]).await?.yield_per(1);
//! let mut ids = Vec::new();
//! while let Some(row) = result.next_row().await? {
//!     ids.push(row.get::<i64>(0)?);
//! }
//! assert_eq!(ids, [1, 2]);
//! # Ok::<(), calcine_engine::Error>(())
//! # }).unwrap();
//! ```
//!
//! # Two bridge modes
//! * **Inline** ([`AsyncConnection`]): the greenlet runs inside the caller's `poll`; futures
//!   are `!Send` (current-thread runtimes, `LocalSet`). Task-locals are visible in `run_sync`.
//! * **`Send`** ([`SendAsyncConnection`], from [`AsyncEngine::connect_send`]): for
//!   `tokio::spawn` on a multi-thread runtime. The sync connection moves to a home thread and
//!   back per call; closures are `Send + 'static`.
//!
//! # `require_await`
//! On PostgreSQL (a driver bridged through `await_`) the `execute` family reports
//! [`AwaitRequired`](calcine_engine::ErrorKind::AwaitRequired) when the driver did no IO
//! through the bridge, as SQLAlchemy does; SQLite's rusqlite makes short blocking calls without
//! `await_`, so it is not required there. `run_sync` never requires it.
//!
//! # Compared with SQLAlchemy
//! * Concurrent operations on one connection are a compile error (`&mut self`), not a runtime
//!   `InvalidRequestError`.
//! * Unstarted or closed async connections and ended transactions are impossible by
//!   construction (obtained started; `close`/`commit`/`rollback` consume).
//! * There is no "stream results" execution option on the sync `execute`, so SQLAlchemy's
//!   `AsyncMethodRequired` ("use stream()") cannot arise: `execute` buffers, `stream` streams.
//! * No `async_creator`: the sync engine has no creator hook yet.

mod awaitable;
mod bridge;
mod connection;
mod engine;
mod result;
mod scalar_stream;
mod send;
mod send_session;
mod session;
mod stream;
mod transaction;

pub use awaitable::AwaitableAttrs;
pub use connection::AsyncConnection;
pub use engine::{AsyncEngine, AsyncEngineBuilder, create_async_engine};
pub use result::BufferedResult;
pub use scalar_stream::AsyncScalarStream;
pub use send::SendAsyncConnection;
pub use send_session::SendAsyncSession;
pub use session::{AsyncSession, AsyncSessionMaker};
pub use stream::AsyncResult;
pub use transaction::AsyncTransaction;
