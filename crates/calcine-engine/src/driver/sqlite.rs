//! The SQLite driver, on rusqlite (SQLAlchemy's `pysqlite` dialect).
//!
//! Statements go through rusqlite's prepared-statement cache (`prepare_cached`, capacity raised to
//! [`STATEMENT_CACHE_CAPACITY`]), so re-executing a statement of the same shape does not re-parse
//! SQL. Connections open with `PRAGMA foreign_keys = ON` and a busy timeout (default 5 s, URL
//! option `?timeout=<seconds>`, like pysqlite's `timeout`).
//!
//! # Storage of values
//! SQLite has five storage classes; calcine's [`Value`]s are stored as follows and decoded back
//! using the column's *declared* type (case-insensitive substring match, checked in this order):
//!
//! | `Value` | stored as | decoded back when the declared type contains |
//! |---|---|---|
//! | `Bool` | INTEGER 0/1 | `BOOL` (any integer → `n != 0`) |
//! | `TimestampTz` | TEXT `YYYY-MM-DD HH:MM:SS[.ffffff]+00:00` (UTC) | `TIMESTAMPTZ`, or `TIMESTAMP`+`TIME ZONE` |
//! | `Timestamp` | TEXT `YYYY-MM-DD HH:MM:SS[.ffffff]` (SQLAlchemy's format) | `TIMESTAMP`, `DATETIME` |
//! | `Date` | TEXT `YYYY-MM-DD` | `DATE` |
//! | `Time` | TEXT `HH:MM:SS[.ffffff]` | `TIME` |
//! | `Uuid` | TEXT, hyphenated lower case (a 16-byte BLOB or 32 hex digits also decode) | `UUID`, `GUID` |
//! | `Json` | TEXT, serialized JSON | `JSON` |
//! | `Numeric` | TEXT, exact decimal (a `NUMERIC` column's affinity may turn it into REAL) | `NUMERIC`, `DECIMAL` |
//! | `Float` | REAL (integers in the column decode as `Float`) | `REAL`, `FLOA`, `DOUB` |
//! | `Int`, `Text`, `Bytes`, `Null` | INTEGER, TEXT, BLOB, NULL | (storage class) |
//!
//! A stored value that does not parse as its declared type (e.g. `'abc'` in a `DATE` column) is
//! returned as its storage class, so reading it as the declared Rust type fails with a
//! [`Decode`](crate::ErrorKind::Decode) error naming the column; other columns of the row stay
//! readable.
//!
//! # Streaming
//! A cursor steps the statement lazily: [`DriverCursor::fetch`] steps at most `max` rows, so a
//! million-row query never sits in memory at once. The cursor borrows the connection.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use calcine_sql::{Dialect, Value};
use rusqlite::types::{ToSqlOutput, ValueRef};

use crate::driver::{Driver, DriverConnection, DriverCursor, FillParams, ParamSink};
use crate::error::{Error, ErrorKind, Result};

/// Prepared statements kept per connection (rusqlite's default is 16).
pub(crate) const STATEMENT_CACHE_CAPACITY: usize = 256;

const TIMESTAMP_FORMAT: &str = "%Y-%m-%d %H:%M:%S%.f";
const TIME_FORMAT: &str = "%H:%M:%S%.f";
const DATE_FORMAT: &str = "%Y-%m-%d";

/// Where a SQLite database lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SqlitePath {
    /// A private in-memory database (`sqlite://`).
    Memory,
    /// A database file.
    File(PathBuf),
}

/// Opens rusqlite connections.
#[derive(Debug)]
pub(crate) struct SqliteDriver {
    path: SqlitePath,
    busy_timeout: Duration,
}

impl SqliteDriver {
    pub(crate) fn new(path: SqlitePath, busy_timeout: Duration) -> Self {
        SqliteDriver { path, busy_timeout }
    }
}

impl Driver for SqliteDriver {
    fn name(&self) -> &'static str {
        "sqlite"
    }

    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    fn connect(&self) -> Result<Box<dyn DriverConnection>> {
        Ok(Box::new(self.open()?))
    }
}

impl SqliteDriver {
    fn open(&self) -> Result<SqliteConnection> {
        let mut conn = match &self.path {
            SqlitePath::Memory => rusqlite::Connection::open_in_memory(),
            SqlitePath::File(p) => rusqlite::Connection::open(p),
        }
        .map_err(|e| {
            let what = match &self.path {
                SqlitePath::Memory => "an in-memory database".to_owned(),
                SqlitePath::File(p) => format!("{}", p.display()),
            };
            let e = map_error(e);
            Error::new(
                e.kind(),
                format!("unable to open SQLite database {what}: {}; check that the directory exists and is writable", e.message()),
            )
        })?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE_CAPACITY);
        // Query planner stability: a cached statement keeps its plan whatever values are bound.
        // Without it (this SQLite is built with STAT4), a statement whose plan could depend on a
        // bound value (`WHERE hair_color = ?`, a join, an IN list) is marked expired when its
        // bindings change, and rusqlite's cache clears the bindings each time a statement goes
        // back: every execution re-parsed and re-planned the SQL (a two-table join with one
        // row: 12 µs instead of 1.4 µs). Prepared statements on PostgreSQL behave the same way
        // (a generic plan), and plans no longer shift under an application between runs.
        conn.set_db_config(
            rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
            true,
        )
        .map_err(map_error)?;
        let timeout = self.busy_timeout;
        conn.busy_handler(Some(move |count| busy_wait(count, timeout)))
            .map_err(map_error)?;
        conn.execute_batch("PRAGMA foreign_keys = ON")
            .map_err(map_error)?;
        Ok(SqliteConnection {
            conn,
            meta: hashbrown::HashMap::default(),
        })
    }
}

/// SQLite's busy handler: called while another connection holds a lock this one needs.
///
/// Outside a greenlet it sleeps with a growing pause, like SQLite's own `busy_timeout`. Inside
/// a greenlet it *suspends* instead (`await_` of a timer): the connection holding the lock may
/// belong to another task on this very thread (inline mode, or a home thread shared by many
/// sessions), and blocking the thread would keep that task from ever committing. Suspending
/// inside SQLite's call is sound: the frames stay on the coroutine stack, and nothing else
/// uses this connection meanwhile. If the greenlet is cancelled while suspended here, the
/// unwind is caught before it reaches SQLite's C frames and the statement fails with
/// `SQLITE_BUSY`; the unwinding resumes at the next suspension point.
fn busy_wait(count: i32, timeout: Duration) -> bool {
    let step = |i: i32| Duration::from_millis(1u64 << i.clamp(0, 6)).min(Duration::from_millis(50));
    let waited: Duration = (0..count).map(step).sum();
    if waited >= timeout {
        return false;
    }
    let pause = step(count);
    if calcine_greenlet::in_greenlet() {
        let slept = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            calcine_greenlet::await_(tokio::time::sleep(pause))
        }));
        matches!(slept, Ok(Ok(())))
    } else {
        std::thread::sleep(pause);
        true
    }
}

/// One rusqlite connection.
struct SqliteConnection {
    conn: rusqlite::Connection,
    /// Result columns and their decoders by SQL text, worked out once per statement.
    meta: hashbrown::HashMap<String, StatementMeta, rustc_hash::FxBuildHasher>,
}

/// Prepares `sql` through the connection's statement cache and binds `params`.
fn prepare_on<'c>(
    conn: &'c rusqlite::Connection,
    sql: &str,
    params: &[Value],
) -> Result<rusqlite::CachedStatement<'c>> {
    let mut stmt = conn.prepare_cached(sql).map_err(map_error)?;
    crate::driver::check_width(stmt.parameter_count(), params.len())?;
    bind(&mut stmt, params)?;
    Ok(stmt)
}

/// Binds `params` to the statement's placeholders, in order (their count checked by the
/// caller).
fn bind(stmt: &mut rusqlite::Statement<'_>, params: &[Value]) -> Result<()> {
    for (i, p) in params.iter().enumerate() {
        stmt.raw_bind_parameter(i + 1, Param(p))
            .map_err(map_error)?;
    }
    Ok(())
}

/// The result column names and declared types of `stmt`, as the cursor decodes them.
fn read_columns(stmt: &rusqlite::Statement<'_>) -> (Arc<[String]>, Arc<[Decl]>) {
    (
        stmt.column_names().map(str::to_owned).collect(),
        stmt.columns().map(|c| Decl::of(c.decl_type())).collect(),
    )
}

/// Whether `sql` changes the schema (the statement-metadata cache is then dropped).
fn is_ddl(sql: &str) -> bool {
    let head = sql.trim_start().as_bytes();
    ["CREATE", "DROP", "ALTER"].iter().any(|w| {
        head.len() >= w.len()
            && head[..w.len()].eq_ignore_ascii_case(w.as_bytes())
            && head.get(w.len()).is_none_or(|c| !c.is_ascii_alphabetic())
    })
}

/// What a prepared statement's results look like (shared by every execution of it).
#[derive(Clone)]
struct StatementMeta {
    columns: Arc<[String]>,
    decls: Arc<[Decl]>,
    readonly: bool,
    /// The statement's re-prepare count when these columns were read from it.
    reprepared: i32,
}

impl SqliteConnection {
    fn prepare(&self, sql: &str, params: &[Value]) -> Result<rusqlite::CachedStatement<'_>> {
        prepare_on(&self.conn, sql, params)
    }

    fn simple(&self, sql: &str) -> Result<()> {
        self.conn
            .prepare_cached(sql)
            .and_then(|mut s| s.raw_execute())
            .map(drop)
            .map_err(map_error)
    }
}

impl DriverConnection for SqliteConnection {
    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64> {
        if is_ddl(sql) {
            self.meta.clear();
        }
        let mut stmt = self.prepare(sql, params)?;
        let mut rows = stmt.raw_query();
        while rows.next().map_err(map_error)?.is_some() {}
        drop(rows);
        Ok(self.conn.changes())
    }

    fn execute_each_with(
        &mut self,
        sql: &str,
        width: usize,
        rows: usize,
        fill: &mut FillParams<'_>,
        before: &mut dyn FnMut(usize),
        after: &mut dyn FnMut(usize, Option<i64>) -> Result<()>,
    ) -> Result<()> {
        if rows == 0 {
            return Ok(());
        }
        if is_ddl(sql) {
            self.meta.clear();
        }
        // Prepared (or taken from the statement cache) once for all the sets; per set the lent
        // values are bound as they come (text and blobs copied by SQLite, SQLITE_TRANSIENT),
        // then the statement is stepped and reset (dropping `Rows` resets it).
        let mut stmt = self.conn.prepare_cached(sql).map_err(map_error)?;
        crate::driver::check_width(stmt.parameter_count(), width)?;
        for i in 0..rows {
            let mut sink = BindSink {
                stmt: &mut stmt,
                next: 0,
                error: None,
            };
            fill(i, &mut sink)?;
            let BindSink { next, error, .. } = sink;
            if let Some(e) = error {
                return Err(e);
            }
            crate::driver::check_width(width, next)?;
            before(i);
            let mut rows = stmt.raw_query();
            while rows.next().map_err(map_error)?.is_some() {}
            drop(rows);
            after(i, Some(self.conn.last_insert_rowid()))?;
        }
        Ok(())
    }

    fn query<'c>(&'c mut self, sql: &str, params: &[Value]) -> Result<Box<dyn DriverCursor + 'c>> {
        if is_ddl(sql) {
            // A schema change can change what other statements return.
            self.meta.clear();
        }
        let SqliteConnection { conn, meta: cache } = self;
        let stmt = prepare_on(conn, sql, params)?;
        // The schema may have changed under a cached statement (another connection's DDL):
        // SQLite then re-prepares it, and its columns may differ. A statement that has run
        // before on this connection had its columns checked against the entry on its first run
        // (the entry is replaced on a mismatch); unless SQLite re-prepared it since, they still
        // match, and checking them again by name costs a call per column. A fresh statement (an
        // evicted one prepared again) or a re-prepared one is checked name by name.
        let reprepared = stmt.get_status(rusqlite::StatementStatus::RePrepare);
        let seen = stmt.get_status(rusqlite::StatementStatus::Run) > 0;
        let fresh = |stmt: &rusqlite::Statement<'_>| {
            let (columns, decls) = read_columns(stmt);
            StatementMeta {
                columns,
                decls,
                readonly: stmt.readonly(),
                reprepared,
            }
        };
        if cache.len() >= STATEMENT_CACHE_CAPACITY && !cache.contains_key(sql) {
            cache.clear();
        }
        // One lookup; the cursor borrows the entry (no reference counts taken per statement)
        // and keeps it up to date if SQLite re-prepares the statement while stepping it.
        let meta = match cache.entry_ref(sql) {
            hashbrown::hash_map::EntryRef::Occupied(o) => {
                let m = o.into_mut();
                let usable = (seen && m.reprepared == reprepared) || {
                    let same = m.columns.len() == stmt.column_count()
                        && m.columns
                            .iter()
                            .enumerate()
                            .all(|(i, n)| stmt.column_name(i).is_ok_and(|c| c == n));
                    m.reprepared = reprepared;
                    same
                };
                if !usable {
                    *m = fresh(&stmt);
                }
                m
            }
            hashbrown::hash_map::EntryRef::Vacant(v) => v.insert(fresh(&stmt)),
        };
        let mut cursor = SqliteCursor {
            conn,
            stmt,
            meta,
            first: crate::driver::FirstRow::default(),
            done: false,
            fresh: true,
        };
        // Step once now, so the statement has run (DML takes effect, errors surface here) even
        // if the cursor is never read, as with PEP-249's `cursor.execute`.
        let mut first = Vec::new();
        let n = cursor.step(1, &mut first)?;
        cursor.first = crate::driver::FirstRow::new(first, n);
        Ok(Box::new(cursor))
    }

    fn begin(&mut self) -> Result<()> {
        self.simple("BEGIN")
    }

    fn commit(&mut self) -> Result<()> {
        // No transaction open (autocommit mode, or the SQL ended it): nothing to commit.
        if self.conn.is_autocommit() {
            Ok(())
        } else {
            self.simple("COMMIT")
        }
    }

    fn rollback(&mut self) -> Result<()> {
        if self.conn.is_autocommit() {
            Ok(())
        } else {
            self.simple("ROLLBACK")
        }
    }

    fn in_transaction(&self) -> bool {
        !self.conn.is_autocommit()
    }

    fn last_insert_id(&self) -> Option<i64> {
        Some(self.conn.last_insert_rowid())
    }

    fn ping(&mut self) -> Result<()> {
        self.conn
            .prepare_cached("SELECT 1")
            .and_then(|mut s| s.query_row([], |_| Ok(())))
            .map_err(map_error)
    }

    fn close(self: Box<Self>) -> Result<()> {
        self.conn.close().map_err(|(_, e)| map_error(e))
    }
}

/// A lazily stepped statement.
struct SqliteCursor<'c> {
    conn: &'c rusqlite::Connection,
    stmt: rusqlite::CachedStatement<'c>,
    /// The statement's columns, from the connection's cache (updated there if SQLite
    /// re-prepares the statement).
    meta: &'c mut StatementMeta,
    /// The row stepped at execution time, handed out first.
    first: crate::driver::FirstRow,
    done: bool,
    /// Not stepped yet: the first step checks whether SQLite re-prepared the statement.
    fresh: bool,
}

/// After the first step of a run: if SQLite re-prepared `stmt` during it (another connection
/// changed the schema), its result columns may have changed; `meta` reads them from it again.
fn refresh_columns(stmt: &rusqlite::Statement<'_>, meta: &mut StatementMeta) {
    let now = stmt.get_status(rusqlite::StatementStatus::RePrepare);
    if now != meta.reprepared {
        meta.reprepared = now;
        (meta.columns, meta.decls) = read_columns(stmt);
    }
}

impl SqliteCursor<'_> {
    /// Steps up to `max` rows, calling `on_row` with each (and the columns' decoders and
    /// names), which returns whether to go on; returns how many rows were stepped.
    ///
    /// rusqlite's `Rows` resets the statement when dropped; between fetches the position must be
    /// kept, so a `Rows` that has not reached the end is `mem::forget`-ed (it owns no heap memory;
    /// forgetting it only skips the reset) and the next `raw_query()` continues stepping where it
    /// stopped. `Drop` for the cursor resets the statement before it goes back to the cache.
    #[inline]
    fn step_with(
        &mut self,
        max: usize,
        mut on_row: impl FnMut(&rusqlite::Row<'_>, &[Decl], &[String]) -> Result<bool>,
    ) -> Result<usize> {
        if self.done {
            return Ok(0);
        }
        let SqliteCursor {
            stmt,
            meta,
            fresh,
            done,
            ..
        } = self;
        let mut rows = stmt.raw_query();
        let mut n = 0;
        while n < max {
            match rows.next() {
                Ok(Some(row)) => {
                    if std::mem::take(fresh) {
                        refresh_columns(row.as_ref(), meta);
                    }
                    n += 1;
                    if !on_row(row, &meta.decls, &meta.columns)? {
                        break;
                    }
                }
                Ok(None) => {
                    drop(rows);
                    if std::mem::take(fresh) {
                        refresh_columns(stmt, meta);
                    }
                    *done = true;
                    return Ok(n);
                }
                Err(e) => {
                    *done = true;
                    return Err(map_error(e));
                }
            }
        }
        std::mem::forget(rows);
        Ok(n)
    }

    /// Steps up to `max` rows into `out`, decoded in place.
    fn step(&mut self, max: usize, out: &mut Vec<Value>) -> Result<usize> {
        self.step_with(max, |row, decls, columns| {
            let base = out.len();
            out.resize_with(base + decls.len(), Value::default);
            let slots = &mut out[base..];
            for (i, (decl, slot)) in decls.iter().zip(slots).enumerate() {
                let v = row.get_ref(i).map_err(map_error)?;
                decl.decode_into(v, &columns[i], slot)?;
            }
            Ok(true)
        })
    }
}

impl DriverCursor for SqliteCursor<'_> {
    fn columns(&self) -> &Arc<[String]> {
        &self.meta.columns
    }

    fn fetch(&mut self, max: usize, out: &mut Vec<Value>) -> Result<usize> {
        let n = self.first.fetch(max, out);
        Ok(n + self.step(max - n, out)?)
    }

    fn read_rows(
        &mut self,
        max: usize,
        _prefetch: usize,
        f: &mut dyn FnMut(&mut dyn crate::driver::DriverRow) -> bool,
    ) -> Result<usize> {
        let first = self.first.read(max, f);
        crate::driver::read_after_first(first, max, f, |left, f| {
            self.step_with(left, |row, decls, columns| {
                Ok(f(&mut SqliteRow {
                    row,
                    decls,
                    columns,
                }))
            })
        })
    }

    fn rows_affected(&self) -> Option<u64> {
        (self.done && !self.meta.readonly).then(|| self.conn.changes())
    }
}

/// A stepped row of a [`SqliteCursor`], its columns decoded as they are read.
struct SqliteRow<'a, 's> {
    row: &'a rusqlite::Row<'s>,
    decls: &'a [Decl],
    columns: &'a [String],
}

impl crate::driver::DriverRow for SqliteRow<'_, '_> {
    #[inline]
    fn get(&mut self, i: usize) -> Result<calcine_sql::ValueRef<'_>> {
        let v = self.row.get_ref(i).map_err(map_error)?;
        match (self.decls.get(i), self.columns.get(i)) {
            (Some(decl), Some(column)) => decl.decode_ref(v, column),
            _ => Err(Error::internal(format!("no column {i} in this SQLite row"))),
        }
    }
}

impl Drop for SqliteCursor<'_> {
    fn drop(&mut self) {
        if !self.done {
            // A fresh `Rows` resets the statement when dropped (see `step`).
            drop(self.stmt.raw_query());
        }
    }
}

/// A [`Value`] bound as a rusqlite parameter (storage per the module docs).
struct Param<'a>(&'a Value);

impl rusqlite::ToSql for Param<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        value_to_sql(self.0)
    }
}

/// How a [`Value`] is bound (see the module's table).
fn value_to_sql(value: &Value) -> rusqlite::Result<ToSqlOutput<'_>> {
    use rusqlite::types::Value as Owned;
    Ok(match value {
        Value::Null => ToSqlOutput::Borrowed(ValueRef::Null),
        Value::Bool(b) => ToSqlOutput::Borrowed(ValueRef::Integer(i64::from(*b))),
        Value::Int(i) => ToSqlOutput::Borrowed(ValueRef::Integer(*i)),
        Value::Float(f) => ToSqlOutput::Borrowed(ValueRef::Real(*f)),
        Value::Numeric(s) | Value::Text(s) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
        Value::Bytes(b) => ToSqlOutput::Borrowed(ValueRef::Blob(b)),
        Value::Date(d) => ToSqlOutput::Owned(Owned::Text(d.format(DATE_FORMAT).to_string())),
        Value::Time(t) => ToSqlOutput::Owned(Owned::Text(t.format(TIME_FORMAT).to_string())),
        Value::Timestamp(t) => {
            ToSqlOutput::Owned(Owned::Text(t.format(TIMESTAMP_FORMAT).to_string()))
        }
        Value::TimestampTz(t) => ToSqlOutput::Owned(Owned::Text(format!(
            "{}+00:00",
            t.naive_utc().format(TIMESTAMP_FORMAT)
        ))),
        Value::Uuid(u) => ToSqlOutput::Owned(Owned::Text(u.hyphenated().to_string())),
        Value::Json(j) => ToSqlOutput::Owned(Owned::Text(j.to_string())),
        other => {
            return Err(rusqlite::Error::ToSqlConversionFailure(
                format!(
                    "calcine's SQLite driver cannot bind a value of kind {} (SQLite has no such type)",
                    other.kind_name()
                )
                .into(),
            ));
        }
    })
}

/// Binds lent values to a statement's placeholders as they are pushed
/// ([`DriverConnection::execute_each_with`]); the first error is kept for after the set.
struct BindSink<'s, 'c> {
    stmt: &'s mut rusqlite::CachedStatement<'c>,
    /// Values pushed so far (the next placeholder is `next + 1`).
    next: usize,
    error: Option<Error>,
}

impl ParamSink for BindSink<'_, '_> {
    fn push(&mut self, value: calcine_sql::ValueRef<'_>) {
        self.next += 1;
        if self.error.is_some() {
            return;
        }
        if let Err(e) = self.stmt.raw_bind_parameter(self.next, LentParam(&value)) {
            self.error = Some(map_error(e));
        }
    }
}

/// A lent value as rusqlite binds it: as [`Param`] binds the owned value.
struct LentParam<'v, 'a>(&'v calcine_sql::ValueRef<'a>);

impl rusqlite::ToSql for LentParam<'_, '_> {
    #[inline]
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        use calcine_sql::ValueRef as Lent;
        Ok(match self.0 {
            Lent::Null => ToSqlOutput::Borrowed(ValueRef::Null),
            Lent::Int(i) => ToSqlOutput::Borrowed(ValueRef::Integer(*i)),
            Lent::Float(f) => ToSqlOutput::Borrowed(ValueRef::Real(*f)),
            Lent::Text(s) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
            Lent::Bytes(b) => ToSqlOutput::Borrowed(ValueRef::Blob(b)),
            Lent::Value(v) => return value_to_sql(v),
        })
    }
}

/// What a column's declared type asks the decoder to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Decl {
    Bool,
    Float,
    Numeric,
    Date,
    Time,
    Timestamp,
    TimestampTz,
    Uuid,
    Json,
    /// Decode by storage class.
    Storage,
}

impl Decl {
    fn of(decl: Option<&str>) -> Decl {
        let Some(decl) = decl else {
            return Decl::Storage;
        };
        let t = decl.to_ascii_uppercase();
        let has = |s: &str| t.contains(s);
        if has("BOOL") {
            Decl::Bool
        } else if has("TIMESTAMPTZ") || (has("TIMESTAMP") && has("TIME ZONE") && !has("WITHOUT")) {
            Decl::TimestampTz
        } else if has("TIMESTAMP") || has("DATETIME") {
            Decl::Timestamp
        } else if has("DATE") {
            Decl::Date
        } else if has("TIME") {
            Decl::Time
        } else if has("UUID") || has("GUID") {
            Decl::Uuid
        } else if has("JSON") {
            Decl::Json
        } else if has("NUMERIC") || has("DECIMAL") {
            Decl::Numeric
        } else if has("INT") {
            Decl::Storage
        } else if has("REAL") || has("FLOA") || has("DOUB") {
            Decl::Float
        } else {
            Decl::Storage
        }
    }

    /// The value of a column declared as `self`: by storage class (the common case, kept
    /// small so it inlines into the row loop), or parsed per the declared type.
    #[cfg(test)]
    fn decode(self, v: ValueRef<'_>, column: &str) -> Result<Value> {
        let mut slot = Value::Null;
        self.decode_into(v, column, &mut slot)?;
        Ok(slot)
    }

    /// Decodes into `slot` (a `NULL` already in the chunk's buffer). Each common case is
    /// written in place: a `Result<Value>` handed back and then pushed was assembled on the
    /// stack in pieces and read back whole, a store-forwarding stall on every value (a third
    /// of the row loop in a profile).
    #[inline]
    fn decode_into(self, v: ValueRef<'_>, column: &str, slot: &mut Value) -> Result<()> {
        match (self, v) {
            (_, ValueRef::Null) => {}
            (Decl::Storage, ValueRef::Integer(i)) => Value::replace(slot, Value::Int(i)),
            (Decl::Storage, ValueRef::Text(b)) => {
                Value::replace(slot, Value::Text(text(b, column)?))
            }
            (Decl::Storage, ValueRef::Real(f)) => Value::replace(slot, Value::Float(f)),
            (decl, v) => Value::replace(slot, decl.decode_declared(v, column)?),
        }
        Ok(())
    }

    /// Column value `v` of a column declared as `self`, borrowed where it is stored text or
    /// bytes (what [`decode_into`](Decl::decode_into) decodes, without the `Value`).
    #[inline]
    fn decode_ref<'v>(self, v: ValueRef<'v>, column: &str) -> Result<calcine_sql::ValueRef<'v>> {
        use calcine_sql::ValueRef as Out;
        Ok(match (self, v) {
            (_, ValueRef::Null) => Out::Null,
            (Decl::Storage, ValueRef::Integer(i)) => Out::Int(i),
            (Decl::Storage, ValueRef::Text(b)) => Out::Text(text_ref(b, column)?),
            (Decl::Storage, ValueRef::Real(f)) => Out::Float(f),
            (Decl::Storage, ValueRef::Blob(b)) => Out::Bytes(b),
            (decl, v) => Out::Value(decl.decode_declared(v, column)?),
        })
    }

    #[inline(never)]
    fn decode_declared(self, v: ValueRef<'_>, column: &str) -> Result<Value> {
        let parsed = match (self, v) {
            (Decl::Bool, ValueRef::Integer(i)) => Some(Value::Bool(i != 0)),
            (Decl::Float, ValueRef::Integer(i)) => Some(Value::Float(i as f64)),
            (Decl::Numeric, ValueRef::Integer(i)) => Some(Value::Numeric(i.to_string())),
            (Decl::Numeric, ValueRef::Real(f)) => Some(Value::Numeric(f.to_string())),
            (Decl::Numeric, ValueRef::Text(b)) => Some(Value::Numeric(text(b, column)?)),
            (Decl::Date, ValueRef::Text(b)) => std::str::from_utf8(b)
                .ok()
                .and_then(|s| chrono::NaiveDate::parse_from_str(s, DATE_FORMAT).ok())
                .map(Value::Date),
            (Decl::Time, ValueRef::Text(b)) => std::str::from_utf8(b)
                .ok()
                .and_then(|s| chrono::NaiveTime::parse_from_str(s, TIME_FORMAT).ok())
                .map(Value::Time),
            (Decl::Timestamp, ValueRef::Text(b)) => std::str::from_utf8(b)
                .ok()
                .and_then(parse_timestamp)
                .map(Value::Timestamp),
            (Decl::TimestampTz, ValueRef::Text(b)) => std::str::from_utf8(b)
                .ok()
                .and_then(parse_timestamptz)
                .map(Value::TimestampTz),
            (Decl::Uuid, ValueRef::Text(b)) => std::str::from_utf8(b)
                .ok()
                .and_then(|s| uuid::Uuid::try_parse(s).ok())
                .map(Value::Uuid),
            (Decl::Uuid, ValueRef::Blob(b)) => uuid::Uuid::from_slice(b).ok().map(Value::Uuid),
            (Decl::Json, ValueRef::Text(b)) => serde_json::from_slice::<serde_json::Value>(b)
                .ok()
                .map(Value::Json),
            _ => None,
        };
        match parsed {
            Some(v) => Ok(v),
            None => storage(v, column),
        }
    }
}

/// A value by its storage class (what it decodes to when its declared type does not parse it).
fn storage(v: ValueRef<'_>, column: &str) -> Result<Value> {
    Ok(match v {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => Value::Int(i),
        ValueRef::Real(f) => Value::Float(f),
        ValueRef::Text(b) => Value::Text(text(b, column)?),
        ValueRef::Blob(b) => Value::Bytes(b.to_vec()),
    })
}

/// Stored text as a `String`; a typed error naming the column when it is not UTF-8.
#[inline]
fn text(b: &[u8], column: &str) -> Result<String> {
    text_ref(b, column).map(str::to_owned)
}

/// Stored text as a `&str` ([`text`]).
#[inline]
fn text_ref<'b>(b: &'b [u8], column: &str) -> Result<&'b str> {
    match std::str::from_utf8(b) {
        Ok(s) => Ok(s),
        Err(e) => Err(not_utf8(column, e)),
    }
}

#[cold]
fn not_utf8(column: &str, e: std::str::Utf8Error) -> Error {
    Error::data(format!(
        "column {column:?} holds text that is not valid UTF-8: {e}"
    ))
}

fn parse_timestamp(s: &str) -> Option<chrono::NaiveDateTime> {
    chrono::NaiveDateTime::parse_from_str(s, TIMESTAMP_FORMAT)
        .or_else(|_| chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f"))
        .ok()
}

fn parse_timestamptz(s: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f%:z")
        .or_else(|_| chrono::DateTime::parse_from_rfc3339(s))
        .map(|d| d.with_timezone(&chrono::Utc))
        .ok()
}

/// The name of a SQLite (extended) result code, used as [`Error::sqlstate`].
fn code_name(extended: i32) -> String {
    let name = match extended {
        275 => "SQLITE_CONSTRAINT_CHECK",
        787 => "SQLITE_CONSTRAINT_FOREIGNKEY",
        1299 => "SQLITE_CONSTRAINT_NOTNULL",
        1555 => "SQLITE_CONSTRAINT_PRIMARYKEY",
        2067 => "SQLITE_CONSTRAINT_UNIQUE",
        _ => match extended & 0xff {
            1 => "SQLITE_ERROR",
            2 => "SQLITE_INTERNAL",
            3 => "SQLITE_PERM",
            4 => "SQLITE_ABORT",
            5 => "SQLITE_BUSY",
            6 => "SQLITE_LOCKED",
            7 => "SQLITE_NOMEM",
            8 => "SQLITE_READONLY",
            9 => "SQLITE_INTERRUPT",
            10 => "SQLITE_IOERR",
            11 => "SQLITE_CORRUPT",
            13 => "SQLITE_FULL",
            14 => "SQLITE_CANTOPEN",
            17 => "SQLITE_SCHEMA",
            18 => "SQLITE_TOOBIG",
            19 => "SQLITE_CONSTRAINT",
            20 => "SQLITE_MISMATCH",
            21 => "SQLITE_MISUSE",
            23 => "SQLITE_AUTH",
            25 => "SQLITE_RANGE",
            26 => "SQLITE_NOTADB",
            _ => return format!("SQLITE_{extended}"),
        },
    };
    name.to_owned()
}

/// Classifies a rusqlite error (pysqlite's mapping of result codes to PEP-249 classes).
pub(crate) fn map_error(e: rusqlite::Error) -> Error {
    use rusqlite::ErrorCode as C;
    match e {
        rusqlite::Error::SqliteFailure(ffi, msg) => {
            let kind = match ffi.code {
                C::ConstraintViolation | C::TypeMismatch => ErrorKind::Integrity,
                C::TooBig => ErrorKind::Data,
                C::InternalMalfunction | C::NotFound => ErrorKind::Internal,
                C::ApiMisuse | C::ParameterOutOfRange => ErrorKind::Programming,
                _ => ErrorKind::Operational,
            };
            let message = msg.unwrap_or_else(|| ffi.to_string());
            let constraint = message
                .split_once("constraint failed: ")
                .map(|(_, c)| c.trim().to_owned());
            let mut err = Error::new(kind, message)
                .with_sqlstate(code_name(ffi.extended_code))
                .with_source(ffi);
            if let Some(c) = constraint {
                err = err.with_constraint(c);
            }
            err
        }
        rusqlite::Error::SqlInputError {
            error, msg, offset, ..
        } => {
            let e = map_error(rusqlite::Error::SqliteFailure(error, Some(msg)));
            let message = format!("{} (at byte {offset} of the statement)", e.message());
            let mut out = Error::new(e.kind(), message);
            if let Some(s) = e.sqlstate() {
                out = out.with_sqlstate(s);
            }
            out
        }
        rusqlite::Error::MultipleStatement => Error::programming(
            "You can only execute one statement at a time; split the SQL into separate calls",
        ),
        rusqlite::Error::InvalidParameterCount(given, expected) => Error::programming(format!(
            "Incorrect number of bindings supplied. The current statement uses {expected}, and there are {given} supplied."
        )),
        rusqlite::Error::ToSqlConversionFailure(e) => {
            Error::new(ErrorKind::Programming, e.to_string())
        }
        rusqlite::Error::Utf8Error(col, e) => Error::data(format!(
            "column {col} holds text that is not valid UTF-8: {e}"
        )),
        rusqlite::Error::NulError(e) => Error::data(format!("text contains a NUL byte: {e}")),
        other => Error::interface(other.to_string()).with_source(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declared_types_pick_decoders() {
        assert_eq!(
            Decl::of(Some("TIMESTAMP WITH TIME ZONE")),
            Decl::TimestampTz
        );
        assert_eq!(
            Decl::of(Some("timestamp without time zone")),
            Decl::Timestamp
        );
        assert_eq!(Decl::of(Some("DATETIME")), Decl::Timestamp);
        assert_eq!(Decl::of(Some("DATE")), Decl::Date);
        assert_eq!(Decl::of(Some("TIME")), Decl::Time);
        assert_eq!(Decl::of(Some("BOOLEAN")), Decl::Bool);
        assert_eq!(Decl::of(Some("NUMERIC(10, 2)")), Decl::Numeric);
        assert_eq!(Decl::of(Some("BIGINT")), Decl::Storage);
        assert_eq!(Decl::of(Some("DOUBLE PRECISION")), Decl::Float);
        assert_eq!(Decl::of(None), Decl::Storage);
    }

    /// A cached statement whose plan could depend on a bound value is not re-prepared when it
    /// runs again with other values (query planner stability, see `SqliteDriver::open`).
    #[test]
    fn cached_statements_are_not_reprepared_when_bindings_change() {
        let driver = SqliteDriver::new(SqlitePath::Memory, Duration::from_secs(1));
        let mut conn = driver.open().unwrap();
        conn.conn
            .execute_batch(
                "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL, hair_color TEXT);
                 CREATE TABLE posts (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL, title TEXT);
                 INSERT INTO users VALUES (1, 'ann', 'black'), (2, 'bob', 'brown');",
            )
            .unwrap();
        let sql = "SELECT users.id, posts.id FROM users LEFT OUTER JOIN posts \
                   ON users.id = posts.user_id WHERE users.hair_color = ?";
        for (hair, expect) in [("black", 1), ("brown", 2), ("black", 1), ("brown", 2)] {
            let mut cursor = conn.query(sql, &[Value::from(hair)]).unwrap();
            let mut rows = Vec::new();
            assert_eq!(cursor.fetch(10, &mut rows).unwrap(), 1);
            assert_eq!(rows, vec![Value::Int(expect), Value::Null]);
        }
        let stmt = conn.conn.prepare_cached(sql).unwrap();
        assert_eq!(
            stmt.get_status(rusqlite::StatementStatus::RePrepare),
            0,
            "the statement was re-prepared on a change of bindings"
        );
    }

    #[test]
    fn unparseable_declared_value_falls_back_to_storage() {
        let v = Decl::Date
            .decode(ValueRef::Text(b"not a date"), "d")
            .unwrap();
        assert_eq!(v, Value::Text("not a date".into()));
        let err = Decl::Storage
            .decode(ValueRef::Text(&[0xff, 0xfe]), "name")
            .unwrap_err();
        assert!(
            err.is_data() && err.to_string().contains("\"name\""),
            "{err}"
        );
    }
}
