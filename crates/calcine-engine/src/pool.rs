//! [`Pool`]: SQLAlchemy's `QueuePool` (and, with one connection, its `StaticPool`).
//!
//! At most `pool_size` idle connections are kept; up to `max_overflow` more may be open while
//! checked out and are closed when returned. A checkout that finds every slot taken waits up to
//! `pool_timeout` for one to be returned, then fails with [`ErrorKind::Timeout`]. Returned
//! connections are reset with a rollback ("reset on return"); one whose rollback fails is closed.
//! `pool_recycle` closes connections older than the limit at checkout, `pool_pre_ping` tests an
//! idle connection with a round trip before handing it out, and [`Pool::invalidate_all`] (called on
//! a disconnect-class error) makes every connection opened before it be replaced.
//!
//! Waiting is first come, first served: a checkout that has to wait joins a queue, and a
//! returned connection (or a freed slot) is handed straight to the oldest waiter, so a task
//! that returns a connection and asks again at once cannot take it back ahead of the others
//! (without this, 4 tasks kept a pool of 4 for themselves while 60 others timed out). A waiter
//! on a plain thread blocks on a channel; one inside a greenlet suspends through the bridge
//! (blocking there would stall the other greenlets of its thread, which may be the ones about to
//! return connections).
//!
//! [`ErrorKind::Timeout`]: crate::ErrorKind::Timeout

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, mpsc};
use std::time::{Duration, Instant};

use crate::driver::{Driver, DriverConnection};
use crate::error::{Error, Result};

/// Pool sizing and checkout policy (SQLAlchemy's `create_engine(pool_size=..., ...)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PoolConfig {
    pub(crate) size: usize,
    /// `None`: no limit (SQLAlchemy's `max_overflow=-1`).
    pub(crate) max_overflow: Option<usize>,
    pub(crate) timeout: Duration,
    pub(crate) pre_ping: bool,
    pub(crate) recycle: Option<Duration>,
    /// SQLAlchemy's `StaticPool`: the one connection *is* the database (in-memory SQLite), so
    /// it is rolled back and kept rather than closed when dropped during unwinding.
    pub(crate) static_pool: bool,
}

/// A point-in-time view of a pool's counters (SQLAlchemy's `pool.status()`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStatus {
    /// The configured number of connections kept open (`pool_size`).
    pub size: usize,
    /// Connections currently checked out.
    pub checked_out: usize,
    /// Idle connections in the pool.
    pub checked_in: usize,
    /// Open connections beyond `pool_size` (negative while fewer than `pool_size` are open).
    pub overflow: isize,
}

/// A pool of driver connections (SQLAlchemy's `QueuePool`). Shared by an [`Engine`] and every
/// connection checked out of it.
///
/// [`Engine`]: crate::Engine
pub(crate) struct Pool {
    driver: Arc<dyn Driver>,
    config: PoolConfig,
    state: Mutex<State>,
}

struct State {
    idle: VecDeque<Idle>,
    /// Connections open (idle or checked out).
    open: usize,
    checked_out: usize,
    disposed: bool,
    /// Connections created before this instant are replaced (set on a disconnect).
    invalidated_at: Option<Instant>,
    /// Checkouts waiting, oldest first.
    waiters: VecDeque<Waiter>,
    next_waiter: u64,
}

/// What a waiting checkout is handed.
enum Grant {
    /// A connection, already counted as checked out.
    Conn(Idle),
    /// A free slot, already counted as open and checked out: open a new connection in it.
    Slot,
    /// The pool was disposed.
    Disposed,
}

struct Waiter {
    id: u64,
    to: Handoff,
}

/// The channel a waiter receives its [`Grant`] on.
enum Handoff {
    Thread(mpsc::SyncSender<Grant>),
    Greenlet(tokio::sync::oneshot::Sender<Grant>),
}

impl Handoff {
    /// Delivers `grant`, or gives it back if the waiter is gone (cancelled).
    fn send(self, grant: Grant) -> std::result::Result<(), Grant> {
        match self {
            Handoff::Thread(tx) => tx.try_send(grant).map_err(|e| match e {
                mpsc::TrySendError::Full(g) | mpsc::TrySendError::Disconnected(g) => g,
            }),
            Handoff::Greenlet(tx) => tx.send(grant),
        }
    }
}

impl State {
    /// Hands `grant` to the oldest live waiter; gives it back if there is none.
    fn hand_over(&mut self, mut grant: Grant) -> Option<Grant> {
        while let Some(w) = self.waiters.pop_front() {
            match w.to.send(grant) {
                Ok(()) => return None,
                Err(g) => grant = g,
            }
        }
        Some(grant)
    }

    fn forget_waiter(&mut self, id: u64) {
        self.waiters.retain(|w| w.id != id);
    }
}

struct Idle {
    conn: Box<dyn DriverConnection>,
    created: Instant,
    scratch: Scratch,
}

impl Pool {
    pub(crate) fn new(driver: Arc<dyn Driver>, config: PoolConfig) -> Arc<Pool> {
        Arc::new(Pool {
            driver,
            config,
            state: Mutex::new(State {
                idle: VecDeque::new(),
                open: 0,
                checked_out: 0,
                disposed: false,
                invalidated_at: None,
                waiters: VecDeque::new(),
                next_waiter: 0,
            }),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The state is consistent between statements; a panic elsewhere cannot corrupt it.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn limit(&self) -> Option<usize> {
        self.config.max_overflow.map(|o| self.config.size + o)
    }

    /// Checks out a connection, waiting up to `pool_timeout` for one (first come, first served).
    pub(crate) fn checkout(self: Arc<Self>) -> Result<PooledConnection> {
        let mut st = self.lock();
        if st.disposed {
            return Err(Error::resource_closed("this pool was disposed"));
        }
        // Nobody may go ahead of the checkouts already waiting.
        if st.waiters.is_empty() {
            if let Some(idle) = st.idle.pop_front() {
                st.checked_out += 1;
                let invalidated_at = st.invalidated_at;
                drop(st);
                return self.prepare_idle(idle, invalidated_at);
            }
            if self.limit().is_none_or(|limit| st.open < limit) {
                st.open += 1;
                st.checked_out += 1;
                drop(st);
                return self.open_new();
            }
        }
        let timeout = self.config.timeout;
        let id = st.next_waiter;
        st.next_waiter += 1;
        if calcine_greenlet::in_greenlet() {
            let (tx, mut rx) = tokio::sync::oneshot::channel();
            st.waiters.push_back(Waiter {
                id,
                to: Handoff::Greenlet(tx),
            });
            drop(st);
            let waited = calcine_greenlet::await_(tokio::time::timeout(timeout, &mut rx));
            match waited {
                Ok(Ok(Ok(grant))) => return self.take(grant),
                Ok(Ok(Err(_))) => return self.take(Grant::Disposed),
                // Timed out, or the bridge refused: a grant may have raced in meanwhile.
                Ok(Err(_)) | Err(_) => {
                    let mut st = self.lock();
                    if let Ok(grant) = rx.try_recv() {
                        drop(st);
                        return self.take(grant);
                    }
                    st.forget_waiter(id);
                    drop(st);
                    if let Err(e) = waited {
                        return Err(e.into());
                    }
                }
            }
        } else {
            let (tx, rx) = mpsc::sync_channel(1);
            st.waiters.push_back(Waiter {
                id,
                to: Handoff::Thread(tx),
            });
            drop(st);
            match rx.recv_timeout(timeout) {
                Ok(grant) => return self.take(grant),
                Err(mpsc::RecvTimeoutError::Disconnected) => return self.take(Grant::Disposed),
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    let mut st = self.lock();
                    if let Ok(grant) = rx.try_recv() {
                        drop(st);
                        return self.take(grant);
                    }
                    st.forget_waiter(id);
                }
            }
        }
        Err(Error::timeout(format!(
            "QueuePool limit of size {} overflow {} reached, connection timed out, timeout {:.2}s; \
             drop or close Connections sooner (each one holds a pooled connection until dropped), \
             or raise pool_size, max_overflow or pool_timeout",
            self.config.size,
            self.config.max_overflow.unwrap_or(0),
            timeout.as_secs_f64()
        )))
    }

    /// Turns what a waiter was handed into a checked-out connection.
    fn take(self: Arc<Self>, grant: Grant) -> Result<PooledConnection> {
        match grant {
            Grant::Conn(idle) => {
                let invalidated_at = self.lock().invalidated_at;
                self.prepare_idle(idle, invalidated_at)
            }
            Grant::Slot => self.open_new(),
            Grant::Disposed => Err(Error::resource_closed("this pool was disposed")),
        }
    }

    /// A slot was freed (`open` already decremented): the oldest waiter, if any, gets it.
    fn grant_slot(&self, st: &mut State) {
        if st.disposed || st.waiters.is_empty() || self.limit().is_some_and(|l| st.open >= l) {
            return;
        }
        st.open += 1;
        st.checked_out += 1;
        if st.hand_over(Grant::Slot).is_some() {
            st.open -= 1;
            st.checked_out -= 1;
        }
    }

    /// Opens a connection for a slot already counted in `open` and `checked_out`.
    fn open_new(self: Arc<Self>) -> Result<PooledConnection> {
        match self.driver.connect() {
            Ok(conn) => Ok(PooledConnection {
                conn: Some(conn),
                created: Instant::now(),
                scratch: Scratch::default(),
                pool: self,
            }),
            Err(e) => {
                self.release_slot();
                Err(e)
            }
        }
    }

    /// Recycles, pre-pings and hands out an idle connection; replaces it when stale or dead.
    fn prepare_idle(
        self: Arc<Self>,
        idle: Idle,
        invalidated_at: Option<Instant>,
    ) -> Result<PooledConnection> {
        let Idle {
            mut conn,
            created,
            scratch,
        } = idle;
        let stale = invalidated_at.is_some_and(|t| created <= t)
            || self.config.recycle.is_some_and(|r| created.elapsed() >= r);
        if stale {
            tracing::debug!(target: "calcine::pool", "recycling a connection past pool_recycle or invalidated");
            close_quietly(conn);
            return self.open_new();
        }
        if self.config.pre_ping {
            if let Err(e) = conn.ping() {
                tracing::info!(target: "calcine::pool", error = %e, "pool_pre_ping found a dead connection; replacing it");
                close_quietly(conn);
                if self.driver.is_disconnect(&e) {
                    self.invalidate_all();
                }
                return self.open_new();
            }
        }
        Ok(PooledConnection {
            conn: Some(conn),
            created,
            scratch,
            pool: self,
        })
    }

    /// Frees a checked-out slot whose connection is gone.
    fn release_slot(&self) {
        let mut st = self.lock();
        st.open -= 1;
        st.checked_out -= 1;
        self.grant_slot(&mut st);
    }

    fn checkin(&self, mut conn: Box<dyn DriverConnection>, created: Instant, mut scratch: Scratch) {
        // Reset on return: whatever the borrower left open is rolled back.
        if conn.in_transaction() {
            if let Err(e) = conn.reset() {
                tracing::warn!(target: "calcine::pool", error = %e, "rollback on return failed; closing the connection");
                close_quietly(conn);
                self.release_slot();
                return;
            }
        }
        let mut st = self.lock();
        st.checked_out -= 1;
        let invalid = st.invalidated_at.is_some_and(|t| created <= t);
        if st.disposed || invalid || st.idle.len() >= self.config.size {
            st.open -= 1;
            self.grant_slot(&mut st);
            drop(st);
            close_quietly(conn);
            return;
        }
        scratch.trim();
        // Straight to the oldest waiter (still counted as checked out), else back to idle.
        st.checked_out += 1;
        let idle = Idle {
            conn,
            created,
            scratch,
        };
        if let Some(grant) = st.hand_over(Grant::Conn(idle)) {
            st.checked_out -= 1;
            if let Grant::Conn(idle) = grant {
                st.idle.push_back(idle);
            }
        }
    }

    /// Marks every connection opened so far as invalid: idle ones are replaced at checkout,
    /// checked-out ones are closed when returned (SQLAlchemy's pool `_invalidate`).
    pub(crate) fn invalidate_all(&self) {
        self.lock().invalidated_at = Some(Instant::now());
    }

    /// Closes the idle connections and refuses further checkouts; connections still checked out
    /// are closed when returned.
    pub(crate) fn dispose(&self) {
        let mut st = self.lock();
        st.disposed = true;
        let idle: Vec<Idle> = st.idle.drain(..).collect();
        st.open -= idle.len();
        while st.hand_over(Grant::Disposed).is_none() {}
        drop(st);
        for i in idle {
            close_quietly(i.conn);
        }
    }

    pub(crate) fn status(&self) -> PoolStatus {
        let st = self.lock();
        PoolStatus {
            size: self.config.size,
            checked_out: st.checked_out,
            checked_in: st.idle.len(),
            overflow: st.open as isize - self.config.size as isize,
        }
    }
}

fn close_quietly(conn: Box<dyn DriverConnection>) {
    if let Err(e) = conn.close() {
        tracing::debug!(target: "calcine::pool", error = %e, "error while closing a connection");
    }
}

/// A driver connection checked out of a [`Pool`] (SQLAlchemy's `_ConnectionFairy`): returned to
/// the pool when dropped; closed instead when dropped during a panic or unwinding, or when
/// [invalidated](PooledConnection::invalidate).
pub(crate) struct PooledConnection {
    conn: Option<Box<dyn DriverConnection>>,
    created: Instant,
    scratch: Scratch,
    pool: Arc<Pool>,
}

/// What a driver connection keeps from statement to statement, next to it in the pool: the
/// result layer's row buffer and column-name indexes, so that a statement allocates neither
/// (a fresh buffer per statement costs a large allocation, and the allocator's consolidation
/// of its free lists when it is freed).
#[derive(Default)]
pub(crate) struct Scratch {
    /// [`Columns`](crate::row::Columns) by the identity of the driver's column-name lists.
    pub(crate) columns: crate::row::ColumnsCache,
    /// A result's chunk of values; empty (capacity only) between statements.
    pub(crate) values: Vec<calcine_sql::Value>,
}

impl Scratch {
    /// Values kept allocated between statements at most (a result fetched in larger chunks
    /// gives its buffer back to the allocator).
    const KEEP_VALUES: usize = 1 << 14;

    fn trim(&mut self) {
        if self.values.capacity() > Self::KEEP_VALUES {
            self.values = Vec::new();
        }
    }
}

impl PooledConnection {
    pub(crate) fn get(&mut self) -> &mut dyn DriverConnection {
        // `conn` is only `None` inside `invalidate`/`drop`, which consume or end `self`.
        match self.conn.as_deref_mut() {
            Some(c) => c,
            None => unreachable!("PooledConnection used after invalidation"),
        }
    }

    /// The driver connection and the scratch space its results use, borrowed apart.
    pub(crate) fn split(&mut self) -> (&mut dyn DriverConnection, &mut Scratch) {
        match self.conn.as_deref_mut() {
            Some(c) => (c, &mut self.scratch),
            None => unreachable!("PooledConnection used after invalidation"),
        }
    }

    /// The scratch space of this connection's results.
    pub(crate) fn scratch(&mut self) -> &mut Scratch {
        &mut self.scratch
    }

    pub(crate) fn get_ref(&self) -> &dyn DriverConnection {
        match self.conn.as_deref() {
            Some(c) => c,
            None => unreachable!("PooledConnection used after invalidation"),
        }
    }

    /// Marks every connection of this connection's pool opened so far for replacement.
    pub(crate) fn invalidate_pool(&self) {
        self.pool.invalidate_all();
    }

    /// Closes the connection and frees its slot instead of returning it.
    pub(crate) fn invalidate(mut self) {
        if let Some(c) = self.conn.take() {
            close_quietly(c);
            self.pool.release_slot();
        }
    }
}

impl Drop for PooledConnection {
    fn drop(&mut self) {
        let Some(conn) = self.conn.take() else { return };
        if std::thread::panicking() && self.pool.config.static_pool {
            tracing::warn!(
                target: "calcine::pool",
                "a connection was dropped while unwinding (panic or cancellation mid-operation); \
                 rolling back the shared in-memory connection (closing it would discard the database)"
            );
            self.pool
                .checkin(conn, self.created, std::mem::take(&mut self.scratch));
        } else if std::thread::panicking() {
            tracing::warn!(
                target: "calcine::pool",
                "a connection was dropped while unwinding (panic or cancellation mid-operation); \
                 closing it instead of returning it to the pool"
            );
            close_quietly(conn);
            self.pool.release_slot();
        } else {
            self.pool
                .checkin(conn, self.created, std::mem::take(&mut self.scratch));
        }
    }
}
