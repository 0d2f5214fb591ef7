//! The `Send` mode: greenlets that live on *home threads*, for work-stealing runtimes.
//!
//! A coroutine holding user frames must never resume on another OS thread: compiled code may
//! keep a thread-local's address in a register across the call that suspends (measured: a
//! prototype that moved coroutines between tokio workers read another worker's thread-locals in
//! thousands of resumptions out of 10,000). So the `Send` mode does not move coroutines at all.
//!
//! ```text
//!  any tokio worker (work stealing)        home thread k (current-thread runtime + LocalSet)
//!  spawn_send(f) ── job (f, span) ───────▶ spawn_local(greenlet_spawn(f))
//!  SendGreenlet::poll ◀── oneshot ────────  f runs; every await_ suspends on *this* thread
//!  (drop) ── receiver closed ────────────▶ greenlet dropped here: f's stack unwinds here
//! ```
//!
//! One thread hop per `spawn_send` call, none per `await_` inside it. The future only exchanges
//! messages with the home thread, so it is `Send` without any `unsafe impl`. A home thread is
//! cooperative: a closure that blocks (CPU work, `std::thread::sleep`) stalls every greenlet
//! sharing that home thread, so size the pool to the cores (the default) and keep blocking
//! work out of greenlets.

use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

use tokio::sync::{mpsc, oneshot};
use tracing::Instrument;

use crate::greenlet::Builder;

type Job = Box<dyn FnOnce() + Send + 'static>;

/// A pool of home threads, each running a current-thread tokio runtime that hosts greenlets
/// spawned with [`HomeThreads::spawn`] (or the global [`spawn_send`]).
///
/// Cloning is cheap (shared). The threads exit when the last clone is dropped and the work
/// already sent to them has finished.
#[derive(Clone)]
pub struct HomeThreads {
    inner: Arc<Inner>,
}

struct Inner {
    senders: Vec<mpsc::UnboundedSender<Job>>,
    next: AtomicUsize,
    stack_size: Option<usize>,
}

impl std::fmt::Debug for HomeThreads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HomeThreads")
            .field("threads", &self.inner.senders.len())
            .finish()
    }
}

thread_local! {
    static HOME_INDEX: std::cell::Cell<Option<usize>> = const { std::cell::Cell::new(None) };
}

/// Builds a [`HomeThreads`] pool.
#[derive(Debug, Clone, Default)]
pub struct HomeThreadsBuilder {
    threads: Option<usize>,
    stack_size: Option<usize>,
    name: Option<String>,
}

impl HomeThreadsBuilder {
    /// Number of home threads (default: the number of cores).
    pub fn threads(mut self, n: usize) -> Self {
        self.threads = Some(n.max(1));
        self
    }

    /// Coroutine stack size for greenlets spawned on these threads.
    pub fn stack_size(mut self, bytes: usize) -> Self {
        self.stack_size = Some(bytes);
        self
    }

    /// Thread name prefix (default `calcine-home`).
    pub fn name(mut self, prefix: impl Into<String>) -> Self {
        self.name = Some(prefix.into());
        self
    }

    /// Starts the threads.
    ///
    /// # Errors
    /// The OS refused to start a thread, or a runtime could not be built.
    pub fn build(self) -> std::io::Result<HomeThreads> {
        let n = self.threads.unwrap_or_else(|| {
            std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get)
        });
        let prefix = self.name.unwrap_or_else(|| "calcine-home".to_owned());
        let mut senders = Vec::with_capacity(n);
        for index in 0..n {
            let (tx, rx) = mpsc::unbounded_channel::<Job>();
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            std::thread::Builder::new()
                .name(format!("{prefix}-{index}"))
                .spawn(move || run_home(index, runtime, rx))?;
            senders.push(tx);
        }
        Ok(HomeThreads {
            inner: Arc::new(Inner {
                senders,
                next: AtomicUsize::new(0),
                stack_size: self.stack_size,
            }),
        })
    }
}

fn run_home(index: usize, runtime: tokio::runtime::Runtime, mut rx: mpsc::UnboundedReceiver<Job>) {
    HOME_INDEX.with(|c| c.set(Some(index)));
    let local = tokio::task::LocalSet::new();
    local.block_on(&runtime, async {
        while let Some(job) = rx.recv().await {
            job();
        }
    });
    // The pool is gone: finish the greenlets already running here before the thread exits.
    runtime.block_on(local);
}

impl HomeThreads {
    /// A builder for a pool of its own (most programs use the global one via [`spawn_send`]).
    pub fn builder() -> HomeThreadsBuilder {
        HomeThreadsBuilder::default()
    }

    /// The process-wide pool, one home thread per core, started on first use.
    ///
    /// # Panics
    /// If the operating system refuses to start the threads on first use.
    pub fn global() -> &'static HomeThreads {
        static GLOBAL: OnceLock<HomeThreads> = OnceLock::new();
        GLOBAL.get_or_init(|| match HomeThreads::builder().build() {
            Ok(pool) => pool,
            Err(e) => panic!("calcine-greenlet: could not start the home threads: {e}"),
        })
    }

    /// Number of home threads.
    pub fn len(&self) -> usize {
        self.inner.senders.len()
    }

    /// Always false: a pool has at least one thread.
    pub fn is_empty(&self) -> bool {
        self.inner.senders.is_empty()
    }

    /// The index of the home thread the caller runs on, if it runs on one (of any pool).
    /// Resources bound to a thread's runtime (a PostgreSQL connection) shard by this.
    pub fn current_index() -> Option<usize> {
        HOME_INDEX.with(std::cell::Cell::get)
    }

    /// Runs `f` as a greenlet on the next home thread (round robin).
    pub fn spawn<F, R>(&self, f: F) -> SendGreenlet<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        let index = self.inner.next.fetch_add(1, Ordering::Relaxed) % self.len();
        self.spawn_on(index, f)
    }

    /// Runs `f` as a greenlet on home thread `index % len()`: all work that shares
    /// thread-bound resources goes to the same index.
    pub fn spawn_on<F, R>(&self, index: usize, f: F) -> SendGreenlet<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        let (tx, rx) = oneshot::channel::<std::thread::Result<R>>();
        let span = tracing::Span::current();
        let stack_size = self.inner.stack_size;
        let job: Job = Box::new(move || {
            let mut builder = Builder::new();
            if let Some(size) = stack_size {
                builder = builder.stack_size(size);
            }
            let greenlet = builder.spawn(f);
            tokio::task::spawn_local(run_job(greenlet, tx).instrument(span));
        });
        let sent = self.inner.senders[index % self.len()].send(job).is_ok();
        SendGreenlet { rx, sent }
    }
}

impl HomeThreads {
    /// Runs `f` as a greenlet on the next home thread without waiting for it: for cleanup that
    /// must do IO from a destructor (closing a session dropped in async code). A panic in `f`
    /// is logged and dropped.
    pub fn spawn_detached<F>(&self, f: F)
    where
        F: FnOnce() + Send + 'static,
    {
        let index = self.inner.next.fetch_add(1, Ordering::Relaxed) % self.len();
        let stack_size = self.inner.stack_size;
        let job: Job = Box::new(move || {
            let mut builder = Builder::new();
            if let Some(size) = stack_size {
                builder = builder.stack_size(size);
            }
            let greenlet = builder.spawn(f);
            tokio::task::spawn_local(async move {
                let mut greenlet = greenlet;
                let caught = std::future::poll_fn(|cx| {
                    match panic::catch_unwind(AssertUnwindSafe(|| Pin::new(&mut greenlet).poll(cx)))
                    {
                        Ok(Poll::Pending) => Poll::Pending,
                        Ok(Poll::Ready(())) => Poll::Ready(Ok(())),
                        Err(payload) => Poll::Ready(Err(payload)),
                    }
                })
                .await;
                if caught.is_err() {
                    tracing::error!("calcine-greenlet: a detached greenlet panicked");
                }
            });
        });
        if self.inner.senders[index].send(job).is_err() {
            tracing::error!(
                "calcine-greenlet: the home thread pool has shut down; detached work dropped"
            );
        }
    }
}

/// Runs the greenlet on the home thread until it finishes or the caller goes away; in the
/// latter case the greenlet is dropped here, which unwinds its stack on this thread.
async fn run_job<G, R>(greenlet: G, mut tx: oneshot::Sender<std::thread::Result<R>>)
where
    G: Future<Output = R> + Unpin,
{
    let mut greenlet = Some(greenlet);
    let outcome = std::future::poll_fn(|cx| {
        if tx.poll_closed(cx).is_ready() {
            return Poll::Ready(None);
        }
        let Some(g) = greenlet.as_mut() else {
            return Poll::Ready(None);
        };
        match panic::catch_unwind(AssertUnwindSafe(|| Pin::new(g).poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(value)) => Poll::Ready(Some(Ok(value))),
            Err(payload) => Poll::Ready(Some(Err(payload))),
        }
    })
    .await;
    // Cancelled: drop (and so unwind) the greenlet here, on its home thread.
    drop(greenlet);
    if let Some(outcome) = outcome {
        let _ = tx.send(outcome);
    }
}

/// Runs `f` as a greenlet on a home thread of the global pool and returns a `Send` future of
/// its value: usable from `tokio::spawn` on a multi-thread runtime and from axum handlers.
///
/// `f` must be `Send + 'static` (it travels to the home thread); inside it, [`await_`](crate::await_)
/// suspends the greenlet on its home thread. The caller's `tracing` span is entered around `f`,
/// so spans created in `f` are its children. Task-locals of the caller are *not* visible (use
/// the inline [`greenlet_spawn`](crate::greenlet_spawn) for that). Panics in `f` are re-raised
/// in the awaiter; dropping the future unwinds `f` on its home thread.
///
/// # Example
/// ```
/// # tokio::runtime::Builder::new_multi_thread().build().unwrap().block_on(async {
/// let handle = tokio::spawn(calcine_greenlet::spawn_send(|| {
///     calcine_greenlet::await_(async { 21 * 2 }).unwrap()
/// }));
/// assert_eq!(handle.await.unwrap(), 42);
/// # });
/// ```
pub fn spawn_send<F, R>(f: F) -> SendGreenlet<R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    HomeThreads::global().spawn(f)
}

/// The `Send` future returned by [`spawn_send`] / [`HomeThreads::spawn`].
#[must_use = "the greenlet is cancelled when this future is dropped"]
#[derive(Debug)]
pub struct SendGreenlet<R> {
    rx: oneshot::Receiver<std::thread::Result<R>>,
    sent: bool,
}

impl<R> Future for SendGreenlet<R> {
    type Output = R;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<R> {
        if !self.sent {
            panic!("calcine-greenlet: the home thread pool has shut down");
        }
        match Pin::new(&mut self.rx).poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Ok(Ok(value))) => Poll::Ready(value),
            Poll::Ready(Ok(Err(payload))) => panic::resume_unwind(payload),
            Poll::Ready(Err(_)) => {
                panic!("calcine-greenlet: a home thread stopped before finishing a greenlet")
            }
        }
    }
}

/// Runs `f` as a greenlet on a home thread of the global pool without waiting for it (see
/// [`HomeThreads::spawn_detached`]).
pub fn spawn_send_detached<F>(f: F)
where
    F: FnOnce() + Send + 'static,
{
    HomeThreads::global().spawn_detached(f);
}
