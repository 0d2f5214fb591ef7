//! [`Engine`], [`EngineBuilder`] and [`create_engine`] (SQLAlchemy's `Engine` and
//! `create_engine`).

use std::fmt;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use calcine_sql::{Dialect, StatementCache};

use crate::connection::Connection;
use crate::driver::Driver;
use crate::driver::sqlite::{SqliteDriver, SqlitePath};
use crate::error::{Error, Result};
use crate::event::{ExecuteEvent, Listeners};
use crate::pool::{Pool, PoolConfig, PoolStatus};
use crate::url::{Backend, Url};

/// Creates an [`Engine`] for `url` with default options (SQLAlchemy's `create_engine(url)`).
///
/// # Errors
/// [`InvalidRequest`](crate::ErrorKind::InvalidRequest) for a malformed URL, an unknown dialect
/// or driver, or an unknown URL option. No connection is opened yet.
///
/// # Example
/// ```
/// let engine = calcine_engine::create_engine("sqlite://")?;
/// let n: i64 = engine.connect()?.exec_driver_sql("SELECT 40 + 2", &[])?.scalar()?;
/// assert_eq!(n, 42);
/// # Ok::<(), calcine_engine::Error>(())
/// ```
pub fn create_engine<U>(url: U) -> Result<Engine>
where
    U: TryInto<Url, Error = Error>,
{
    Engine::builder(url).build()
}

/// The home of a database's connection pool and dialect (SQLAlchemy's `Engine`).
///
/// Cheap to clone (an `Arc` inside); `Send + Sync`, so one engine serves every thread.
/// [`connect`](Engine::connect) checks a [`Connection`] out of the pool;
/// [`begin`](Engine::begin) runs a closure in a transaction.
///
/// `sqlite://` (in-memory) engines share one connection among all checkouts (SQLAlchemy's
/// `StaticPool`), serialized: a second concurrent [`connect`](Engine::connect) waits until the
/// first `Connection` is dropped, up to `pool_timeout`.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<EngineInner>,
    /// New connections start in autocommit mode ([`EngineBuilder::autocommit`],
    /// [`Engine::with_autocommit`]): a setting of this handle, not of the shared pool.
    autocommit: bool,
}

pub(crate) struct EngineInner {
    url: Url,
    driver: Arc<dyn Driver>,
    pool_config: PoolConfig,
    pool: RwLock<Arc<Pool>>,
    cache: StatementCache,
    pub(crate) echo: bool,
    pub(crate) listeners: Listeners,
}

impl Engine {
    /// An [`EngineBuilder`] for `url`, to set options before building.
    ///
    /// # Example
    /// ```
    /// use std::time::Duration;
    /// let engine = calcine_engine::Engine::builder("sqlite:///:memory:")
    ///     .echo(true)
    ///     .pool_timeout(Duration::from_secs(1))
    ///     .build()?;
    /// assert_eq!(engine.pool_status().checked_out, 0);
    /// # Ok::<(), calcine_engine::Error>(())
    /// ```
    pub fn builder<U>(url: U) -> EngineBuilder
    where
        U: TryInto<Url, Error = Error>,
    {
        EngineBuilder {
            url: url.try_into(),
            echo: false,
            pool_size: 5,
            max_overflow: Some(10),
            pool_timeout: Duration::from_secs(30),
            pool_pre_ping: false,
            pool_recycle: None,
            query_cache_size: 500,
            autocommit: false,
            pg_creator: None,
        }
    }

    /// Checks a connection out of the pool (SQLAlchemy's `engine.connect()`).
    ///
    /// # Errors
    /// [`Timeout`](crate::ErrorKind::Timeout) when the pool stays exhausted for `pool_timeout`;
    /// the driver's error when a new connection cannot be opened.
    pub fn connect(&self) -> Result<Connection> {
        let pooled = self.checkout()?;
        Ok(Connection::new(self.clone(), pooled))
    }

    /// Runs `f` in a transaction on a fresh connection: commits when `f` returns `Ok`, rolls
    /// back when it returns `Err` (or panics) (SQLAlchemy's `with engine.begin() as conn:`).
    ///
    /// # Errors
    /// `f`'s error, or the engine's error converted into `E` (checkout, `BEGIN`, `COMMIT`).
    ///
    /// # Example
    /// ```
    /// let engine = calcine_engine::create_engine("sqlite://")?;
    /// engine.begin(|conn| conn.exec_driver_sql("CREATE TABLE t (x INTEGER)", &[]).map(drop))?;
    /// let failed: Result<(), calcine_engine::Error> = engine.begin(|conn| {
    ///     conn.exec_driver_sql("INSERT INTO t VALUES (1)", &[])?;
    ///     Err(calcine_engine::Error::invalid_request("changed my mind"))
    /// });
    /// assert!(failed.is_err());
    /// let n: i64 = engine.connect()?.exec_driver_sql("SELECT count(*) FROM t", &[])?.scalar()?;
    /// assert_eq!(n, 0);
    /// # Ok::<(), calcine_engine::Error>(())
    /// ```
    pub fn begin<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut Connection) -> Result<T, E>,
        E: From<Error>,
    {
        let mut conn = self.connect()?;
        let mut tx = conn.begin()?;
        let value = f(&mut tx)?;
        tx.finish_context()?;
        Ok(value)
    }

    /// Closes the pool's idle connections and replaces the pool with a fresh one; connections
    /// checked out now are closed when returned (SQLAlchemy's `engine.dispose()`). For
    /// `sqlite://` this discards the in-memory database.
    pub fn dispose(&self) {
        let fresh = Pool::new(Arc::clone(&self.inner.driver), self.inner.pool_config);
        let old = {
            let mut slot = self.inner.pool.write().unwrap_or_else(|e| e.into_inner());
            std::mem::replace(&mut *slot, fresh)
        };
        old.dispose();
    }

    /// Registers a listener for every statement this engine executes, called synchronously
    /// before and after execution (SQLAlchemy's `before_cursor_execute`/`after_cursor_execute`).
    ///
    /// # Example
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::sync::Arc;
    /// use calcine_engine::ExecutePhase;
    /// let engine = calcine_engine::create_engine("sqlite://")?;
    /// let count = Arc::new(AtomicUsize::new(0));
    /// let c = count.clone();
    /// engine.on_execute(move |ev| {
    ///     if ev.phase == ExecutePhase::Before {
    ///         c.fetch_add(1, Ordering::SeqCst);
    ///     }
    /// });
    /// engine.connect()?.exec_driver_sql("SELECT 1", &[])?;
    /// assert_eq!(count.load(Ordering::SeqCst), 1);
    /// # Ok::<(), calcine_engine::Error>(())
    /// ```
    pub fn on_execute(&self, listener: impl Fn(&ExecuteEvent<'_>) + Send + Sync + 'static) {
        self.inner.listeners.add(Arc::new(listener));
    }

    /// The pool's counters (SQLAlchemy's `pool.status()`, `checkedout()`, `size()`).
    pub fn pool_status(&self) -> PoolStatus {
        self.pool().status()
    }

    /// The dialect statements are compiled for.
    pub fn dialect(&self) -> Dialect {
        self.inner.driver.dialect()
    }

    /// Whether the driver does its IO through the bridge (`calcine_greenlet::await_`): true for
    /// PostgreSQL, false for SQLite (see [`Driver::bridged`](crate::Driver::bridged)).
    pub fn is_bridged(&self) -> bool {
        self.inner.driver.bridged()
    }

    /// Whether a statement and the `COMMIT` after it cost less sent together (see
    /// [`Driver::pipelines_commit`](crate::Driver::pipelines_commit)): true for PostgreSQL.
    #[doc(hidden)]
    pub fn pipelines_commit(&self) -> bool {
        self.inner.driver.pipelines_commit()
    }

    /// The driver's name (`"sqlite"`, `"postgresql"`).
    pub fn driver_name(&self) -> &'static str {
        self.inner.driver.name()
    }

    /// The URL this engine connects to.
    pub fn url(&self) -> &Url {
        &self.inner.url
    }

    /// The compiled-statement cache (SQLAlchemy's `compiled_cache`, sized by
    /// `query_cache_size`).
    pub fn statement_cache(&self) -> &StatementCache {
        &self.inner.cache
    }

    pub(crate) fn inner(&self) -> &EngineInner {
        &self.inner
    }

    /// This engine with its connections in autocommit mode, or not (SQLAlchemy's
    /// `engine.execution_options(isolation_level="AUTOCOMMIT")`): the same pool, statement
    /// cache, events and options, shared with `self`; only the mode of the connections it
    /// hands out differs (see [`EngineBuilder::autocommit`]). A session bound to it reads and
    /// writes in autocommit mode.
    pub fn with_autocommit(&self, on: bool) -> Engine {
        Engine {
            inner: Arc::clone(&self.inner),
            autocommit: on,
        }
    }

    /// Whether connections of this handle start in autocommit mode.
    pub fn autocommit(&self) -> bool {
        self.autocommit
    }

    /// A connection from the current pool: the handle on the pool taken here is the one the
    /// checked-out connection keeps (each reference count is an atomic read-modify-write,
    /// ~10 ns; the pool's lock is not held while a checkout waits).
    pub(crate) fn checkout(&self) -> Result<crate::pool::PooledConnection> {
        self.pool().checkout()
    }

    pub(crate) fn pool(&self) -> Arc<Pool> {
        Arc::clone(&self.inner.pool.read().unwrap_or_else(|e| e.into_inner()))
    }
}

impl EngineInner {
    pub(crate) fn driver(&self) -> &dyn Driver {
        &*self.driver
    }

    pub(crate) fn cache(&self) -> &StatementCache {
        &self.cache
    }
}

impl fmt::Debug for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Engine({})", self.inner.url)
    }
}

/// Options for an [`Engine`] (SQLAlchemy's `create_engine` keyword arguments).
#[must_use]
pub struct EngineBuilder {
    url: Result<Url>,
    echo: bool,
    pool_size: usize,
    max_overflow: Option<usize>,
    pool_timeout: Duration,
    pool_pre_ping: bool,
    pool_recycle: Option<Duration>,
    query_cache_size: usize,
    autocommit: bool,
    pg_creator: Option<crate::driver::postgres::PgCreator>,
}

impl EngineBuilder {
    /// Connects PostgreSQL through `creator` instead of the URL's parameters (SQLAlchemy's
    /// `async_creator`): called once per new pool connection, with no arguments, on the
    /// driver's IO runtime; it returns what `tokio_postgres::connect` returns (any TLS). The
    /// URL still selects the dialect. Ignored for SQLite.
    ///
    /// ```no_run
    /// let engine = calcine_engine::Engine::builder("postgresql://")
    ///     .async_creator(|| tokio_postgres::connect("host=/tmp user=postgres", tokio_postgres::NoTls))
    ///     .build()?;
    /// # Ok::<(), calcine_engine::Error>(())
    /// ```
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
        self.pg_creator = Some(crate::driver::postgres::erase_creator(creator));
        self
    }

    /// Logs every statement and its parameters at `INFO` through `tracing` (target
    /// `calcine::engine`). Default off.
    pub fn echo(mut self, echo: bool) -> Self {
        self.echo = echo;
        self
    }

    /// Connections of this engine run every statement in the database's autocommit mode
    /// (SQLAlchemy's `create_engine(url, isolation_level="AUTOCOMMIT")`): no `BEGIN` is sent,
    /// so each statement commits on its own, and what a transaction cannot hold runs (SQLite's
    /// `VACUUM`, PostgreSQL's `CREATE DATABASE`). The transaction API keeps working as a
    /// bracket: `begin()` / `commit()` / `rollback()` send nothing unless the driver reports a
    /// transaction open after all (on SQLite, one a SAVEPOINT or the SQL itself began), which
    /// they then end. A flush is then not atomic: each of its statements commits as it runs.
    /// Default off; for an engine sharing this one's pool, see [`Engine::with_autocommit`]; per
    /// connection, [`Connection::set_autocommit`].
    ///
    /// [`Connection::set_autocommit`]: crate::Connection::set_autocommit
    pub fn autocommit(mut self, on: bool) -> Self {
        self.autocommit = on;
        self
    }

    /// Connections kept open in the pool. Default 5.
    pub fn pool_size(mut self, n: usize) -> Self {
        self.pool_size = n;
        self
    }

    /// Extra connections allowed beyond `pool_size` while checked out. Default 10.
    pub fn max_overflow(mut self, n: usize) -> Self {
        self.max_overflow = Some(n);
        self
    }

    /// No limit on overflow connections (SQLAlchemy's `max_overflow=-1`).
    pub fn unlimited_overflow(mut self) -> Self {
        self.max_overflow = None;
        self
    }

    /// How long a checkout waits for a free connection before failing with
    /// [`Timeout`](crate::ErrorKind::Timeout). Default 30 s.
    pub fn pool_timeout(mut self, timeout: Duration) -> Self {
        self.pool_timeout = timeout;
        self
    }

    /// Tests each idle connection with a round trip at checkout and replaces dead ones.
    /// Default off.
    pub fn pool_pre_ping(mut self, on: bool) -> Self {
        self.pool_pre_ping = on;
        self
    }

    /// Replaces connections older than `age` at checkout. Default never.
    pub fn pool_recycle(mut self, age: Duration) -> Self {
        self.pool_recycle = Some(age);
        self
    }

    /// Compiled statements kept in the statement cache (`0` disables it). Default 500.
    pub fn query_cache_size(mut self, n: usize) -> Self {
        self.query_cache_size = n;
        self
    }

    /// Builds the engine. No connection is opened yet.
    ///
    /// # Errors
    /// [`InvalidRequest`](crate::ErrorKind::InvalidRequest) for a malformed URL, an unknown
    /// dialect, driver or URL option, or `pool_size = 0`.
    pub fn build(self) -> Result<Engine> {
        let url = self.url?;
        if self.pool_size == 0 {
            return Err(Error::invalid_request(
                "pool_size must be at least 1 (use max_overflow for connections beyond it)",
            ));
        }
        let mut pool_config = PoolConfig {
            size: self.pool_size,
            max_overflow: self.max_overflow,
            timeout: self.pool_timeout,
            pre_ping: self.pool_pre_ping,
            recycle: self.pool_recycle,
            static_pool: false,
        };
        let driver: Arc<dyn Driver> = match url.backend() {
            Backend::Sqlite => {
                let mut busy = Duration::from_secs(5);
                for (k, v) in url.query() {
                    match k.as_str() {
                        "timeout" => {
                            let secs: f64 = v.parse().ok().filter(|s: &f64| s.is_finite() && *s >= 0.0).ok_or_else(|| {
                                Error::invalid_request(format!(
                                    "invalid SQLite option timeout={v:?}; expected seconds, e.g. timeout=5"
                                ))
                            })?;
                            busy = Duration::from_secs_f64(secs);
                        }
                        other => {
                            return Err(Error::invalid_request(format!(
                                "unknown SQLite URL option {other:?}; supported: timeout"
                            )));
                        }
                    }
                }
                let path = match url.database() {
                    None => {
                        // StaticPool: every checkout shares the one in-memory database.
                        pool_config.size = 1;
                        pool_config.max_overflow = Some(0);
                        pool_config.recycle = None;
                        pool_config.static_pool = true;
                        SqlitePath::Memory
                    }
                    Some(p) => SqlitePath::File(p.into()),
                };
                Arc::new(SqliteDriver::new(path, busy))
            }
            Backend::Postgresql => crate::driver::postgres::driver_for(&url, self.pg_creator)?,
        };
        let pool = Pool::new(Arc::clone(&driver), pool_config);
        Ok(Engine {
            autocommit: self.autocommit,
            inner: Arc::new(EngineInner {
                url,
                driver,
                pool_config,
                pool: RwLock::new(pool),
                cache: StatementCache::new(self.query_cache_size),
                echo: self.echo,
                listeners: Listeners::default(),
            }),
        })
    }
}

impl fmt::Debug for EngineBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EngineBuilder")
            .field("url", &self.url.as_ref().ok())
            .field("echo", &self.echo)
            .field("pool_size", &self.pool_size)
            .field("max_overflow", &self.max_overflow)
            .field("pool_timeout", &self.pool_timeout)
            .field("pool_pre_ping", &self.pool_pre_ping)
            .field("pool_recycle", &self.pool_recycle)
            .field("query_cache_size", &self.query_cache_size)
            .finish()
    }
}
