//! The PostgreSQL driver, on tokio-postgres (SQLAlchemy's `asyncpg`/`psycopg` dialects, seen
//! through the synchronous seam).
//!
//! # Runtime strategy
//! Every driver call is `calcine_greenlet::await_(future)`, so it works in all three places:
//! inside `greenlet_spawn` (the coroutine suspends and the caller's task awaits the future),
//! in plain `fn main` (the bridge drives the future on a runtime it owns for the thread), and
//! inside an async runtime outside a greenlet (a typed `MissingGreenlet` error, never a block).
//!
//! A tokio-postgres socket is registered with the reactor of the runtime that was current when it
//! was connected, and that reactor must keep running for the socket to make progress; a pooled
//! connection, though, is used from whatever runtime its borrower has (a thread-local fallback
//! runtime, the user's runtime, a home thread), and outlives them. So every socket is connected
//! on one runtime this driver owns, a current-thread runtime on a dedicated `calcine-pg-io`
//! thread, whose reactor never stops. The tokio-postgres `Connection` future (the part that
//! writes requests and reads replies) is *not* a task there: the `PostgresConnection` owns it
//! and polls it together with each request it awaits ([`drive`]), on the awaiting thread. A
//! round trip then costs one wake-up (the reactor reporting the socket readable) instead of two
//! hops through a connection task; replies are parsed where they are consumed. Between uses
//! nobody polls it: what the server sends meanwhile waits in the socket until the next request
//! (`pool_pre_ping` finds a connection that died while idle). A dropped connection hands its
//! future to the IO runtime to send `Terminate`.
//!
//! # Streaming
//! A query is prepared (statements are cached per connection) and run with `query_raw`; rows are
//! pulled from its `RowStream` `max` at a time. tokio-postgres applies backpressure (it stops
//! reading the socket while the row channel is full), so memory stays bounded however large the
//! result; the server waits on the socket meanwhile.
//!
//! # Values
//! Parameters are typed by the server (`prepare`) and each [`Value`] is encoded for the type the
//! server expects: integers checked against `int2`/`int4` ranges, `Numeric` as binary `numeric`
//! (exact), text into `uuid`/`numeric` parameters parsed. Columns decode by type: `int2/4/8` →
//! `Int`, `numeric` → `Numeric` (exact text), `float4/8` → `Float`, text types → `Text`, `bytea`,
//! `date`, `time`, `timestamp`, `timestamptz`, `uuid`, `json`/`jsonb`, `bool`. Other column types
//! are a [`NotSupported`](crate::ErrorKind::NotSupported) error naming the column (cast them to
//! `text` in SQL).

use std::collections::VecDeque;
use std::error::Error as StdError;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::{BufMut, BytesMut};
use calcine_sql::{Dialect, Value, ValueRef};
use futures_util::StreamExt;
use rustc_hash::FxHashMap;
use tokio_postgres::types::{FromSql, IsNull, Kind, ToSql, Type, to_sql_checked};
use tokio_postgres::{Client, NoTls, RowStream, Statement};

use crate::driver::{BufferedRows, Driver, DriverConnection, DriverCursor};
use crate::error::{Error, ErrorKind, Result, kind_for_sqlstate};
use crate::url::Url;

/// Prepared statements kept per connection before the cache is cleared.
const STATEMENT_CACHE_CAPACITY: usize = 256;

/// Builds the PostgreSQL driver for `url`.
/// A user-supplied async connect function (SQLAlchemy's `async_creator`), type-erased: it
/// connects (on the IO runtime) and returns the client with its connection's future.
pub(crate) type PgCreator = Arc<
    dyn Fn() -> std::pin::Pin<
            Box<
                dyn std::future::Future<
                        Output = std::result::Result<(Client, ConnTask), tokio_postgres::Error>,
                    > + Send,
            >,
        > + Send
        + Sync,
>;

/// A tokio-postgres `Connection` future, type-erased: it does the socket IO of its `Client`
/// (writes queued requests, reads and routes replies) whenever it is polled.
pub(crate) type ConnTask = Pin<
    Box<dyn std::future::Future<Output = std::result::Result<(), tokio_postgres::Error>> + Send>,
>;

/// Erases an `async_creator` returning `(Client, Connection)`.
pub(crate) fn erase_creator<F, Fut, S, T>(f: F) -> PgCreator
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<
            Output = std::result::Result<
                (Client, tokio_postgres::Connection<S, T>),
                tokio_postgres::Error,
            >,
        > + Send
        + 'static,
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    Arc::new(move || {
        let fut = f();
        Box::pin(async move {
            let (client, connection) = fut.await?;
            Ok((client, Box::pin(connection) as ConnTask))
        })
    })
}

pub(crate) fn driver_for(url: &Url, creator: Option<PgCreator>) -> Result<Arc<dyn Driver>> {
    let mut config = tokio_postgres::Config::new();
    config.host(url.host().unwrap_or("localhost"));
    config.port(url.port().unwrap_or(5432));
    config.user(url.username().unwrap_or("postgres"));
    if let Some(p) = url.password() {
        config.password(p);
    }
    if let Some(d) = url.database() {
        config.dbname(d);
    }
    for (k, v) in url.query() {
        match k.as_str() {
            "application_name" => {
                config.application_name(v);
            }
            "options" => {
                config.options(v);
            }
            "connect_timeout" => {
                let secs: u64 = v.parse().map_err(|_| {
                    Error::invalid_request(format!(
                        "invalid PostgreSQL option connect_timeout={v:?}; expected whole seconds"
                    ))
                })?;
                config.connect_timeout(Duration::from_secs(secs));
            }
            "sslmode" if v == "disable" || v == "prefer" || v == "allow" => {}
            "sslmode" => {
                return Err(Error::not_supported(format!(
                    "sslmode={v} needs TLS, which calcine's PostgreSQL driver does not support yet; \
                     use sslmode=disable or a TLS-terminating proxy"
                )));
            }
            other => {
                return Err(Error::invalid_request(format!(
                    "unknown PostgreSQL URL option {other:?}; supported: application_name, options, \
                     connect_timeout, sslmode"
                )));
            }
        }
    }
    Ok(Arc::new(PostgresDriver {
        config,
        url: url.to_string(),
        creator,
    }))
}

/// Opens tokio-postgres connections on the driver's IO runtime.
struct PostgresDriver {
    config: tokio_postgres::Config,
    /// The URL with the password hidden, for messages.
    url: String,
    /// Connects instead of `config` when set (`async_creator`).
    creator: Option<PgCreator>,
}

impl std::fmt::Debug for PostgresDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresDriver")
            .field("url", &self.url)
            .field("creator", &self.creator.is_some())
            .finish()
    }
}

/// The handle of the runtime that owns every PostgreSQL socket (see the module docs).
fn io_runtime() -> Result<tokio::runtime::Handle> {
    static IO: OnceLock<std::result::Result<tokio::runtime::Handle, String>> = OnceLock::new();
    IO.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        let handle = rt.handle().clone();
        std::thread::Builder::new()
            .name("calcine-pg-io".into())
            .spawn(move || rt.block_on(std::future::pending::<()>()))
            .map_err(|e| e.to_string())?;
        Ok(handle)
    })
    .clone()
    .map_err(|e| Error::operational(format!("could not start the PostgreSQL IO runtime: {e}")))
}

impl Driver for PostgresDriver {
    fn name(&self) -> &'static str {
        "postgresql"
    }

    fn dialect(&self) -> Dialect {
        Dialect::Postgresql
    }

    fn bridged(&self) -> bool {
        true
    }

    fn pipelines_commit(&self) -> bool {
        true
    }

    fn connect(&self) -> Result<Box<dyn DriverConnection>> {
        let config = self.config.clone();
        let creator = self.creator.clone();
        let task = io_runtime()?.spawn(async move {
            if let Some(creator) = creator {
                return creator().await;
            }
            let (client, connection) = config.connect(NoTls).await?;
            Ok::<_, tokio_postgres::Error>((client, Box::pin(connection) as ConnTask))
        });
        let (client, io) = calcine_greenlet::await_(task)?
            .map_err(|e| Error::interface(format!("the PostgreSQL connect task failed: {e}")))?
            .map_err(|e| {
                let e = map_error(e);
                Error::new(
                    e.kind(),
                    format!(
                        "could not connect to {}: {}; check that the server runs and accepts TCP \
                         connections, and the user, password and database in the URL",
                        self.url,
                        e.message()
                    ),
                )
            })?;
        Ok(Box::new(PostgresConnection {
            wire: Wire {
                io: Some(io),
                resetting: None,
            },
            client: Arc::new(client),
            statements: FxHashMap::default(),
            in_tx: false,
            begin_pending: false,
            rows: VecDeque::new(),
        }))
    }
}

/// A request already sent whose reply is collected later (the pipelined reset on return).
type InFlight = Pin<
    Box<dyn std::future::Future<Output = std::result::Result<(), tokio_postgres::Error>> + Send>,
>;

/// One tokio-postgres client, with its connection's future: polled by whoever awaits a reply
/// on this connection (see [`drive`]), not by a task of its own; `None` once it has ended.
struct PostgresConnection {
    wire: Wire,
    /// Shared with the in-flight reset, which must own what it borrows.
    client: Arc<Client>,
    statements: FxHashMap<Box<str>, (Statement, Arc<[String]>)>,
    in_tx: bool,
    /// `BEGIN` not sent yet: it goes out pipelined with the transaction's first statement,
    /// saving a round trip (an empty transaction never reaches the server).
    begin_pending: bool,
    /// A cursor's received rows not handed out yet; empty between statements, its room kept
    /// (a buffer per statement cost a large allocation, and glibc's consolidation of its free
    /// lists when freed).
    rows: VecDeque<tokio_postgres::Row>,
}

/// The socket side of a connection: the tokio-postgres `Connection` future (see [`drive`])
/// and the reply of a pipelined reset still to be read.
struct Wire {
    io: Option<ConnTask>,
    /// The `ROLLBACK` of the last reset on return: sent to the server at once (so the
    /// transaction and its locks end right away), its reply read after the next request's, which
    /// the server answers in order behind it. `None` once collected.
    resetting: Option<InFlight>,
}

impl Wire {
    /// One request: awaits `fut` while driving the connection, then reads the reply of a reset
    /// pipelined ahead of it (already arrived: replies come in request order). A failed reset
    /// is this call's error (a broken connection fails the request anyway).
    fn roundtrip<F: std::future::Future>(&mut self, fut: F) -> Result<F::Output> {
        let out = calcine_greenlet::await_(drive(&mut self.io, fut))?;
        self.collect_reset()?;
        Ok(out)
    }

    fn collect_reset(&mut self) -> Result<()> {
        match self.resetting.take() {
            None => Ok(()),
            Some(reply) => calcine_greenlet::await_(drive(&mut self.io, reply))?.map_err(|e| {
                let e = map_error(e);
                Error::new(
                    e.kind(),
                    format!("the ROLLBACK that reset this connection on its return to the pool failed: {}", e.message()),
                )
                .with_disconnect(e.is_disconnect())
            }),
        }
    }
}

impl PostgresConnection {
    fn prepare(&mut self, sql: &str) -> Result<Statement> {
        self.prepare_with_columns(sql).map(|(s, _)| s)
    }

    /// The prepared statement and its result column names (shared by every execution).
    fn prepare_with_columns(&mut self, sql: &str) -> Result<(Statement, Arc<[String]>)> {
        if let Some(s) = self.statements.get(sql) {
            return Ok(s.clone());
        }
        let stmt = self
            .wire
            .roundtrip(self.client.prepare(sql))?
            .map_err(map_error)?;
        let columns: Arc<[String]> = stmt.columns().iter().map(|c| c.name().to_owned()).collect();
        if self.statements.len() >= STATEMENT_CACHE_CAPACITY {
            self.statements.clear();
        }
        self.statements
            .insert(sql.into(), (stmt.clone(), columns.clone()));
        Ok((stmt, columns))
    }

    fn simple(&mut self, sql: &str) -> Result<()> {
        self.wire
            .roundtrip(self.client.batch_execute(sql))?
            .map_err(map_error)
    }
}

/// Awaits `fut`, polling the connection's future `io` whenever `fut` waits, so the request it
/// queued is written and its reply read and routed on the awaiting thread: one wake-up per
/// round trip (the socket's readiness, from the IO runtime's reactor) instead of two hops
/// through a connection task. If the connection ends (closed, broken), `io` becomes `None`
/// and `fut` fails with tokio-postgres's closed-connection error.
fn drive<'a, F: std::future::Future + 'a>(
    io: &'a mut Option<ConnTask>,
    fut: F,
) -> impl std::future::Future<Output = F::Output> + 'a {
    let mut fut = Box::pin(fut);
    std::future::poll_fn(move |cx| {
        if let Poll::Ready(v) = fut.as_mut().poll(cx) {
            return Poll::Ready(v);
        }
        let Some(task) = io.as_mut() else {
            return Poll::Pending;
        };
        if let Poll::Ready(r) = task.as_mut().poll(cx) {
            if let Err(e) = r {
                tracing::debug!(target: "calcine::postgres", error = %e, "connection ended with an error");
            }
            *io = None;
        }
        // The connection may have routed the reply just now.
        fut.as_mut().poll(cx)
    })
}

/// Polls the connection once without a waker of interest: writes out what is queued (the
/// pipelined reset), reads what has arrived.
fn nudge(io: &mut Option<ConnTask>) {
    if let Some(task) = io.as_mut() {
        let mut cx = Context::from_waker(Waker::noop());
        if let Poll::Ready(r) = task.as_mut().poll(&mut cx) {
            if let Err(e) = r {
                tracing::debug!(target: "calcine::postgres", error = %e, "connection ended with an error");
            }
            *io = None;
        }
    }
}

/// Awaits `run`, first sending the deferred `BEGIN` pipelined with it when `begin_pending` is
/// set (one round trip for both; requests go out in poll order, so `BEGIN` is first), which
/// clears the flag.
///
/// If `BEGIN` fails the error is returned, whatever `run` did (it can only fail on a broken
/// connection, where `run` fails as well). If the await itself is refused (`MissingGreenlet`:
/// nothing was polled, nothing sent) the flag is set again, so the transaction's `BEGIN` still
/// goes out with the next statement instead of being lost, which would run every later
/// statement in autocommit.
fn with_begin<F, T>(
    wire: &mut Wire,
    client: &Client,
    begin_pending: &mut bool,
    run: F,
) -> Result<std::result::Result<T, tokio_postgres::Error>>
where
    F: std::future::Future<Output = std::result::Result<T, tokio_postgres::Error>>,
{
    if !std::mem::take(begin_pending) {
        return wire.roundtrip(run);
    }
    let joined = wire.roundtrip(futures_util::future::join(
        client.batch_execute("BEGIN"),
        run,
    ));
    let (began, out) = joined.inspect_err(|_| *begin_pending = true)?;
    began.map_err(map_error)?;
    Ok(out)
}

/// The outcome of a statement with a `COMMIT` pipelined behind it ([`then_commit`]): the
/// statement's error, or its output with the `COMMIT`'s outcome.
type Committed<T> =
    std::result::Result<(T, std::result::Result<(), tokio_postgres::Error>), tokio_postgres::Error>;

/// Awaits `run` with a `COMMIT` pipelined behind it: both requests are written before either
/// reply is read (tokio-postgres queues a request on its future's first poll, and `run` is
/// polled first), one round trip for both. The server answers in order: if the statement fails,
/// it skips to the statement's Sync and then runs the `COMMIT`, which on the aborted
/// transaction rolls back (the command tag is `ROLLBACK`, not an error).
///
/// `COMMIT` is not sent when `run` fails on its first poll, before its request left (a
/// parameter that does not encode, a closed client): the transaction then stays open, with its
/// earlier statements in it. Nor when no transaction is open (`in_tx` false: autocommit mode),
/// where the statement commits itself. `sent` records whether it was sent.
async fn then_commit<T>(
    client: &Client,
    run: impl std::future::Future<Output = std::result::Result<T, tokio_postgres::Error>>,
    in_tx: bool,
    sent: &mut bool,
) -> std::result::Result<Committed<T>, tokio_postgres::Error> {
    if !in_tx {
        return Ok(run.await.map(|v| (v, Ok(()))));
    }
    let mut run = std::pin::pin!(run);
    let first = std::future::poll_fn(|cx| Poll::Ready(run.as_mut().poll(cx))).await;
    let out = match first {
        Poll::Ready(Err(e)) => Err(e),
        Poll::Ready(Ok(v)) => {
            *sent = true;
            Ok((v, client.batch_execute("COMMIT").await))
        }
        Poll::Pending => {
            *sent = true;
            let (out, committed) =
                futures_util::future::join(run, client.batch_execute("COMMIT")).await;
            out.map(|v| (v, committed))
        }
    };
    Ok(out)
}

fn check_count(stmt: &Statement, supplied: usize) -> Result<()> {
    let expected = stmt.params().len();
    if expected != supplied {
        return Err(Error::programming(format!(
            "the statement takes {expected} parameters but {supplied} were supplied"
        )));
    }
    Ok(())
}

/// The parameters of one statement, lent by the caller and encoded as they come for the
/// types of the statement's parameters (no owned copy of a value): the bytes of each in one
/// buffer, handed to tokio-postgres as [`Encoded`] parameters.
struct Encoder<'t> {
    types: &'t [Type],
    buf: BytesMut,
    /// Each parameter's bytes in `buf` (`None`: NULL), in placeholder order.
    spans: Vec<Option<(usize, usize)>>,
    /// The first value that did not encode.
    error: Option<Error>,
}

impl<'t> Encoder<'t> {
    /// `rows` sets of `width` parameters of `stmt` that `fill` lends.
    ///
    /// # Errors
    /// `fill`'s; a set not of `width` values or a total the statement does not take
    /// (`Programming`); a value that does not encode as its parameter's type, as tokio-postgres
    /// reports it.
    fn lent(
        stmt: &'t Statement,
        width: usize,
        rows: usize,
        fill: &mut crate::driver::FillParams<'_>,
    ) -> Result<Self> {
        let mut enc = Encoder {
            types: stmt.params(),
            buf: BytesMut::new(),
            spans: Vec::with_capacity(width * rows),
            error: None,
        };
        for i in 0..rows {
            let start = enc.spans.len();
            fill(i, &mut enc)?;
            crate::driver::check_width(width, enc.spans.len() - start)?;
        }
        if let Some(e) = enc.error.take() {
            return Err(e);
        }
        check_count(stmt, enc.spans.len())?;
        Ok(enc)
    }

    fn params(&self) -> impl ExactSizeIterator<Item = Encoded<'_>> {
        self.spans
            .iter()
            .map(|s| Encoded(s.and_then(|(a, b)| self.buf.get(a..b))))
    }
}

impl crate::driver::ParamSink for Encoder<'_> {
    fn push(&mut self, value: ValueRef<'_>) {
        let k = self.spans.len();
        let (Some(ty), None) = (self.types.get(k), &self.error) else {
            // Past the statement's parameters (counted after) or after a failed one.
            self.spans.push(None);
            return;
        };
        let start = self.buf.len();
        let out = &mut self.buf;
        let encoded = match value {
            ValueRef::Null => Ok(IsNull::Yes),
            // The binary format of these types is the UTF-8 text / the bytes themselves.
            ValueRef::Text(t) if is_text(ty) => {
                out.put_slice(t.as_bytes());
                Ok(IsNull::No)
            }
            ValueRef::Bytes(b) if *ty == Type::BYTEA => {
                out.put_slice(b);
                Ok(IsNull::No)
            }
            ValueRef::Int(i) => Param(&Value::Int(i)).to_sql(ty, out),
            ValueRef::Float(f) => Param(&Value::Float(f)).to_sql(ty, out),
            ValueRef::Value(v) => Param(&v).to_sql(ty, out),
            other => Param(&other.into_value()).to_sql(ty, out),
        };
        match encoded {
            Ok(IsNull::No) => self.spans.push(Some((start, self.buf.len()))),
            Ok(IsNull::Yes) => {
                self.buf.truncate(start);
                self.spans.push(None);
            }
            Err(e) => {
                self.error = Some(encode_error(k, &*e));
                self.spans.push(None);
            }
        }
    }
}

/// A parameter already encoded ([`Encoder`]): its bytes, or NULL.
#[derive(Debug)]
struct Encoded<'a>(Option<&'a [u8]>);

impl ToSql for Encoded<'_> {
    fn to_sql(&self, _: &Type, out: &mut BytesMut) -> std::result::Result<IsNull, BoxError> {
        match self.0 {
            Some(bytes) => {
                out.put_slice(bytes);
                Ok(IsNull::No)
            }
            None => Ok(IsNull::Yes),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

/// The error of parameter `k` (0-based) that did not encode, as [`map_error`] words
/// tokio-postgres's.
fn encode_error(k: usize, cause: &(dyn StdError + 'static)) -> Error {
    let msg = format!("error serializing parameter {k}: {cause}");
    Error::new(client_error_kind(&msg), msg)
}

/// The kind of a client-side failure by tokio-postgres's wording: a value out of its type's
/// range is bad data, a value that does not encode or a wrong parameter count a programming
/// error, anything else an interface error.
fn client_error_kind(msg: &str) -> ErrorKind {
    if msg.contains("out of range") {
        ErrorKind::Data
    } else if msg.contains("serializing parameter") || msg.contains("parameters but") {
        ErrorKind::Programming
    } else {
        ErrorKind::Interface
    }
}

impl PostgresConnection {
    /// [`query`](DriverConnection::query) of the prepared `stmt` with `params` (checked for
    /// their number), encoded by tokio-postgres.
    fn query_prepared<'c, P, I>(
        &'c mut self,
        stmt: &Statement,
        columns: Arc<[String]>,
        params: I,
    ) -> Result<Box<dyn DriverCursor + 'c>>
    where
        P: tokio_postgres::types::BorrowToSql,
        I: IntoIterator<Item = P>,
        I::IntoIter: ExactSizeIterator,
    {
        let run = self.client.query_raw(stmt, params);
        let stream = with_begin(&mut self.wire, &self.client, &mut self.begin_pending, run)?
            .map_err(map_error)?;
        self.rows.clear();
        let mut cursor = PostgresCursor {
            stream: Box::pin(stream),
            columns,
            first: crate::driver::FirstRow::default(),
            rows: &mut self.rows,
            done: false,
            io: &mut self.wire.io,
        };
        // Read up to the first row, so the statement has run and its errors surface here.
        let mut first = Vec::new();
        let n = cursor.pull(1, &mut first)?;
        cursor.first = crate::driver::FirstRow::new(first, n);
        Ok(Box::new(cursor))
    }

    /// [`query_then_commit`](DriverConnection::query_then_commit) of the prepared `stmt`, whose
    /// columns all decode, with `params` (checked for their number).
    fn query_prepared_then_commit<P, I>(
        &mut self,
        stmt: &Statement,
        columns: Arc<[String]>,
        params: I,
    ) -> Result<(BufferedRows, Result<()>)>
    where
        P: tokio_postgres::types::BorrowToSql,
        I: IntoIterator<Item = P>,
        I::IntoIter: ExactSizeIterator,
    {
        let client = &*self.client;
        let run = async {
            let stream = client.query_raw(stmt, params).await?;
            let mut stream = std::pin::pin!(stream);
            let mut rows = Vec::new();
            while let Some(row) = stream.next().await {
                rows.push(row?);
            }
            Ok((rows, stream.rows_affected()))
        };
        let mut sent = false;
        let out = with_begin(
            &mut self.wire,
            client,
            &mut self.begin_pending,
            then_commit(client, run, self.in_tx, &mut sent),
        );
        if sent {
            // Committed, rolled back, or the connection is gone: the transaction is over.
            self.in_tx = false;
        }
        let ((rows, affected), committed) = out?.map_err(map_error)?.map_err(map_error)?;
        let committed = committed.map_err(map_error);
        let mut values = Vec::with_capacity(rows.len() * columns.len());
        for row in &rows {
            decode_row(row, &columns, &mut values)?;
        }
        let affected = columns.is_empty().then_some(affected).flatten();
        let rows = BufferedRows::new(columns, values, rows.len(), affected)?;
        Ok((rows, committed))
    }
}

impl DriverConnection for PostgresConnection {
    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64> {
        let stmt = self.prepare(sql)?;
        check_count(&stmt, params.len())?;
        let run = self.client.execute_raw(&stmt, params.iter().map(Param));
        with_begin(&mut self.wire, &self.client, &mut self.begin_pending, run)?.map_err(map_error)
    }

    fn query<'c>(&'c mut self, sql: &str, params: &[Value]) -> Result<Box<dyn DriverCursor + 'c>> {
        let (stmt, columns) = self.prepare_with_columns(sql)?;
        check_count(&stmt, params.len())?;
        self.query_prepared(&stmt, columns, params.iter().map(Param))
    }

    fn query_lent<'c>(
        &'c mut self,
        sql: &str,
        width: usize,
        rows: usize,
        fill: &mut crate::driver::FillParams<'_>,
    ) -> Result<Box<dyn DriverCursor + 'c>> {
        let (stmt, columns) = self.prepare_with_columns(sql)?;
        let enc = Encoder::lent(&stmt, width, rows, fill)?;
        self.query_prepared(&stmt, columns, enc.params())
    }

    /// The statement and `COMMIT` pipelined ([`then_commit`]), behind a deferred `BEGIN` when
    /// the transaction has not reached the server yet: a one-statement transaction is one round
    /// trip. Statements returning a column type that cannot be decoded take the sequential
    /// path (a decode error must come before the `COMMIT`, not after it).
    fn query_then_commit(
        &mut self,
        sql: &str,
        params: &[Value],
    ) -> Result<(BufferedRows, Result<()>)> {
        let (stmt, columns) = self.prepare_with_columns(sql)?;
        check_count(&stmt, params.len())?;
        if !stmt.columns().iter().all(|c| decodable(c.type_())) {
            return crate::driver::sequential_query_then_commit(self, sql, params);
        }
        self.query_prepared_then_commit(&stmt, columns, params.iter().map(Param))
    }

    fn query_lent_then_commit(
        &mut self,
        sql: &str,
        width: usize,
        rows: usize,
        fill: &mut crate::driver::FillParams<'_>,
    ) -> Result<(BufferedRows, Result<()>)> {
        let (stmt, columns) = self.prepare_with_columns(sql)?;
        if !stmt.columns().iter().all(|c| decodable(c.type_())) {
            let params = crate::driver::collect_lent(width, rows, fill)?;
            return crate::driver::sequential_query_then_commit(self, sql, &params);
        }
        let enc = Encoder::lent(&stmt, width, rows, fill)?;
        self.query_prepared_then_commit(&stmt, columns, enc.params())
    }

    fn begin(&mut self) -> Result<()> {
        self.in_tx = true;
        self.begin_pending = true;
        Ok(())
    }

    fn commit(&mut self) -> Result<()> {
        // No transaction begun (autocommit mode): nothing to commit.
        if !self.in_tx {
            return Ok(());
        }
        // A failed COMMIT ends the transaction on PostgreSQL too.
        self.in_tx = false;
        if std::mem::take(&mut self.begin_pending) {
            return Ok(());
        }
        self.simple("COMMIT")
    }

    fn rollback(&mut self) -> Result<()> {
        if !self.in_tx {
            return Ok(());
        }
        if std::mem::take(&mut self.begin_pending) {
            self.in_tx = false;
            return Ok(());
        }
        self.simple("ROLLBACK")?;
        self.in_tx = false;
        Ok(())
    }

    /// Reset on return without waiting: the `ROLLBACK` is handed to the connection task now
    /// (first poll sends it; the server ends the transaction and releases its locks as soon as
    /// it reads it) and its reply is read behind the next request's. Saves the round trip every
    /// pooled unit of work would otherwise pay when it ends.
    fn reset(&mut self) -> Result<()> {
        if !self.in_tx {
            return Ok(());
        }
        self.in_tx = false;
        if std::mem::take(&mut self.begin_pending) {
            return Ok(());
        }
        // A reset still in flight is collected first (two back to back: nothing ran between).
        self.wire.collect_reset()?;
        let client = Arc::clone(&self.client);
        let mut reply: InFlight = Box::pin(async move { client.batch_execute("ROLLBACK").await });
        // tokio-postgres encodes and queues a request on the first poll of its future.
        let mut cx = Context::from_waker(Waker::noop());
        let first = reply.as_mut().poll(&mut cx);
        // Write it out now: nothing else polls this connection until its next use.
        nudge(&mut self.wire.io);
        match first {
            Poll::Ready(r) => r.map_err(map_error),
            Poll::Pending => {
                self.wire.resetting = Some(reply);
                Ok(())
            }
        }
    }

    fn in_transaction(&self) -> bool {
        self.in_tx
    }

    fn last_insert_id(&self) -> Option<i64> {
        None
    }

    fn ping(&mut self) -> Result<()> {
        if self.client.is_closed() {
            return Err(
                Error::operational("the PostgreSQL connection is closed").with_disconnect(true)
            );
        }
        self.simple("SELECT 1")
    }

    fn close(self: Box<Self>) -> Result<()> {
        // See `Drop`.
        drop(self);
        Ok(())
    }
}

impl Drop for PostgresConnection {
    /// Hands the connection's future to the IO runtime to finish: once the client is dropped
    /// (right after this), it sends `Terminate` and closes the socket.
    fn drop(&mut self) {
        if let Some(io) = self.wire.io.take() {
            match io_runtime() {
                Ok(rt) => {
                    rt.spawn(async move {
                        if let Err(e) = io.await {
                            tracing::debug!(target: "calcine::postgres", error = %e, "connection ended with an error");
                        }
                    });
                }
                Err(e) => {
                    tracing::debug!(target: "calcine::postgres", error = %e, "closing without Terminate")
                }
            }
        }
    }
}

/// Rows of one query, pulled from tokio-postgres's `RowStream`.
struct PostgresCursor<'c> {
    stream: Pin<Box<RowStream>>,
    columns: Arc<[String]>,
    /// The row read at execution time, handed out first.
    first: crate::driver::FirstRow,
    /// Rows received and not handed out yet (read in place by `read_rows`).
    rows: &'c mut VecDeque<tokio_postgres::Row>,
    done: bool,
    /// The connection's future, driven while rows are awaited; the borrow also keeps other
    /// statements from interleaving.
    io: &'c mut Option<ConnTask>,
}

impl PostgresCursor<'_> {
    /// Receives up to `max` more rows into `rows` (fewer only at the end, which sets `done`);
    /// returns how many.
    fn receive(&mut self, max: usize) -> Result<usize> {
        if self.done || max == 0 {
            return Ok(0);
        }
        let (stream, rows) = (&mut self.stream, &mut *self.rows);
        let before = rows.len();
        let received = calcine_greenlet::await_(drive(&mut *self.io, async {
            while rows.len() - before < max {
                match stream.next().await {
                    Some(Ok(row)) => rows.push_back(row),
                    Some(Err(e)) => return Err(e),
                    None => break,
                }
            }
            Ok(())
        }))?;
        received.map_err(|e| {
            self.done = true;
            map_error(e)
        })?;
        let n = self.rows.len() - before;
        if n < max {
            self.done = true;
        }
        Ok(n)
    }

    /// Appends up to `max` rows' values to `out`: the rows received and not handed out yet
    /// first, then newly received ones.
    fn pull(&mut self, max: usize, out: &mut Vec<Value>) -> Result<usize> {
        let buffered = self.rows.len().min(max);
        let wanted = max - buffered;
        self.receive(wanted)?;
        let n = self.rows.len().min(max);
        out.reserve(n * self.columns.len());
        for row in self.rows.drain(..n) {
            decode_row(&row, &self.columns, out)?;
        }
        Ok(n)
    }
}

impl Drop for PostgresCursor<'_> {
    /// Leaves the connection's row buffer empty (rows not read are dropped), and gives back
    /// the room of a very large one.
    fn drop(&mut self) {
        self.rows.clear();
        if self.rows.capacity() > 4096 {
            *self.rows = VecDeque::new();
        }
    }
}

/// A received row of a [`PostgresCursor`], its columns decoded as they are read.
struct PostgresRow<'a> {
    row: &'a tokio_postgres::Row,
    columns: &'a [String],
}

impl crate::driver::DriverRow for PostgresRow<'_> {
    #[inline]
    fn get(&mut self, i: usize) -> Result<ValueRef<'_>> {
        match self.row.columns().get(i) {
            Some(col) => decode_ref(self.row, i, col.type_(), self.columns),
            None => Err(Error::internal(format!(
                "no column {i} in this PostgreSQL row"
            ))),
        }
    }
}

impl DriverCursor for PostgresCursor<'_> {
    fn columns(&self) -> &Arc<[String]> {
        &self.columns
    }

    fn fetch(&mut self, max: usize, out: &mut Vec<Value>) -> Result<usize> {
        let n = self.first.fetch(max, out);
        Ok(n + self.pull(max - n, out)?)
    }

    fn read_rows(
        &mut self,
        max: usize,
        prefetch: usize,
        f: &mut dyn FnMut(&mut dyn crate::driver::DriverRow) -> bool,
    ) -> Result<usize> {
        let first = self.first.read(max, f);
        crate::driver::read_after_first(first, max, f, |left, f| {
            let mut n = 0;
            while n < left {
                if self.rows.is_empty() && self.receive(prefetch.max(1))? == 0 {
                    break;
                }
                let Some(row) = self.rows.pop_front() else {
                    break;
                };
                n += 1;
                let go = f(&mut PostgresRow {
                    row: &row,
                    columns: &self.columns,
                });
                if !go {
                    break;
                }
            }
            Ok(n)
        })
    }

    fn rows_affected(&self) -> Option<u64> {
        if self.done && self.columns.is_empty() {
            self.stream.rows_affected()
        } else {
            None
        }
    }
}

/// Appends one row's values to `out`, decoded by column type.
fn decode_row(row: &tokio_postgres::Row, columns: &[String], out: &mut Vec<Value>) -> Result<()> {
    let base = out.len();
    out.resize_with(base + columns.len(), Value::default);
    for (i, (col, slot)) in row.columns().iter().zip(&mut out[base..]).enumerate() {
        decode_into(row, i, col.type_(), &columns[i], slot)?;
    }
    Ok(())
}

/// Whether [`decode`] knows the column type `ty` (keep in step with its `match`).
fn decodable(ty: &Type) -> bool {
    matches!(
        *ty,
        Type::BOOL
            | Type::INT2
            | Type::INT4
            | Type::INT8
            | Type::OID
            | Type::FLOAT4
            | Type::FLOAT8
            | Type::NUMERIC
            | Type::TEXT
            | Type::VARCHAR
            | Type::BPCHAR
            | Type::NAME
            | Type::UNKNOWN
            | Type::BYTEA
            | Type::DATE
            | Type::TIME
            | Type::TIMESTAMP
            | Type::TIMESTAMPTZ
            | Type::UUID
            | Type::JSON
            | Type::JSONB
    )
}

/// A column's binary value, or `None` for NULL, taken without tokio-postgres's per-value type
/// check: the cursor's column types were checked once ([`decodable`]), and [`decode_into`]
/// decodes each type with its own `FromSql`.
struct RawCol<'a>(Option<&'a [u8]>);

impl<'a> FromSql<'a> for RawCol<'a> {
    fn from_sql(_: &Type, raw: &'a [u8]) -> std::result::Result<Self, BoxError> {
        Ok(RawCol(Some(raw)))
    }

    fn from_sql_null(_: &Type) -> std::result::Result<Self, BoxError> {
        Ok(RawCol(None))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

/// Decodes column `i` of `row` into `slot` (a `NULL` already in the chunk's buffer), written in
/// place: a `Result<Value>` handed back and then pushed stalls store forwarding on every value
/// (see the SQLite driver's `decode_into`).
fn decode_into(
    row: &tokio_postgres::Row,
    i: usize,
    ty: &Type,
    column: &str,
    slot: &mut Value,
) -> Result<()> {
    let raw = match row.try_get::<_, RawCol<'_>>(i) {
        Ok(RawCol(Some(raw))) => raw,
        Ok(RawCol(None)) => return Ok(()),
        Err(e) => return Err(Error::data(format!("column {column:?}: {e}")).with_source(e)),
    };
    #[inline]
    fn get<'a, T: FromSql<'a>>(ty: &Type, raw: &'a [u8], column: &str) -> Result<T> {
        T::from_sql(ty, raw).map_err(|e| bad_value(column, &*e))
    }
    // Each arm writes its value into the slot itself (no `Value` handed out of the match).
    macro_rules! put {
        ($v:expr) => {
            Value::replace(slot, $v)
        };
    }
    match *ty {
        Type::BOOL => put!(Value::Bool(get(ty, raw, column)?)),
        Type::INT2 => put!(Value::Int(get::<i16>(ty, raw, column)?.into())),
        Type::INT4 => put!(Value::Int(get::<i32>(ty, raw, column)?.into())),
        Type::INT8 => put!(Value::Int(get(ty, raw, column)?)),
        Type::OID => put!(Value::Int(get::<u32>(ty, raw, column)?.into())),
        Type::FLOAT4 => put!(Value::Float(get::<f32>(ty, raw, column)?.into())),
        Type::FLOAT8 => put!(Value::Float(get(ty, raw, column)?)),
        Type::NUMERIC => put!(Value::Numeric(get::<PgNumeric>(ty, raw, column)?.0)),
        // Text in the binary format is the UTF-8 bytes (these types only: an extension type
        // such as `ltree` prefixes a version byte, and is not decodable here).
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN => {
            match std::str::from_utf8(raw) {
                Ok(s) => put!(Value::Text(s.to_owned())),
                Err(e) => return Err(bad_value(column, &e)),
            }
        }
        Type::BYTEA => put!(Value::Bytes(raw.to_vec())),
        Type::DATE => put!(Value::Date(get(ty, raw, column)?)),
        Type::TIME => put!(Value::Time(get(ty, raw, column)?)),
        Type::TIMESTAMP => put!(Value::Timestamp(get(ty, raw, column)?)),
        Type::TIMESTAMPTZ => put!(Value::TimestampTz(get(ty, raw, column)?)),
        Type::UUID => put!(Value::Uuid(get(ty, raw, column)?)),
        Type::JSON | Type::JSONB => put!(Value::Json(get(ty, raw, column)?)),
        _ => {
            return Err(Error::not_supported(format!(
                "column {column:?} has PostgreSQL type {ty}, which calcine cannot decode yet; \
                 cast it in SQL (e.g. `{column}::text`)"
            )));
        }
    }
    Ok(())
}

/// Column `i` of `row` (of type `ty`): scalars and text read in place; other types decoded
/// by [`decode_into`].
#[inline]
fn decode_ref<'r>(
    row: &'r tokio_postgres::Row,
    i: usize,
    ty: &Type,
    names: &[String],
) -> Result<ValueRef<'r>> {
    let column = names.get(i).map_or("?", String::as_str);
    let raw = match row.try_get::<_, RawCol<'_>>(i) {
        Ok(RawCol(Some(raw))) => raw,
        Ok(RawCol(None)) => return Ok(ValueRef::Null),
        Err(e) => return Err(Error::data(format!("column {column:?}: {e}")).with_source(e)),
    };
    #[inline]
    fn get<'a, T: FromSql<'a>>(ty: &Type, raw: &'a [u8], column: &str) -> Result<T> {
        T::from_sql(ty, raw).map_err(|e| bad_value(column, &*e))
    }
    Ok(match *ty {
        Type::INT2 => ValueRef::Int(get::<i16>(ty, raw, column)?.into()),
        Type::INT4 => ValueRef::Int(get::<i32>(ty, raw, column)?.into()),
        Type::INT8 => ValueRef::Int(get(ty, raw, column)?),
        Type::FLOAT4 => ValueRef::Float(get::<f32>(ty, raw, column)?.into()),
        Type::FLOAT8 => ValueRef::Float(get(ty, raw, column)?),
        // As in `decode_into`: the binary format of these types is their UTF-8 text.
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN => {
            match std::str::from_utf8(raw) {
                Ok(s) => ValueRef::Text(s),
                Err(e) => return Err(bad_value(column, &e)),
            }
        }
        Type::BYTEA => ValueRef::Bytes(raw),
        _ => {
            let mut v = Value::Null;
            decode_into(row, i, ty, column, &mut v)?;
            ValueRef::Value(v)
        }
    })
}

/// A value the server sent that its type's decoder refused.
#[cold]
fn bad_value(column: &str, e: &(dyn StdError + 'static)) -> Error {
    Error::data(format!("column {column:?}: error deserializing value: {e}"))
}

/// A [`Value`] encoded for the parameter type the server inferred.
#[derive(Debug)]
struct Param<'a>(&'a Value);

type BoxError = Box<dyn StdError + Sync + Send>;

impl ToSql for Param<'_> {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> std::result::Result<IsNull, BoxError> {
        let mismatch = || -> BoxError {
            format!(
                "cannot bind a {} value to a parameter of type {ty}",
                self.0.kind_name()
            )
            .into()
        };
        let range =
            |i: i64| -> BoxError { format!("value {i} is out of range for type {ty}").into() };
        match (self.0, ty) {
            (Value::Null, _) => Ok(IsNull::Yes),
            (Value::Bool(b), &Type::BOOL) => b.to_sql(ty, out),
            (Value::Int(i), &Type::INT2) => {
                i16::try_from(*i).map_err(|_| range(*i))?.to_sql(ty, out)
            }
            (Value::Int(i), &Type::INT4) => {
                i32::try_from(*i).map_err(|_| range(*i))?.to_sql(ty, out)
            }
            (Value::Int(i), &Type::INT8) => i.to_sql(ty, out),
            (Value::Int(i), &Type::OID) => {
                u32::try_from(*i).map_err(|_| range(*i))?.to_sql(ty, out)
            }
            (Value::Int(i), &Type::FLOAT4) => (*i as f32).to_sql(ty, out),
            (Value::Int(i), &Type::FLOAT8) => (*i as f64).to_sql(ty, out),
            (Value::Int(i), &Type::NUMERIC) => encode_numeric(&i.to_string(), out),
            (Value::Int(i), t) if is_text(t) => i.to_string().as_str().to_sql(&Type::TEXT, out),
            (Value::Float(f), &Type::FLOAT4) => (*f as f32).to_sql(ty, out),
            (Value::Float(f), &Type::FLOAT8) => f.to_sql(ty, out),
            (Value::Float(f), &Type::NUMERIC) => encode_numeric(&f.to_string(), out),
            (Value::Numeric(s), &Type::NUMERIC) => encode_numeric(s, out),
            (Value::Numeric(s), &Type::FLOAT8) => {
                s.parse::<f64>().map_err(|_| mismatch())?.to_sql(ty, out)
            }
            (Value::Numeric(s) | Value::Text(s), t) if is_text(t) => {
                s.as_str().to_sql(&Type::TEXT, out)
            }
            (Value::Text(s), &Type::NUMERIC) => encode_numeric(s, out),
            (Value::Text(s), &Type::UUID) => uuid::Uuid::try_parse(s)
                .map_err(|e| -> BoxError { format!("{s:?} is not a UUID: {e}").into() })?
                .to_sql(ty, out),
            (Value::Text(s), &Type::JSON | &Type::JSONB) => {
                serde_json::Value::String(s.clone()).to_sql(ty, out)
            }
            (Value::Bytes(b), &Type::BYTEA) => b.as_slice().to_sql(ty, out),
            (Value::Date(d), &Type::DATE) => d.to_sql(ty, out),
            (Value::Time(t), &Type::TIME) => t.to_sql(ty, out),
            (Value::Timestamp(t), &Type::TIMESTAMP) => t.to_sql(ty, out),
            (Value::Timestamp(t), &Type::TIMESTAMPTZ) => t.and_utc().to_sql(ty, out),
            (Value::TimestampTz(t), &Type::TIMESTAMPTZ) => t.to_sql(ty, out),
            (Value::TimestampTz(t), &Type::TIMESTAMP) => t.naive_utc().to_sql(ty, out),
            (Value::Uuid(u), &Type::UUID) => u.to_sql(ty, out),
            (Value::Uuid(u), t) if is_text(t) => {
                u.hyphenated().to_string().as_str().to_sql(&Type::TEXT, out)
            }
            (Value::Json(j), &Type::JSON | &Type::JSONB) => j.to_sql(ty, out),
            (Value::Array(items), t) => match t.kind() {
                Kind::Array(member) => encode_array(items, member, out),
                _ => Err(mismatch()),
            },
            _ => Err(mismatch()),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

/// A one-dimensional array of `items`, each bound as `member` (the parameter's element type,
/// which the server inferred: `users.id = ANY($1)` makes `$1` an `int4[]`).
fn encode_array(
    items: &[Value],
    member: &Type,
    out: &mut BytesMut,
) -> std::result::Result<IsNull, BoxError> {
    let dimension = postgres_protocol::types::ArrayDimension {
        len: i32::try_from(items.len())?,
        lower_bound: 1,
    };
    postgres_protocol::types::array_to_sql(
        Some(dimension),
        member.oid(),
        items,
        |v, buf| match Param(v).to_sql(member, buf)? {
            IsNull::No => Ok(postgres_protocol::IsNull::No),
            IsNull::Yes => Ok(postgres_protocol::IsNull::Yes),
        },
        out,
    )?;
    Ok(IsNull::No)
}

fn is_text(t: &Type) -> bool {
    matches!(
        *t,
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN
    )
}

/// Writes `text` (a decimal like `-12.340`, or `NaN`) as binary `numeric`: `ndigits`, `weight`,
/// `sign`, `dscale`, then base-10000 digits.
fn encode_numeric(text: &str, out: &mut BytesMut) -> std::result::Result<IsNull, BoxError> {
    let bad = || -> BoxError { format!("{text:?} is not a decimal number").into() };
    let t = text.trim();
    if t.eq_ignore_ascii_case("nan") {
        out.put_slice(&[0, 0, 0, 0, 0xC0, 0, 0, 0]);
        return Ok(IsNull::No);
    }
    let (negative, t) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let (int, frac) = t.split_once('.').unwrap_or((t, ""));
    if (int.is_empty() && frac.is_empty())
        || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit())
    {
        return Err(bad());
    }
    let int = int.trim_start_matches('0');
    let dscale = u16::try_from(frac.len()).map_err(|_| bad())?;
    let mut digits: Vec<i16> = Vec::new();
    let lead = (4 - int.len() % 4) % 4;
    let padded_int: String = "0".repeat(lead) + int;
    for chunk in padded_int.as_bytes().chunks(4) {
        digits.push(group(chunk));
    }
    let int_groups = digits.len();
    let padded_frac: String = frac.to_owned() + &"0".repeat((4 - frac.len() % 4) % 4);
    for chunk in padded_frac.as_bytes().chunks(4) {
        digits.push(group(chunk));
    }
    let mut weight = int_groups as i32 - 1;
    let mut start = 0;
    while start < digits.len() && digits[start] == 0 {
        start += 1;
        weight -= 1;
    }
    let mut end = digits.len();
    while end > start && digits[end - 1] == 0 {
        end -= 1;
    }
    let digits = &digits[start..end];
    let (weight, sign) = if digits.is_empty() {
        (0, 0u16)
    } else {
        (weight, if negative { 0x4000 } else { 0 })
    };
    let ndigits = i16::try_from(digits.len()).map_err(|_| bad())?;
    out.put_i16(ndigits);
    out.put_i16(i16::try_from(weight).map_err(|_| bad())?);
    out.put_u16(sign);
    out.put_u16(dscale);
    for d in digits {
        out.put_i16(*d);
    }
    Ok(IsNull::No)
}

fn group(chunk: &[u8]) -> i16 {
    chunk
        .iter()
        .fold(0i16, |acc, b| acc * 10 + i16::from(b - b'0'))
}

/// A `numeric` column decoded to its exact decimal text.
struct PgNumeric(String);

impl<'a> FromSql<'a> for PgNumeric {
    fn from_sql(_: &Type, raw: &'a [u8]) -> std::result::Result<Self, BoxError> {
        let bad = || -> BoxError { "malformed binary numeric".into() };
        let word = |i: usize| -> std::result::Result<i16, BoxError> {
            raw.get(i * 2..i * 2 + 2)
                .map(|b| i16::from_be_bytes([b[0], b[1]]))
                .ok_or_else(bad)
        };
        let ndigits = usize::try_from(word(0)?).map_err(|_| bad())?;
        let weight = i32::from(word(1)?);
        let sign = word(2)? as u16;
        let dscale = usize::from(word(3)? as u16);
        match sign {
            0xC000 => return Ok(PgNumeric("NaN".into())),
            0xD000 => return Ok(PgNumeric("Infinity".into())),
            0xF000 => return Ok(PgNumeric("-Infinity".into())),
            _ => {}
        }
        let digits: Vec<i16> = (0..ndigits)
            .map(|i| word(4 + i))
            .collect::<std::result::Result<_, _>>()?;
        let digit = |pos: i32| -> i16 {
            usize::try_from(pos)
                .ok()
                .and_then(|p| digits.get(p).copied())
                .unwrap_or(0)
        };
        let mut s = String::new();
        if sign == 0x4000 {
            s.push('-');
        }
        if weight < 0 {
            s.push('0');
        } else {
            for pos in 0..=weight {
                if pos == 0 {
                    s.push_str(&digit(pos).to_string());
                } else {
                    s.push_str(&format!("{:04}", digit(pos)));
                }
            }
        }
        if dscale > 0 {
            let mut frac = String::new();
            let mut pos = weight + 1;
            while frac.len() < dscale {
                frac.push_str(&format!("{:04}", digit(pos)));
                pos += 1;
            }
            frac.truncate(dscale);
            s.push('.');
            s.push_str(&frac);
        }
        Ok(PgNumeric(s))
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::NUMERIC
    }
}

/// Classifies a tokio-postgres error by SQLSTATE class; lost connections are disconnects.
pub(crate) fn map_error(e: tokio_postgres::Error) -> Error {
    if let Some(db) = e.as_db_error() {
        let code = db.code().code().to_owned();
        let (kind, disconnect) = kind_for_sqlstate(&code);
        let mut message = db.message().to_owned();
        if let Some(d) = db.detail() {
            message.push_str("\nDETAIL: ");
            message.push_str(d);
        }
        if let Some(h) = db.hint() {
            message.push_str("\nHINT: ");
            message.push_str(h);
        }
        let constraint = db.constraint().map(str::to_owned);
        let mut err = Error::new(kind, message)
            .with_sqlstate(code)
            .with_disconnect(disconnect);
        if let Some(c) = constraint {
            err = err.with_constraint(c);
        }
        return err.with_source(e);
    }
    let io = e.source().is_some_and(|s| s.is::<std::io::Error>());
    if e.is_closed() || io {
        let msg = format!("the PostgreSQL connection was lost: {e}");
        return Error::operational(msg).with_disconnect(true).with_source(e);
    }
    // tokio-postgres keeps the cause of a client-side failure (a value that does not encode as
    // the parameter's type) as the error's source: say it.
    let msg = match e.source() {
        Some(cause) => format!("{e}: {cause}"),
        None => e.to_string(),
    };
    let kind = client_error_kind(&msg);
    Error::new(kind, msg).with_source(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(text: &str) -> String {
        let mut buf = BytesMut::new();
        encode_numeric(text, &mut buf).unwrap();
        PgNumeric::from_sql(&Type::NUMERIC, &buf).unwrap().0
    }

    #[test]
    fn numeric_binary_round_trips_exactly() {
        for (input, expected) in [
            ("0", "0"),
            ("0.00", "0.00"),
            ("1", "1"),
            ("-1", "-1"),
            ("12345678.9", "12345678.9"),
            ("0.0001", "0.0001"),
            ("0.00001", "0.00001"),
            ("-0.5", "-0.5"),
            ("10000", "10000"),
            (
                "123456789012345678901234567890.123456789",
                "123456789012345678901234567890.123456789",
            ),
            ("007.50", "7.50"),
            ("NaN", "NaN"),
        ] {
            assert_eq!(roundtrip(input), expected, "{input}");
        }
        let mut buf = BytesMut::new();
        assert!(encode_numeric("1.2.3", &mut buf).is_err());
        assert!(encode_numeric("'; DROP TABLE x; --", &mut buf).is_err());
    }
}
