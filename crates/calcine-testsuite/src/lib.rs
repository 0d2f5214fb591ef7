//! calcine's backend-parametrised test harness (SQLAlchemy's `testing` plugin, reduced): every
//! integration test runs on SQLite in memory, SQLite in a temporary file, and PostgreSQL when
//! `CALCINE_TEST_POSTGRES_URL` is set. Without it the PostgreSQL runs are skipped with a printed
//! line, unless `CALCINE_REQUIRE_POSTGRES=1`, which turns the skip into a failure (CI sets it).
//!
//! Each PostgreSQL [`Db`] gets a schema of its own (`search_path` set through the URL), dropped
//! when the `Db` is dropped, so tests run in parallel with fixed table names.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use calcine_engine::{Engine, EngineBuilder, Result};

static COUNTER: AtomicUsize = AtomicUsize::new(0);

fn unique() -> String {
    format!(
        "{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    )
}

/// One database to run a test against.
#[derive(Debug)]
pub struct Db {
    /// `sqlite-memory`, `sqlite-file` or `postgresql`.
    pub name: &'static str,
    /// The URL to connect with.
    pub url: String,
    /// Whether this is PostgreSQL.
    pub pg: bool,
    /// Whether this is SQLite in memory (one shared connection).
    pub memory: bool,
    file: Option<PathBuf>,
    schema: Option<(String, String)>,
}

impl Db {
    /// An engine with default options.
    ///
    /// # Panics
    /// If the URL is rejected (a bug in the harness).
    pub fn engine(&self) -> Engine {
        match calcine_engine::create_engine(self.url.as_str()) {
            Ok(e) => e,
            Err(e) => panic!("engine for {}: {e}", self.name),
        }
    }

    /// An engine builder, to set options.
    pub fn builder(&self) -> EngineBuilder {
        Engine::builder(self.url.as_str())
    }

    /// `sql` with `?` placeholders rewritten to `$1, $2, ...` for PostgreSQL.
    pub fn sql(&self, sql: &str) -> String {
        if !self.pg {
            return sql.to_owned();
        }
        let mut out = String::with_capacity(sql.len() + 8);
        let mut n = 0;
        for ch in sql.chars() {
            if ch == '?' {
                n += 1;
                out.push('$');
                out.push_str(&n.to_string());
            } else {
                out.push(ch);
            }
        }
        out
    }

    /// A table name no other test uses.
    pub fn table(&self, base: &str) -> String {
        format!("{base}_{}", unique())
    }

    /// Creates (and commits) a fresh table `base_<n> (x INTEGER)` through `engine`; returns its
    /// name.
    ///
    /// # Panics
    /// If the DDL fails (a test fixture).
    pub fn int_table(&self, engine: &Engine, base: &str) -> String {
        let t = self.table(base);
        if let Err(e) = engine.begin(|c| {
            c.exec_driver_sql(&format!("CREATE TABLE {t} (x INTEGER)"), &[])
                .map(drop)
        }) {
            panic!("creating {t}: {e}");
        }
        t
    }

    /// An auto-incrementing integer primary key column type, for raw DDL.
    pub fn id_type(&self) -> &'static str {
        if self.pg {
            "BIGSERIAL PRIMARY KEY"
        } else {
            "INTEGER PRIMARY KEY"
        }
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        if let Some(f) = &self.file {
            for suffix in ["", "-journal", "-wal", "-shm"] {
                let mut p = f.clone().into_os_string();
                p.push(suffix);
                let _ = std::fs::remove_file(p);
            }
        }
        if let Some((schema, base)) = self.schema.take() {
            // Outside any async runtime the test may be running in.
            let _ = std::thread::spawn(move || {
                let sql = format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE");
                calcine_engine::create_engine(base.as_str())
                    .and_then(|e| e.begin(|c| c.exec_driver_sql(&sql, &[]).map(drop)))
            })
            .join();
        }
    }
}

/// The PostgreSQL URL from the environment (see the crate docs for skip/require).
///
/// # Panics
/// With `CALCINE_REQUIRE_POSTGRES=1` and no URL.
pub fn postgres_url() -> Option<String> {
    match std::env::var("CALCINE_TEST_POSTGRES_URL") {
        Ok(u) if !u.is_empty() => Some(u),
        _ => {
            if std::env::var("CALCINE_REQUIRE_POSTGRES").as_deref() == Ok("1") {
                panic!("CALCINE_REQUIRE_POSTGRES=1 but CALCINE_TEST_POSTGRES_URL is not set");
            }
            eprintln!("skipping PostgreSQL: CALCINE_TEST_POSTGRES_URL is not set");
            None
        }
    }
}

/// SQLite in memory (one shared connection).
pub fn sqlite_memory() -> Db {
    Db {
        name: "sqlite-memory",
        url: "sqlite://".into(),
        pg: false,
        memory: true,
        file: None,
        schema: None,
    }
}

/// SQLite in a temporary file, removed on drop.
pub fn sqlite_file() -> Db {
    let file = std::env::temp_dir().join(format!("calcine-test-{}.db", unique()));
    Db {
        name: "sqlite-file",
        url: format!("sqlite:///{}", file.display()),
        pg: false,
        memory: false,
        file: Some(file),
        schema: None,
    }
}

/// PostgreSQL in a fresh schema, if configured.
///
/// # Panics
/// If the server is configured but the schema cannot be created.
pub fn postgres() -> Option<Db> {
    let base = postgres_url()?;
    let schema = format!("t_{}", unique());
    let create = format!("CREATE SCHEMA \"{schema}\"");
    let made: Result<()> = std::thread::scope(|s| {
        s.spawn(|| {
            calcine_engine::create_engine(base.as_str())
                .and_then(|e| e.begin(|c| c.exec_driver_sql(&create, &[]).map(drop)))
        })
        .join()
        .unwrap_or_else(|_| Err(calcine_engine::Error::internal("schema thread panicked")))
    });
    if let Err(e) = made {
        panic!("PostgreSQL at {base}: cannot create a test schema: {e}");
    }
    let sep = if base.contains('?') { '&' } else { '?' };
    Some(Db {
        name: "postgresql",
        url: format!("{base}{sep}options=-csearch_path%3D{schema}"),
        pg: true,
        memory: false,
        file: None,
        schema: Some((schema, base)),
    })
}

/// Every backend: SQLite memory, SQLite file, and PostgreSQL when configured.
pub fn backends() -> Vec<Db> {
    let mut v = vec![sqlite_memory(), sqlite_file()];
    v.extend(postgres());
    v
}

/// Every backend (the name the engine's tests use).
pub fn all() -> Vec<Db> {
    backends()
}

/// Backends with a real pool of several connections (file SQLite, PostgreSQL).
pub fn pooled() -> Vec<Db> {
    let mut v = vec![sqlite_file()];
    v.extend(postgres());
    v
}

/// Runs `f` on every backend, naming the backend if it panics.
pub fn each_backend(mut f: impl FnMut(&Db)) {
    for db in backends() {
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&db)));
        if let Err(p) = result {
            eprintln!("failed on backend {}", db.name);
            std::panic::resume_unwind(p);
        }
    }
}

/// `SELECT count(*) FROM table` on `conn`.
///
/// # Panics
/// If the query fails (a test fixture).
pub fn count_rows(conn: &mut calcine_engine::Connection, table: &str) -> i64 {
    match conn
        .exec_driver_sql(&format!("SELECT count(*) FROM {table}"), &[])
        .and_then(|r| r.scalar())
    {
        Ok(n) => n,
        Err(e) => panic!("counting {table}: {e}"),
    }
}

/// Network round trips counted on the sockets of a [`round_trip_engine`].
#[derive(Debug, Clone, Default)]
pub struct RoundTrips(std::sync::Arc<AtomicUsize>);

impl RoundTrips {
    /// Round trips so far, on every connection of the engine.
    pub fn get(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }

    /// Round trips made by `f`.
    pub fn during<R>(&self, f: impl FnOnce() -> R) -> (R, usize) {
        let before = self.get();
        let r = f();
        (r, self.get() - before)
    }
}

/// A PostgreSQL engine for `db` whose connections count their network round trips, observed on
/// the socket: a round trip is a burst of client writes that follows a read (the client had to
/// wait for a reply before it could send again). Requests pipelined together (written before
/// any reply is read) are one round trip; each request that waits for the previous reply is
/// another. Connections go through `async_creator` with a TCP stream that counts, so nothing in
/// the driver is instrumented. (The pipelined reset on return writes a `ROLLBACK` nobody waits
/// for, which counts as one: measure units of work that end with a commit.) `None` for SQLite.
///
/// # Panics
/// If the URL is not a PostgreSQL URL with a host and port (a test fixture).
pub fn round_trip_engine(db: &Db, pool_size: usize) -> Option<(Engine, RoundTrips)> {
    if !db.pg {
        return None;
    }
    let url: calcine_engine::Url = match db.url.parse() {
        Ok(u) => u,
        Err(e) => panic!("{}: {e}", db.url),
    };
    let mut config = tokio_postgres::Config::new();
    let (Some(host), Some(port), Some(user), Some(dbname)) =
        (url.host(), url.port(), url.username(), url.database())
    else {
        panic!("{}: expected host, port, user and database", db.url);
    };
    config.user(user).dbname(dbname);
    for (k, v) in url.query() {
        if k == "options" {
            config.options(v);
        }
    }
    let addr = (host.to_owned(), port);
    let trips = RoundTrips::default();
    let counter = trips.clone();
    let engine = Engine::builder(db.url.as_str())
        .pool_size(pool_size)
        .async_creator(move || {
            let (config, addr, counter) = (config.clone(), addr.clone(), counter.clone());
            async move {
                // tokio-postgres has no public constructor for an IO error: a fixture panics.
                let tcp = match tokio::net::TcpStream::connect(&addr).await {
                    Ok(s) => s,
                    Err(e) => panic!("connecting to {addr:?}: {e}"),
                };
                let stream = CountingStream {
                    inner: tcp,
                    trips: counter,
                    read_since_write: true,
                };
                config.connect_raw(stream, tokio_postgres::NoTls).await
            }
        })
        .build();
    match engine {
        Ok(e) => Some((e, trips)),
        Err(e) => panic!("round-trip engine for {}: {e}", db.url),
    }
}

/// A TCP stream that counts round trips (see [`round_trip_engine`]).
struct CountingStream {
    inner: tokio::net::TcpStream,
    trips: RoundTrips,
    /// Something was read since the last write: the next write starts a new round trip.
    read_since_write: bool,
}

impl tokio::io::AsyncRead for CountingStream {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = std::pin::Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(r, std::task::Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.read_since_write = true;
        }
        r
    }
}

impl tokio::io::AsyncWrite for CountingStream {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        data: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let r = std::pin::Pin::new(&mut self.inner).poll_write(cx, data);
        if matches!(r, std::task::Poll::Ready(Ok(n)) if n > 0) && self.read_since_write {
            self.read_since_write = false;
            self.trips.0.fetch_add(1, Ordering::SeqCst);
        }
        r
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// A current-thread tokio runtime with IO and timers, for tests that drive async code.
///
/// # Panics
/// If the runtime cannot be built (a test fixture).
pub fn runtime() -> tokio::runtime::Runtime {
    match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => panic!("building a tokio runtime: {e}"),
    }
}

/// One event a [`Captured`] subscriber saw.
#[derive(Debug, Clone)]
pub struct CapturedEvent {
    /// The event's level.
    pub level: tracing::Level,
    /// The event's target (`calcine::engine`, `calcine::pool`, ...).
    pub target: String,
    /// The event's `message` field.
    pub message: String,
}

/// A minimal `tracing` subscriber that keeps every event (level, target, message), for tests
/// of what calcine logs: install it with `tracing::subscriber::with_default` and read
/// [`events`](Captured::events) afterwards.
#[derive(Default, Clone)]
pub struct Captured(std::sync::Arc<std::sync::Mutex<Vec<CapturedEvent>>>);

impl Captured {
    /// The events seen so far, in order.
    pub fn events(&self) -> Vec<CapturedEvent> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The messages of the events seen so far with `target`.
    pub fn messages_of(&self, target: &str) -> Vec<String> {
        self.events()
            .into_iter()
            .filter(|e| e.target == target)
            .map(|e| e.message)
            .collect()
    }
}

impl tracing::Subscriber for Captured {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        struct Message<'a>(&'a mut String);
        impl tracing::field::Visit for Message<'_> {
            fn record_debug(&mut self, field: &tracing::field::Field, v: &dyn std::fmt::Debug) {
                if field.name() == "message" {
                    *self.0 = format!("{v:?}");
                }
            }
        }
        let mut message = String::new();
        event.record(&mut Message(&mut message));
        let meta = event.metadata();
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(CapturedEvent {
                level: *meta.level(),
                target: meta.target().to_owned(),
                message,
            });
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}
