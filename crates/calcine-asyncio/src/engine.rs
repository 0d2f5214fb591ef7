//! [`AsyncEngine`], [`AsyncEngineBuilder`] and [`create_async_engine`] (SQLAlchemy's
//! `ext.asyncio.AsyncEngine` and `create_async_engine`).

use std::fmt;
use std::time::Duration;

use calcine_engine::{Engine, EngineBuilder, Error, Result, Url};

use crate::bridge;
use crate::connection::AsyncConnection;

/// Drivers whose names SQLAlchemy users know as synchronous DBAPIs. `create_async_engine`
/// refuses them by name (SQLAlchemy: "The asyncio extension requires an async driver").
const SYNC_ONLY_DRIVERS: &[&str] = &["pysqlite", "psycopg2", "psycopg2cffi", "pg8000", "pygresql"];

/// Creates an [`AsyncEngine`] for `url` with default options (SQLAlchemy's
/// `create_async_engine(url)`). Accepted: `sqlite://`, `sqlite:///path`, `sqlite+rusqlite://…`,
/// `postgresql://…`, `postgresql+tokio_postgres://…`.
///
/// # Errors
/// [`InvalidRequest`](calcine_engine::ErrorKind::InvalidRequest) naming the driver for a driver
/// that cannot be bridged (`sqlite+pysqlite://`, `postgresql+psycopg2://`, …), and the errors of
/// [`calcine_engine::create_engine`].
///
/// # Example
/// ```
/// let err = calcine_asyncio::create_async_engine("postgresql+psycopg2://u@localhost/db").unwrap_err();
/// assert!(err.message().contains("psycopg2"));
/// ```
pub fn create_async_engine(url: &str) -> Result<AsyncEngine> {
    AsyncEngine::builder(url).build()
}

/// Rejects a URL whose driver is a synchronous DBAPI by name, before parsing it further.
fn check_driver_name(url: &str) -> Result<()> {
    let scheme = url.split_once("://").map_or(url, |(s, _)| s);
    if let Some((_, driver)) = scheme.split_once('+') {
        if SYNC_ONLY_DRIVERS.contains(&driver.to_ascii_lowercase().as_str()) {
            return Err(Error::invalid_request(format!(
                "The asyncio extension requires an async driver to be used. The loaded {driver:?} \
                 is not async; use `sqlite://` (rusqlite) or `postgresql://` (tokio_postgres)"
            )));
        }
    }
    Ok(())
}

/// An async facade over an [`Engine`] (SQLAlchemy's `AsyncEngine`): the same pool, dialect,
/// statement cache and event listeners, reached from async code through the greenlet bridge.
///
/// Cheap to clone, `Send + Sync`: created on one runtime or thread, usable from any other (the
/// engine is not tied to an event loop). [`connect`](Self::connect) gives an inline
/// [`AsyncConnection`]; [`connect_send`](Self::connect_send) a
/// [`SendAsyncConnection`](crate::SendAsyncConnection) for `tokio::spawn`.
#[derive(Clone)]
pub struct AsyncEngine {
    engine: Engine,
    require_await: bool,
}

impl AsyncEngine {
    /// A builder for `url`, to set pool options before building (as [`Engine::builder`]).
    pub fn builder(url: &str) -> AsyncEngineBuilder {
        AsyncEngineBuilder {
            checked: check_driver_name(url),
            inner: Engine::builder(url),
        }
    }

    /// Wraps an existing engine (SQLAlchemy's `AsyncEngine(sync_engine)`); the two share
    /// everything.
    ///
    /// # Errors
    /// None today: both calcine drivers can be bridged (kept fallible for drivers that cannot).
    pub fn from_engine(engine: Engine) -> Result<AsyncEngine> {
        check_driver_name(&engine.url().to_string())?;
        // A bridged driver's IO goes through `await_`: the execute family must see it
        // (`require_await`). SQLite's rusqlite calls are short blocking calls made without
        // `await_`, so it must not be required there.
        let require_await = engine.is_bridged();
        Ok(AsyncEngine {
            engine,
            require_await,
        })
    }

    /// The wrapped synchronous engine (SQLAlchemy's `AsyncEngine.sync_engine`).
    pub fn sync_engine(&self) -> &Engine {
        &self.engine
    }

    /// The engine's URL.
    pub fn url(&self) -> &Url {
        self.engine.url()
    }

    /// Whether the async `execute` family of this engine requires the driver to have done IO
    /// through the bridge (true for PostgreSQL, false for SQLite).
    pub fn requires_await(&self) -> bool {
        self.require_await
    }

    /// Forces the `require_await` rule on or off (unit tests only: shows `AwaitRequired` on a
    /// driver that does no bridged IO).
    #[cfg(test)]
    pub(crate) fn with_require_await(mut self, on: bool) -> Self {
        self.require_await = on;
        self
    }

    /// Checks a connection out of the pool, through the bridge (SQLAlchemy's
    /// `async with engine.connect() as conn`). Dropping the [`AsyncConnection`] returns it.
    ///
    /// # Errors
    /// As [`Engine::connect`].
    pub async fn connect(&self) -> Result<AsyncConnection> {
        let engine = &self.engine;
        let conn = bridge::run(false, || engine.connect()).await?;
        Ok(AsyncConnection::new(self.clone(), conn))
    }

    /// Checks a connection out of the pool for use from `Send` futures (`tokio::spawn` on a
    /// multi-thread runtime): a [`SendAsyncConnection`](crate::SendAsyncConnection).
    ///
    /// # Errors
    /// As [`Engine::connect`].
    pub async fn connect_send(&self) -> Result<crate::SendAsyncConnection> {
        crate::SendAsyncConnection::connect(self).await
    }

    /// Checks out a connection and begins a transaction on it (SQLAlchemy's
    /// `async with engine.begin() as conn`). Rust has no async `with`, so this returns the
    /// [`AsyncConnection`] already in its transaction: [`commit`](AsyncConnection::commit) it
    /// on success; on error just drop it (or `?` out of the function) and the transaction rolls
    /// back, as SQLAlchemy's block does when it raises.
    ///
    /// # Errors
    /// As [`Engine::connect`], and the database's error for `BEGIN`.
    ///
    /// # Example
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let engine = calcine_asyncio::create_async_engine("sqlite://")?;
    /// let mut conn = engine.begin().await?;
    /// conn.exec_driver_sql("CREATE TABLE t (x INTEGER)", &[]).await?;
    /// conn.commit().await?;
    /// # Ok::<(), calcine_engine::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn begin(&self) -> Result<AsyncConnection> {
        let mut conn = self.connect().await?;
        conn.begin_engine_transaction().await?;
        Ok(conn)
    }

    /// Closes the pool's idle connections and replaces the pool (SQLAlchemy's
    /// `await engine.dispose()`); closing a PostgreSQL connection runs in the bridge.
    pub async fn dispose(&self) {
        let engine = &self.engine;
        let _ = bridge::run(false, || {
            engine.dispose();
            Ok(())
        })
        .await;
    }
}

impl fmt::Debug for AsyncEngine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncEngine")
            .field("engine", &self.engine)
            .field("require_await", &self.require_await)
            .finish()
    }
}

/// Options for an [`AsyncEngine`] (SQLAlchemy's `create_async_engine(url, **kw)`): the pool
/// options of [`EngineBuilder`], and a custom PostgreSQL connect function
/// ([`async_creator`](AsyncEngineBuilder::async_creator)).
#[derive(Debug)]
pub struct AsyncEngineBuilder {
    checked: Result<()>,
    inner: EngineBuilder,
}

impl AsyncEngineBuilder {
    /// Logs statements through `tracing` (SQLAlchemy's `echo=True`).
    pub fn echo(mut self, echo: bool) -> Self {
        self.inner = self.inner.echo(echo);
        self
    }

    /// Connections kept in the pool (`pool_size`).
    pub fn pool_size(mut self, n: usize) -> Self {
        self.inner = self.inner.pool_size(n);
        self
    }

    /// Connections allowed beyond `pool_size` (`max_overflow`).
    pub fn max_overflow(mut self, n: usize) -> Self {
        self.inner = self.inner.max_overflow(n);
        self
    }

    /// How long a checkout waits for a free connection (`pool_timeout`).
    pub fn pool_timeout(mut self, timeout: Duration) -> Self {
        self.inner = self.inner.pool_timeout(timeout);
        self
    }

    /// Tests connections on checkout (`pool_pre_ping`).
    pub fn pool_pre_ping(mut self, on: bool) -> Self {
        self.inner = self.inner.pool_pre_ping(on);
        self
    }

    /// Replaces connections older than `age` (`pool_recycle`).
    pub fn pool_recycle(mut self, age: Duration) -> Self {
        self.inner = self.inner.pool_recycle(age);
        self
    }

    /// Connects PostgreSQL through a user-supplied async function (SQLAlchemy's
    /// `create_async_engine(url, async_creator=...)`): called once per new pool connection,
    /// with no arguments. See [`EngineBuilder::async_creator`].
    pub fn async_creator<F, Fut, S, T>(mut self, creator: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<
                Output = std::result::Result<
                    (tokio_postgres::Client, tokio_postgres::Connection<S, T>),
                    tokio_postgres::Error,
                >,
            > + Send
            + 'static,
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
        T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        self.inner = self.inner.async_creator(creator);
        self
    }

    /// Builds the engine. No connection is opened yet.
    ///
    /// # Errors
    /// As [`create_async_engine`].
    pub fn build(self) -> Result<AsyncEngine> {
        self.checked?;
        AsyncEngine::from_engine(self.inner.build()?)
    }
}

const _: () = {
    const fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<AsyncEngine>();
};

#[cfg(test)]
mod tests {
    use super::*;

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        match tokio::runtime::Builder::new_current_thread().build() {
            Ok(rt) => rt.block_on(f),
            Err(e) => panic!("runtime: {e}"),
        }
    }

    /// A11: the execute family on a driver that does no bridged IO, with the engine treated as
    /// async (the private switch), reports AwaitRequired; run_sync on the same connection works.
    #[test]
    fn a11_await_required_when_no_io_went_through_the_bridge() {
        block_on(async {
            let engine = match create_async_engine("sqlite://") {
                Ok(e) => e.with_require_await(true),
                Err(e) => panic!("{e}"),
            };
            let mut conn = match engine.connect().await {
                Ok(c) => c,
                Err(e) => panic!("{e}"),
            };
            let err = conn.exec_driver_sql("SELECT 1", &[]).await.err();
            assert!(
                err.as_ref()
                    .is_some_and(|e| e.kind() == calcine_engine::ErrorKind::AwaitRequired),
                "{err:?}"
            );
            let err = conn
                .scalar::<i64, _>(&calcine_sql::text("SELECT 1"))
                .await
                .err();
            assert!(err.is_some_and(|e| e.kind() == calcine_engine::ErrorKind::AwaitRequired));
            // A statement error wins over AwaitRequired.
            let err = conn.exec_driver_sql("SELEC nonsense", &[]).await.err();
            assert!(err.is_some_and(|e| e.kind() != calcine_engine::ErrorKind::AwaitRequired));
            let n = conn
                .run_sync(|c| c.exec_driver_sql("SELECT 2", &[])?.scalar::<i64>())
                .await;
            assert_eq!(n.ok(), Some(2));
            // Without the switch (SQLite's real setting) the same call succeeds.
            assert!(!create_async_engine("sqlite://").is_ok_and(|e| e.requires_await()));
        });
    }
}
