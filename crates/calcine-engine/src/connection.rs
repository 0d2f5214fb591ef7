//! [`Connection`]: one checked-out database connection (SQLAlchemy's `Connection`).

use std::fmt;

use calcine_sql::{Dialect, Executable, FromValue, IntoCompiled, Value};

use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::event::ExecutePhase;
use crate::pool::PooledConnection;
use crate::result::{CursorResult, ScalarResult};
use crate::transaction::Transaction;

/// A connection checked out of an [`Engine`]'s pool (SQLAlchemy 2.0's `Connection`).
///
/// * **Autobegin**: the first statement begins a transaction; [`commit`](Connection::commit) or
///   [`rollback`](Connection::rollback) ends it. Dropping the connection returns it to the pool,
///   which rolls back whatever was not committed.
/// * [`begin`](Connection::begin) returns a [`Transaction`] guard that rolls back when dropped
///   un-committed; [`begin_nested`](Connection::begin_nested) a SAVEPOINT guard.
/// * Ending a guarded transaction through the connection (`conn.commit()` inside the guard's
///   scope) closes it: further statements fail with
///   [`ResourceClosed`](crate::ErrorKind::ResourceClosed) until the guard's scope ends.
/// * A disconnect-class error invalidates the underlying connection (it is closed, and every
///   pooled connection opened before is replaced); if a transaction was open, statements fail
///   with [`InvalidRequest`](crate::ErrorKind::InvalidRequest) until `rollback()`, after which a
///   new connection is checked out.
///
/// `Send` but not `Sync`: methods take `&mut self`, so two concurrent operations on one
/// connection do not compile.
///
/// # Example
/// ```
/// let engine = calcine_engine::create_engine("sqlite://")?;
/// let mut conn = engine.connect()?;
/// conn.exec_driver_sql("CREATE TABLE t (x INTEGER)", &[])?;
/// conn.exec_driver_sql("INSERT INTO t VALUES (?)", &[5.into()])?;
/// assert!(conn.in_transaction());
/// conn.commit()?;
/// assert_eq!(conn.exec_driver_sql("SELECT x FROM t", &[])?.scalar::<i64>()?, 5);
/// # Ok::<(), calcine_engine::Error>(())
/// ```
pub struct Connection {
    engine: Engine,
    conn: Option<PooledConnection>,
    /// Set when a driver call failed with a disconnect-class error; acted on at the next call.
    disconnected: bool,
    tx: TxState,
    /// Statements run in the database's autocommit mode: no `BEGIN` ([`set_autocommit`]).
    ///
    /// [`set_autocommit`]: Connection::set_autocommit
    autocommit: bool,
}

/// A [`Connection`] split for one statement ([`Connection::statement_parts`]).
struct Parts<'c> {
    inner: &'c crate::engine::EngineInner,
    driver: &'c dyn crate::driver::Driver,
    pooled: &'c mut crate::pool::PooledConnection,
    disconnected: &'c mut bool,
}

/// Transaction bookkeeping of one [`Connection`].
#[derive(Debug, Default)]
struct TxState {
    root: Option<RootTx>,
    /// A guarded root transaction that was ended through the connection inside the guard's
    /// scope (SQLAlchemy: "can't operate on closed transaction inside context manager").
    closed_guard: Option<u64>,
    next_id: u64,
    savepoint_seq: u64,
}

#[derive(Debug)]
struct RootTx {
    id: u64,
    /// Begun by a [`Transaction`] guard (as opposed to autobegin).
    managed: bool,
    /// The connection was lost during this transaction; only a rollback is possible.
    invalid: bool,
    savepoints: Vec<(u64, String)>,
}

const CLOSED_IN_CONTEXT: &str = "Can't operate on closed transaction inside context manager. \
     Please complete the context manager (drop or finish the Transaction guard) before emitting further commands.";
const INVALID_TX: &str = "Can't reconnect until invalid transaction is rolled back. \
     Please rollback() fully before proceeding";

impl Connection {
    pub(crate) fn new(engine: Engine, pooled: PooledConnection) -> Connection {
        Connection {
            autocommit: engine.autocommit(),
            engine,
            conn: Some(pooled),
            disconnected: false,
            tx: TxState::default(),
        }
    }

    /// Switches this connection's autocommit mode (SQLAlchemy's
    /// `connection.execution_options(isolation_level="AUTOCOMMIT")`, and back), for this
    /// `Connection` only: the next one from the pool starts with the engine's setting
    /// ([`EngineBuilder::autocommit`], [`Engine::with_autocommit`]).
    ///
    /// # Errors
    /// [`InvalidRequest`](crate::ErrorKind::InvalidRequest) while a transaction is begun
    /// (commit or roll it back first): a transaction begun in one mode is not ended in the
    /// other.
    ///
    /// [`EngineBuilder::autocommit`]: crate::EngineBuilder::autocommit
    pub fn set_autocommit(&mut self, on: bool) -> Result<()> {
        if self.autocommit != on && self.tx.root.is_some() {
            return Err(Error::invalid_request(
                "can't change the autocommit mode while a transaction is begun on this \
                 Connection; call commit() or rollback() first",
            ));
        }
        self.autocommit = on;
        Ok(())
    }

    /// Whether statements run in the database's autocommit mode ([`set_autocommit`]).
    ///
    /// [`set_autocommit`]: Connection::set_autocommit
    pub fn autocommit(&self) -> bool {
        self.autocommit
    }

    /// The engine this connection came from.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The dialect statements are compiled for.
    pub fn dialect(&self) -> Dialect {
        self.engine.dialect()
    }

    /// Compiles `statement` (through the engine's statement cache) and executes it
    /// (SQLAlchemy's `Connection.execute`). Autobegins a transaction. Takes the statement by
    /// reference (`&stmt`, kept for another run) or by value: an `insert(..)` given by value
    /// moves its `VALUES` into the parameters instead of copying them.
    ///
    /// # Errors
    /// The database's error with the statement and parameters attached;
    /// [`ResourceClosed`](crate::ErrorKind::ResourceClosed) inside a closed transaction's scope;
    /// [`InvalidRequest`](crate::ErrorKind::InvalidRequest) after an invalidation until
    /// `rollback()`.
    pub fn execute<S: IntoCompiled>(&mut self, statement: S) -> Result<CursorResult<'_>> {
        let compiled = statement.into_compiled_for(self.dialect(), self.engine.inner().cache());
        self.run(&compiled.sql, &compiled.params)
    }

    /// Executes SQL text with bound parameters, passed to the driver as is (SQLAlchemy's
    /// `exec_driver_sql`): `?` placeholders for SQLite, `$1, $2, ...` for PostgreSQL.
    /// Autobegins a transaction.
    ///
    /// # Errors
    /// As [`execute`](Connection::execute).
    pub fn exec_driver_sql(&mut self, sql: &str, params: &[Value]) -> Result<CursorResult<'_>> {
        self.run(sql, params)
    }

    /// Executes SQL text that returns no rows (an INSERT, UPDATE or DELETE without RETURNING)
    /// and returns the number of rows it affected, without building a result: the lean path
    /// the ORM's flush uses for its cached statements. Placeholders as in
    /// [`exec_driver_sql`](Connection::exec_driver_sql). Autobegins a transaction.
    ///
    /// # Errors
    /// As [`execute`](Connection::execute).
    pub fn exec_driver_sql_rowcount(&mut self, sql: &str, params: &[Value]) -> Result<u64> {
        self.dispatch(sql, params, |c| c.execute(sql, params))
            .map(|d| d.out)
    }

    /// Executes SQL text that returns no rows once per parameter set, in order (SQLAlchemy's
    /// `executemany` for an INSERT without RETURNING): `params` holds `rows` sets of equal
    /// width, one after the other. After each set ran, `each(i, last_insert_id)` is called
    /// with the row id it inserted, where the database has one (SQLite). Each set is a
    /// statement to the `before`/`after` events and to `echo`, as if executed alone; SQLite
    /// prepares the statement once for all of them. The ORM's flush inserts consecutive rows
    /// of one shape this way. Autobegins a transaction.
    ///
    /// Stops at the first error: a set's (with the statement and that set's parameters
    /// attached), or `each`'s, returned as it is. The sets before it have run.
    ///
    /// # Errors
    /// As [`execute`](Connection::execute); `each`'s error.
    #[doc(hidden)]
    pub fn exec_driver_sql_each(
        &mut self,
        sql: &str,
        params: &[Value],
        rows: usize,
        each: &mut dyn FnMut(usize, Option<i64>) -> Result<()>,
    ) -> Result<()> {
        if rows == 0 {
            return Ok(());
        }
        let width = crate::driver::param_width(params.len(), rows)?;
        self.exec_driver_sql_each_with(
            sql,
            width,
            rows,
            &mut |i, sink| {
                for v in crate::driver::param_set(params, width, i) {
                    sink.push(v.as_value_ref());
                }
                Ok(())
            },
            each,
        )
    }

    /// [`exec_driver_sql_each`](Connection::exec_driver_sql_each) with each set's `width`
    /// parameters lent by `fill(i, sink)` instead of collected first (see
    /// [`DriverConnection::execute_each_with`]): the ORM's flush binds each new object's
    /// columns straight from the object. The `before`/`after` events and `echo` still see each
    /// set's parameters, as owned values copied only while a listener is registered or echo is
    /// on; an error of a set gets them from `fill` again. Autobegins a transaction.
    ///
    /// Stops at the first error: a set's (with the statement and that set's parameters
    /// attached), or `fill`'s or `each`'s, returned as they are. The sets before it have run.
    ///
    /// # Errors
    /// As [`execute`](Connection::execute); `fill`'s and `each`'s errors.
    #[doc(hidden)]
    pub fn exec_driver_sql_each_with(
        &mut self,
        sql: &str,
        width: usize,
        rows: usize,
        fill: &mut crate::driver::FillParams<'_>,
        each: &mut dyn FnMut(usize, Option<i64>) -> Result<()>,
    ) -> Result<()> {
        if rows == 0 {
            return Ok(());
        }
        let Parts {
            inner,
            driver,
            pooled,
            disconnected,
            ..
        } = self.statement_parts()?;
        // The span of the set being executed, entered in `before`, closed in `after` (or when
        // a set fails).
        let span = std::cell::RefCell::new(None);
        let current = std::cell::Cell::new(0);
        // The current set's parameters, copied while someone looks at them.
        let seen: std::cell::RefCell<Vec<Value>> = std::cell::RefCell::new(Vec::new());
        let watched = std::cell::Cell::new(false);
        // An error of `fill` or `each` is the caller's: it goes back untouched.
        let caller_failed = std::cell::Cell::new(false);
        let out = pooled.get().execute_each_with(
            sql,
            width,
            rows,
            &mut |i, sink| {
                current.set(i);
                let watch = inner.echo || inner.listeners.any();
                watched.set(watch);
                let r = if watch {
                    let mut seen = seen.borrow_mut();
                    Value::clear_all(&mut seen);
                    fill(
                        i,
                        &mut Tee {
                            sink,
                            seen: &mut seen,
                        },
                    )
                } else {
                    fill(i, sink)
                };
                caller_failed.set(r.is_err());
                r
            },
            &mut |_| {
                *span.borrow_mut() = Some(before_statement(inner, driver, sql, &seen.borrow()));
            },
            &mut |i, id| {
                inner
                    .listeners
                    .fire(ExecutePhase::After, sql, &seen.borrow());
                span.borrow_mut().take();
                let r = each(i, id);
                caller_failed.set(r.is_err());
                r
            },
        );
        span.borrow_mut().take();
        match out {
            Ok(()) => Ok(()),
            Err(e) if caller_failed.get() => Err(e),
            Err(e) => {
                let mut params = seen.into_inner();
                if !watched.get() || params.len() != width {
                    // Not copied (or not completely): ask for them again.
                    Value::clear_all(&mut params);
                    if fill(current.get(), &mut params).is_err() {
                        Value::clear_all(&mut params);
                    }
                }
                Err(statement_error(driver, disconnected, e, sql, &params))
            }
        }
    }

    /// The first column of the first row of `statement` (SQLAlchemy's `Connection.scalar`).
    ///
    /// # Errors
    /// As [`execute`](Connection::execute) and [`CursorResult::scalar`].
    pub fn scalar<T: FromValue, S: Executable + ?Sized>(&mut self, statement: &S) -> Result<T> {
        self.execute(statement)?.scalar()
    }

    /// The first column of every row of `statement` (SQLAlchemy's `Connection.scalars`).
    ///
    /// # Errors
    /// As [`execute`](Connection::execute).
    pub fn scalars<T: FromValue, S: Executable + ?Sized>(
        &mut self,
        statement: &S,
    ) -> Result<ScalarResult<'_, T>> {
        Ok(self.execute(statement)?.scalars())
    }

    /// Acts on a disconnect reported by the last call: closes the connection instead of
    /// returning it, marks the pool's older connections for replacement, and leaves an open
    /// transaction invalid.
    fn handle_disconnect(&mut self) {
        if std::mem::take(&mut self.disconnected) {
            if let Some(c) = self.conn.take() {
                c.invalidate_pool();
                c.invalidate();
            }
            self.invalidate_tx();
        }
    }

    fn invalidate_tx(&mut self) {
        if let Some(root) = &mut self.tx.root {
            root.invalid = true;
            root.savepoints.clear();
        }
    }

    /// Checks the transaction state and makes sure a driver connection is present.
    fn ready(&mut self) -> Result<()> {
        self.handle_disconnect();
        if self.tx.closed_guard.is_some() {
            return Err(Error::resource_closed(CLOSED_IN_CONTEXT));
        }
        if self.tx.root.as_ref().is_some_and(|r| r.invalid) {
            return Err(Error::invalid_request(INVALID_TX));
        }
        if self.conn.is_none() {
            self.conn = Some(self.engine.checkout()?);
        }
        Ok(())
    }

    fn pooled(&mut self) -> Result<&mut PooledConnection> {
        open(&mut self.conn)
    }

    /// Runs a statement-free driver call (BEGIN, SAVEPOINT, ...), classifying its error.
    fn driver_call<T>(
        &mut self,
        what: &str,
        f: impl FnOnce(&mut dyn crate::driver::DriverConnection) -> Result<T>,
    ) -> Result<T> {
        let r = f(self.pooled()?.get());
        r.map_err(|e| self.driver_error(what, e))
    }

    /// The error of the statement-free driver call `what`: notes a disconnect.
    fn driver_error(&mut self, what: &str, e: Error) -> Error {
        if self.engine.inner().driver().is_disconnect(&e) {
            self.disconnected = true;
        }
        e.with_statement(what, &[])
    }

    fn autobegin(&mut self) -> Result<()> {
        if self.tx.root.is_none() {
            // In autocommit mode the transaction is the bracket alone: nothing is sent.
            if !self.autocommit {
                self.driver_call("BEGIN", |c| c.begin())?;
            }
            self.tx.next_id += 1;
            self.tx.root = Some(RootTx {
                id: self.tx.next_id,
                managed: false,
                invalid: false,
                savepoints: Vec::new(),
            });
        }
        Ok(())
    }

    fn run(&mut self, sql: &str, params: &[Value]) -> Result<CursorResult<'_>> {
        let d = self.dispatch(sql, params, |c| c.query(sql, params))?;
        Ok(d.into_result())
    }

    /// Ready and autobegun, split into what running a statement needs.
    ///
    /// # Errors
    /// As [`execute`](Connection::execute) before anything runs (closed or invalidated
    /// transaction, closed connection).
    fn statement_parts(&mut self) -> Result<Parts<'_>> {
        self.ready()?;
        self.autobegin()?;
        let Connection {
            engine,
            conn,
            disconnected,
            ..
        } = self;
        let inner = engine.inner();
        let pooled = open(conn)?;
        Ok(Parts {
            inner,
            driver: inner.driver(),
            pooled,
            disconnected,
        })
    }

    /// The path of every statement: the connection must be usable, a transaction is begun if
    /// none is open, the `before`/`after` events and the echo/tracing span wrap the driver
    /// `call`, and its error is noted (disconnect) and given the statement and parameters.
    fn dispatch<'c, R>(
        &'c mut self,
        sql: &str,
        params: &[Value],
        call: impl FnOnce(&'c mut dyn crate::driver::DriverConnection) -> Result<R>,
    ) -> Result<Dispatched<'c, R>> {
        self.dispatch_lent(sql, params, None, call)
    }

    /// Whether someone looks at each statement's parameters: `echo`, an execute listener.
    fn watched(&self) -> bool {
        let inner = self.engine.inner();
        inner.echo || inner.listeners.any()
    }

    /// [`dispatch`](Connection::dispatch) of a statement whose parameters `call` takes lent
    /// from the caller (`params` then empty, nobody [`watched`](Connection::watched)): `copy`
    /// makes an owned copy of them for the statement's error.
    fn dispatch_lent<'c, R>(
        &'c mut self,
        sql: &str,
        params: &[Value],
        copy: Option<&dyn Fn() -> Result<Vec<Value>>>,
        call: impl FnOnce(&'c mut dyn crate::driver::DriverConnection) -> Result<R>,
    ) -> Result<Dispatched<'c, R>> {
        let Parts {
            inner,
            driver,
            pooled,
            disconnected,
        } = self.statement_parts()?;
        let _entered = before_statement(inner, driver, sql, params);
        let (conn, scratch) = pooled.split();
        match call(conn) {
            Ok(out) => {
                inner.listeners.fire(ExecutePhase::After, sql, params);
                Ok(Dispatched {
                    out,
                    driver,
                    disconnected,
                    scratch,
                })
            }
            Err(e) => {
                let copied;
                let params = match copy {
                    // The error shows them (a copy that fails shows none).
                    Some(copy) => {
                        copied = copy().unwrap_or_default();
                        &copied[..]
                    }
                    None => params,
                };
                Err(statement_error(driver, disconnected, e, sql, params))
            }
        }
    }

    /// Executes SQL text (as [`exec_driver_sql`](Connection::exec_driver_sql)) and commits the
    /// transaction, returning the statement's rows read to the end: `exec_driver_sql` then
    /// [`commit`](Connection::commit), except that a driver with a pipelined protocol
    /// (PostgreSQL) sends the `COMMIT` right behind the statement, so both cost one round trip
    /// (with the deferred `BEGIN`, a one-statement transaction is one round trip). The ORM's
    /// commit uses it for the flush's last INSERT. Autobegins; the transaction then ends as
    /// with `commit()` (a [`Transaction`] guard that managed it is closed).
    ///
    /// # Errors
    /// * The statement's error (with the statement and parameters attached). The transaction
    ///   may be over: on PostgreSQL the pipelined `COMMIT` ran after the failure and rolled the
    ///   transaction back. It stays open when the statement failed before reaching the server,
    ///   or on drivers without pipelining (SQLite): [`in_transaction`](Connection::in_transaction)
    ///   tells, and [`rollback`](Connection::rollback) ends it.
    /// * The `COMMIT`'s error, with the transaction ended as after a failed `commit()`.
    /// * As [`execute`](Connection::execute) before anything runs (closed or invalidated
    ///   transaction).
    #[doc(hidden)]
    pub fn exec_driver_sql_then_commit(
        &mut self,
        sql: &str,
        params: &[Value],
    ) -> Result<CursorResult<'_>> {
        self.then_commit(|c| {
            c.dispatch(sql, params, |d| d.query_then_commit(sql, params))
                .map(|d| d.out)
        })
    }

    /// [`exec_driver_sql`](Connection::exec_driver_sql) of one statement whose `rows` ×
    /// `width` parameters `fill(i, sink)` lends set by set
    /// ([`DriverConnection::query_lent`](crate::driver::DriverConnection::query_lent)): the
    /// ORM's flush binds a multi-row `INSERT ... RETURNING` straight from its objects. When
    /// events or echo look at the parameters, they are copied first and the copy is what is
    /// sent; a failing statement runs `fill` again for the copy its error shows.
    ///
    /// # Errors
    /// As [`execute`](Connection::execute); `fill`'s errors as they are.
    #[doc(hidden)]
    pub fn exec_driver_sql_lent(
        &mut self,
        sql: &str,
        width: usize,
        rows: usize,
        fill: &mut crate::driver::FillParams<'_>,
    ) -> Result<CursorResult<'_>> {
        if self.watched() {
            let params = crate::driver::collect_lent(width, rows, fill)?;
            return self.run(sql, &params);
        }
        let fill = std::cell::RefCell::new(fill);
        let copy = || crate::driver::collect_lent(width, rows, &mut **fill.borrow_mut());
        let d = self.dispatch_lent(sql, &[], Some(&copy), |c| {
            c.query_lent(sql, width, rows, &mut **fill.borrow_mut())
        })?;
        Ok(d.into_result())
    }

    /// [`exec_driver_sql_then_commit`](Connection::exec_driver_sql_then_commit) with lent
    /// parameters, as [`exec_driver_sql_lent`](Connection::exec_driver_sql_lent).
    ///
    /// # Errors
    /// As `exec_driver_sql_then_commit`; `fill`'s errors as they are.
    #[doc(hidden)]
    pub fn exec_driver_sql_lent_then_commit(
        &mut self,
        sql: &str,
        width: usize,
        rows: usize,
        fill: &mut crate::driver::FillParams<'_>,
    ) -> Result<CursorResult<'_>> {
        if self.watched() {
            let params = crate::driver::collect_lent(width, rows, fill)?;
            return self.exec_driver_sql_then_commit(sql, &params);
        }
        let fill = std::cell::RefCell::new(fill);
        let copy = || crate::driver::collect_lent(width, rows, &mut **fill.borrow_mut());
        self.then_commit(|c| {
            c.dispatch_lent(sql, &[], Some(&copy), |d| {
                d.query_lent_then_commit(sql, width, rows, &mut **fill.borrow_mut())
            })
            .map(|d| d.out)
        })
    }

    /// Runs a statement that commits behind itself (`run`: a driver's `query_then_commit`
    /// through [`dispatch`](Connection::dispatch)), then ends the transaction as `commit()`
    /// does and hands out the statement's rows.
    fn then_commit(
        &mut self,
        run: impl FnOnce(&mut Self) -> Result<(crate::driver::BufferedRows, Result<()>)>,
    ) -> Result<CursorResult<'_>> {
        self.ready()?;
        self.autobegin()?;
        let (id, managed) = match &self.tx.root {
            Some(root) => (root.id, root.managed),
            None => return Err(Error::internal("autobegin left no transaction")),
        };
        let out = run(self);
        let rows = match out {
            Ok((rows, committed)) => {
                let committed = committed.map_err(|e| self.driver_error("COMMIT", e));
                self.settle_root("COMMIT", committed).map(|()| rows)
            }
            Err(e) => {
                // The statement failed; a pipelined COMMIT may have ended the transaction.
                if !self.driver_tx_open() {
                    self.tx.root = None;
                }
                self.handle_disconnect();
                Err(e)
            }
        };
        self.close_guard_if_ended(id, managed);
        let rows = rows?;
        let Connection {
            engine,
            conn,
            disconnected,
            ..
        } = self;
        let scratch = open(conn)?.scratch();
        let columns = scratch
            .columns
            .get(crate::driver::DriverCursor::columns(&rows));
        Ok(CursorResult::new(
            Box::new(rows),
            columns,
            engine.inner().driver(),
            disconnected,
            &mut scratch.values,
        ))
    }

    /// Compiles `statement` (as [`execute`](Connection::execute)), executes it and commits the
    /// transaction: [`exec_driver_sql_then_commit`](Connection::exec_driver_sql_then_commit)
    /// of the compiled statement.
    ///
    /// # Errors
    /// As `exec_driver_sql_then_commit`.
    #[doc(hidden)]
    pub fn execute_then_commit<S: Executable + ?Sized>(
        &mut self,
        statement: &S,
    ) -> Result<CursorResult<'_>> {
        let compiled = statement.compile(self.dialect(), self.engine.inner().cache());
        self.exec_driver_sql_then_commit(&compiled.sql, &compiled.params)
    }

    /// Begins a transaction and returns its guard (SQLAlchemy's `Connection.begin()`): the
    /// guard derefs to this connection, commits with [`Transaction::commit`] and rolls back when
    /// dropped un-committed.
    ///
    /// # Errors
    /// [`InvalidRequest`](crate::ErrorKind::InvalidRequest) if a transaction is already begun
    /// (autobegun by a statement, or another guard): commit or roll it back first, or use
    /// [`begin_nested`](Connection::begin_nested).
    pub fn begin(&mut self) -> Result<Transaction<'_>> {
        self.ready()?;
        if self.tx.root.is_some() {
            return Err(Error::invalid_request(
                "a transaction is already begun on this Connection; call commit() or rollback() \
                 first, or use begin_nested() for a SAVEPOINT",
            ));
        }
        self.autobegin()?;
        let id = match &mut self.tx.root {
            Some(root) => {
                root.managed = true;
                root.id
            }
            None => return Err(Error::internal("autobegin left no transaction")),
        };
        Ok(Transaction::new(self, id, false))
    }

    /// Begins a SAVEPOINT (SQLAlchemy's `Connection.begin_nested()`), autobeginning the outer
    /// transaction if none is open. Rolling the guard back undoes only the work since the
    /// savepoint.
    ///
    /// # Errors
    /// The database's error; the closed/invalid-transaction errors of
    /// [`execute`](Connection::execute).
    pub fn begin_nested(&mut self) -> Result<Transaction<'_>> {
        self.ready()?;
        self.autobegin()?;
        self.tx.savepoint_seq += 1;
        let name = format!("sa_savepoint_{}", self.tx.savepoint_seq);
        let n = name.clone();
        self.driver_call(&format!("SAVEPOINT {name}"), move |c| c.savepoint(&n))?;
        self.tx.next_id += 1;
        let id = self.tx.next_id;
        if let Some(root) = &mut self.tx.root {
            root.savepoints.push((id, name));
        }
        Ok(Transaction::new(self, id, true))
    }

    /// Commits the current transaction, if any (SQLAlchemy 2.0's `Connection.commit()`). Inside
    /// a [`Transaction`] guard's scope this closes the guarded transaction.
    ///
    /// # Errors
    /// The database's error; [`InvalidRequest`](crate::ErrorKind::InvalidRequest) when the
    /// transaction was invalidated (roll back instead).
    pub fn commit(&mut self) -> Result<()> {
        self.end_current(true)
    }

    /// Rolls back the current transaction, if any (SQLAlchemy 2.0's `Connection.rollback()`).
    /// Also clears an invalidated transaction, so the next statement reconnects.
    ///
    /// # Errors
    /// The database's error.
    pub fn rollback(&mut self) -> Result<()> {
        self.end_current(false)
    }

    /// `commit()` / `rollback()` through the connection: ends the root transaction; a guard that
    /// managed it is closed from then on (its scope gets "closed transaction" errors).
    fn end_current(&mut self, commit: bool) -> Result<()> {
        self.handle_disconnect();
        if self.tx.closed_guard.is_some() {
            return Err(Error::resource_closed(CLOSED_IN_CONTEXT));
        }
        let Some(root) = &self.tx.root else {
            return Ok(());
        };
        let (id, managed) = (root.id, root.managed);
        let r = self.finish_root(commit);
        self.close_guard_if_ended(id, managed);
        r
    }

    /// After the root transaction `id` was ended through the connection: if a guard managed
    /// it, the guard's scope is closed from then on.
    fn close_guard_if_ended(&mut self, id: u64, managed: bool) {
        if managed && self.tx.root.is_none() {
            self.tx.closed_guard = Some(id);
        }
    }

    /// Ends the root transaction with COMMIT or ROLLBACK.
    fn finish_root(&mut self, commit: bool) -> Result<()> {
        let Some(root) = &mut self.tx.root else {
            return Ok(());
        };
        if root.invalid {
            if commit {
                // Only a rollback is possible now; let the caller do it through the connection.
                root.managed = false;
                return Err(Error::invalid_request(INVALID_TX));
            }
            self.tx.root = None;
            return Ok(());
        }
        if commit {
            let r = self.driver_call("COMMIT", |c| c.commit());
            self.settle_root("COMMIT", r)
        } else {
            let r = self.driver_call("ROLLBACK", |c| c.rollback());
            self.settle_root("ROLLBACK", r)
        }
    }

    /// After the driver's COMMIT or ROLLBACK (`what`, with its result `r`) of the root
    /// transaction: the root is over, unless the call failed and the driver's transaction is
    /// still open (then it stays, no longer managed by a guard: only the connection ends it).
    fn settle_root<T>(&mut self, what: &str, r: Result<T>) -> Result<T> {
        let still_open = r.is_err() && self.driver_tx_open();
        if still_open {
            if let Some(root) = &mut self.tx.root {
                root.managed = false;
            }
        } else {
            self.tx.root = None;
        }
        self.handle_disconnect();
        r.map_err(|e| {
            tracing::debug!(target: "calcine::engine", "{what} failed: {e}");
            e
        })
    }

    /// Whether the driver's connection is usable and still inside a transaction (after a failed
    /// COMMIT or statement, which may or may not have ended it).
    fn driver_tx_open(&self) -> bool {
        !self.disconnected
            && self
                .conn
                .as_ref()
                .is_some_and(|c| c.get_ref().in_transaction())
    }

    /// Ends the root transaction `id` on behalf of its guard.
    pub(crate) fn end_root(&mut self, id: u64, commit: bool) -> Result<()> {
        if self.tx.closed_guard == Some(id) {
            self.tx.closed_guard = None;
            return Err(Error::resource_closed(
                "This transaction is closed: it was committed or rolled back through the \
                 Connection inside the guard's scope",
            ));
        }
        match &self.tx.root {
            Some(root) if root.id == id => self.finish_root(commit),
            _ => Err(Error::resource_closed("This transaction is inactive")),
        }
    }

    /// Ends the guarded root transaction `id` at the end of `engine.begin(...)`: commits it if
    /// still open; if the closure already ended it, that is fine.
    pub(crate) fn finish_context(&mut self, id: u64) -> Result<()> {
        if self.tx.closed_guard == Some(id) {
            self.tx.closed_guard = None;
            return Ok(());
        }
        self.end_root(id, true)
    }

    /// Releases or rolls back to the savepoint `id`.
    pub(crate) fn end_savepoint(&mut self, id: u64, commit: bool) -> Result<()> {
        self.handle_disconnect();
        let pos = self
            .tx
            .root
            .as_ref()
            .filter(|r| !r.invalid)
            .and_then(|r| r.savepoints.iter().position(|(sid, _)| *sid == id));
        let Some(pos) = pos else {
            return Err(Error::resource_closed(
                "This nested transaction is inactive: its outer transaction was already ended",
            ));
        };
        let name = match &mut self.tx.root {
            Some(root) => {
                let name = root.savepoints[pos].1.clone();
                root.savepoints.truncate(pos);
                name
            }
            None => return Err(Error::internal("savepoint without transaction")),
        };
        let r = if commit {
            self.driver_call(&format!("RELEASE SAVEPOINT {name}"), |c| {
                c.release_savepoint(&name)
            })
        } else {
            self.driver_call(&format!("ROLLBACK TO SAVEPOINT {name}"), |c| {
                c.rollback_to_savepoint(&name)
            })
        };
        self.handle_disconnect();
        r
    }

    /// Whether the transaction `id` (root or savepoint) is still open.
    pub(crate) fn is_active(&self, id: u64) -> bool {
        self.tx.root.as_ref().is_some_and(|r| {
            !r.invalid && (r.id == id || r.savepoints.iter().any(|(sid, _)| *sid == id))
        })
    }

    /// Whether a transaction is open (SQLAlchemy's `in_transaction()`; `get_transaction()` is
    /// not `None`).
    pub fn in_transaction(&self) -> bool {
        self.tx.root.is_some()
    }

    /// Whether a SAVEPOINT is open (SQLAlchemy's `in_nested_transaction()`;
    /// `get_nested_transaction()` is not `None`).
    pub fn in_nested_transaction(&self) -> bool {
        self.tx
            .root
            .as_ref()
            .is_some_and(|r| !r.savepoints.is_empty())
    }

    /// `0` outside a transaction, `1` in a transaction, `1 + n` inside `n` nested SAVEPOINTs.
    pub fn transaction_depth(&self) -> usize {
        self.tx.root.as_ref().map_or(0, |r| 1 + r.savepoints.len())
    }

    /// The row id of the last INSERT on this connection (SQLite's `lastrowid`; `None` on
    /// PostgreSQL, where `RETURNING` gives generated keys).
    pub fn last_insert_id(&self) -> Option<i64> {
        self.conn
            .as_ref()
            .and_then(|c| c.get_ref().last_insert_id())
    }

    /// Closes the underlying database connection instead of returning it to the pool
    /// (SQLAlchemy's `Connection.invalidate()`). An open transaction becomes invalid (roll it
    /// back); the next statement afterwards checks out a new connection.
    pub fn invalidate(&mut self) {
        if let Some(c) = self.conn.take() {
            c.invalidate();
        }
        self.invalidate_tx();
    }

    /// Whether the underlying connection was invalidated (and not yet replaced).
    pub fn invalidated(&self) -> bool {
        self.conn.is_none()
    }

    /// Returns the connection to the pool, rolling back an open transaction (same as dropping).
    pub fn close(self) {}
}

impl Drop for Connection {
    fn drop(&mut self) {
        if self.disconnected {
            if let Some(c) = self.conn.take() {
                c.invalidate_pool();
                c.invalidate();
            }
        }
    }
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("engine", &self.engine)
            .field("transaction_depth", &self.transaction_depth())
            .field("invalidated", &self.invalidated())
            .finish()
    }
}

const _: () = {
    const fn assert_send<T: Send>() {}
    const fn assert_send_sync<T: Send + Sync>() {}
    assert_send::<Connection>();
    assert_send_sync::<Engine>();
};

/// A driver call's output with the parts of the [`Connection`] a result keeps borrowing.
struct Dispatched<'c, R> {
    out: R,
    driver: &'c dyn crate::driver::Driver,
    disconnected: &'c mut bool,
    scratch: &'c mut crate::pool::Scratch,
}

impl<'c> Dispatched<'c, Box<dyn crate::driver::DriverCursor + 'c>> {
    /// The statement's result, over the connection's scratch space.
    fn into_result(self) -> CursorResult<'c> {
        let columns = self.scratch.columns.get(self.out.columns());
        CursorResult::new(
            self.out,
            columns,
            self.driver,
            self.disconnected,
            &mut self.scratch.values,
        )
    }
}

/// The pooled connection of a [`Connection`] that is not closed.
fn open(conn: &mut Option<PooledConnection>) -> Result<&mut PooledConnection> {
    conn.as_mut()
        .ok_or_else(|| Error::resource_closed("This Connection is closed"))
}

/// A [`ParamSink`](crate::ParamSink) that copies what passes through into `seen` (the
/// parameters events and echo show).
struct Tee<'s, 'v> {
    sink: &'s mut dyn crate::ParamSink,
    seen: &'v mut Vec<Value>,
}

impl crate::ParamSink for Tee<'_, '_> {
    fn push(&mut self, value: calcine_sql::ValueRef<'_>) {
        self.seen.push(value.to_value());
        self.sink.push(value);
    }
}

/// What happens before every statement: the `before` event, `echo` logging, and a `tracing`
/// span that stays entered while the driver runs it.
fn before_statement(
    inner: &crate::engine::EngineInner,
    driver: &dyn crate::driver::Driver,
    sql: &str,
    params: &[Value],
) -> tracing::span::EnteredSpan {
    inner.listeners.fire(ExecutePhase::Before, sql, params);
    if inner.echo {
        echo(sql, params);
    }
    tracing::debug_span!(
        "calcine.statement",
        db.system = driver.name(),
        db.statement = sql
    )
    .entered()
}

/// `echo`'s log of a statement and its parameters.
#[cold]
#[inline(never)]
fn echo(sql: &str, params: &[Value]) {
    tracing::info!(target: "calcine::engine", "{sql}");
    tracing::info!(target: "calcine::engine", "[parameters: {}]", crate::error::ParamsDisplay(params));
}

/// A statement's error: notes a disconnect and attaches the statement and its parameters.
fn statement_error(
    driver: &dyn crate::driver::Driver,
    disconnected: &mut bool,
    e: Error,
    sql: &str,
    params: &[Value],
) -> Error {
    if driver.is_disconnect(&e) {
        *disconnected = true;
    }
    e.with_statement(sql, params)
}
