//! `greenlet_spawn`: run a synchronous closure on a coroutine stack inside a future's `poll`
//! (SQLAlchemy `util/concurrency.py`, `greenlet_spawn` and `_AsyncIoGreenlet`).
//!
//! ```text
//!  task stack                          coroutine stack (pooled, guard page below)
//!  GreenletFuture::poll(cx)
//!    resume(cx) ─────────────────────▶ body: f() ... await_(fut)
//!                                         poll fut with cx ── Ready? return it, no switch
//!                                         Pending: pin fut here, suspend(&slot)
//!    ◀──────────────────── Suspended ── (frames of f stay live on this stack)
//!    return Pending
//!  ... waker fires ...
//!  GreenletFuture::poll(cx)
//!    poll slot (the pinned fut) ── Pending? return Pending
//!    Ready: resume(cx) ──────────────▶ await_ returns the output; f continues
//!    ◀────────────────────── Return ── f's value (or its panic, re-raised here)
//! ```
//!
//! The only pointers that cross the switch are the `Context` (valid for the duration of the
//! `resume` that carries it) and the slot (valid while the coroutine is suspended in the
//! `await_` that owns it). Dropping the future while suspended unwinds the coroutine stack,
//! so `f`'s destructors run, and gives the stack back to the pool.

use std::cell::Cell;
use std::future::Future;
use std::marker::PhantomData;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::current::{self, Current};
use crate::error::Error;
use crate::raw_coroutine::{Coroutine, CoroutineResult, Yielder, new_coroutine};
use crate::stack_pool;

/// What a resume hands the body: the poller's `Context`, lifetime erased. Valid only until the
/// body suspends or returns.
pub(crate) type Resume = *mut Context<'static>;

/// What a suspend hands the poller: a future pinned on the coroutine stack, type erased.
pub(crate) struct Suspended {
    pub(crate) data: *mut (),
    pub(crate) poll: unsafe fn(*mut (), &mut Context<'_>) -> Poll<()>,
}

/// A running greenlet body's view of itself; lives on its coroutine stack.
pub(crate) struct Handle {
    pub(crate) yielder: *const Yielder<Resume, Suspended>,
    /// The `Context` of the resume that is running the body now.
    pub(crate) cx: Cell<Resume>,
    /// The thread's [`Current`] state at the moment this body was (re)entered.
    pub(crate) prev: Cell<Current>,
    /// `await_` calls made by this body (SQLAlchemy's "switch occurred", for `require_await`).
    pub(crate) awaits: Cell<u64>,
}

type Output<R> = std::thread::Result<(R, u64)>;

enum State<F, R> {
    Fresh(F),
    Running {
        co: Coroutine<Resume, Suspended, Output<R>>,
        pending: Option<Suspended>,
    },
    Done,
}

/// Spawns `f` as a greenlet: the returned future runs `f` inline, on a coroutine stack, inside
/// its own `poll`; each [`await_`](crate::await_) in `f` suspends the coroutine and lets this
/// future await the handed-over future (SQLAlchemy's `greenlet_spawn`).
///
/// The future is `!Send`: the coroutine never leaves the thread that first polled it. For
/// work-stealing runtimes (`tokio::spawn`, axum handlers) use [`spawn_send`](crate::spawn_send).
///
/// `f`'s panics are re-raised in the awaiter. Dropping the future while `f` is suspended unwinds
/// `f`'s stack (its destructors run; `await_` in those destructors returns
/// [`ErrorKind::Unwinding`](crate::ErrorKind::Unwinding)).
///
/// # Example
/// ```
/// use calcine_greenlet::{await_, greenlet_spawn};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let sum = greenlet_spawn(|| {
///     // Plain synchronous code that awaits futures.
///     let a = await_(async { 1 }).unwrap();
///     let b = await_(async { 2 }).unwrap();
///     a + b
/// })
/// .await;
/// assert_eq!(sum, 3);
/// # });
/// ```
///
/// The future cannot be sent to another thread:
/// ```compile_fail
/// fn assert_send<T: Send>(_: T) {}
/// assert_send(calcine_greenlet::greenlet_spawn(|| 1));
/// ```
pub fn greenlet_spawn<F, R>(f: F) -> GreenletFuture<F, R>
where
    F: FnOnce() -> R,
{
    Builder::new().spawn(f)
}

/// Configures a greenlet before spawning it.
#[derive(Debug, Clone)]
pub struct Builder {
    stack_size: usize,
}

impl Default for Builder {
    fn default() -> Self {
        Builder::new()
    }
}

impl Builder {
    /// A builder with the default stack size ([`default_stack_size`](crate::default_stack_size)).
    pub fn new() -> Self {
        Builder {
            stack_size: stack_pool::default_stack_size(),
        }
    }

    /// Usable stack bytes for this greenlet (a guard page is added below). Deep recursion in
    /// `f` needs a larger stack; overflowing it hits the guard page and kills the process.
    pub fn stack_size(mut self, bytes: usize) -> Self {
        self.stack_size = bytes.max(16 * 1024);
        self
    }

    /// Spawns `f` (see [`greenlet_spawn`]).
    pub fn spawn<F, R>(self, f: F) -> GreenletFuture<F, R>
    where
        F: FnOnce() -> R,
    {
        GreenletFuture {
            state: State::Fresh(f),
            stack_size: self.stack_size,
            _not_send: PhantomData,
        }
    }
}

/// The future returned by [`greenlet_spawn`]; resolves to `f`'s return value.
#[must_use = "a greenlet does nothing until it is awaited"]
pub struct GreenletFuture<F, R> {
    state: State<F, R>,
    stack_size: usize,
    // The coroutine holds user frames that may cache thread-locals: it must stay on this thread.
    _not_send: PhantomData<*const ()>,
}

impl<F, R> Unpin for GreenletFuture<F, R> {}

impl<F: FnOnce() -> R, R> GreenletFuture<F, R> {
    /// Resolves to `Err(AwaitRequired)` if `f` never called `await_` (SQLAlchemy's
    /// `greenlet_spawn(..., _require_await=True)`); `f`'s value otherwise.
    pub fn require_await(self) -> RequireAwait<F, R> {
        RequireAwait { inner: self }
    }

    /// Resolves to `f`'s value and the number of `await_` calls it made.
    pub fn counted(self) -> Counted<F, R> {
        Counted { inner: self }
    }

    fn start(&mut self) {
        let State::Fresh(f) = std::mem::replace(&mut self.state, State::Done) else {
            return;
        };
        let stack = match stack_pool::take(self.stack_size) {
            Ok(stack) => stack,
            // Like a failed heap allocation: nothing sensible can continue.
            Err(e) => panic!(
                "calcine-greenlet: could not map a coroutine stack of {} bytes: {e}",
                self.stack_size
            ),
        };
        let body = move |yielder: &Yielder<Resume, Suspended>, first: Resume| -> Output<R> {
            let handle = Handle {
                yielder,
                cx: Cell::new(first),
                prev: Cell::new(Current::Outside),
                awaits: Cell::new(0),
            };
            handle
                .prev
                .set(current::replace(Current::Greenlet(&handle)));
            let result = panic::catch_unwind(AssertUnwindSafe(f));
            current::set(handle.prev.get());
            result.map(|value| (value, handle.awaits.get()))
        };
        // SAFETY: `body` owns `f`, whose borrows are tied to `F`, a type parameter of `self`:
        // the coroutine cannot outlive them, and `Drop` unwinds it before they end.
        let co = unsafe { new_coroutine(stack, body) };
        self.state = State::Running { co, pending: None };
    }

    fn poll_counted(&mut self, cx: &mut Context<'_>) -> Poll<(R, u64)> {
        if matches!(self.state, State::Fresh(_)) {
            self.start();
        }
        let State::Running { co, pending } = &mut self.state else {
            panic!("GreenletFuture polled after completion");
        };
        if let Some(slot) = pending {
            let restore = Restore(current::replace(Current::PollingAwaited));
            // SAFETY: `slot` points at a pinned future on the coroutine stack; the coroutine is
            // suspended inside the `await_` that owns it, so it is alive and nothing else
            // touches it until we resume.
            let ready = unsafe { (slot.poll)(slot.data, cx) };
            drop(restore);
            if ready.is_pending() {
                return Poll::Pending;
            }
            *pending = None;
        }
        let resume: Resume = (cx as *mut Context<'_>).cast();
        match co.resume(resume) {
            CoroutineResult::Yield(slot) => {
                // `await_` polled it once already with this `cx`; its waker is registered.
                *pending = Some(slot);
                Poll::Pending
            }
            CoroutineResult::Return(output) => {
                if let State::Running { co, .. } = std::mem::replace(&mut self.state, State::Done) {
                    stack_pool::give(co.into_stack());
                }
                match output {
                    Ok(value) => Poll::Ready(value),
                    Err(payload) => panic::resume_unwind(payload),
                }
            }
        }
    }
}

impl<F: FnOnce() -> R, R> Future for GreenletFuture<F, R> {
    type Output = R;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<R> {
        self.get_mut().poll_counted(cx).map(|(value, _)| value)
    }
}

impl<F, R> Drop for GreenletFuture<F, R> {
    fn drop(&mut self) {
        // The pending slot is only a pointer into the coroutine stack; unwinding drops the future.
        let State::Running { mut co, .. } = std::mem::replace(&mut self.state, State::Done) else {
            return;
        };
        #[cfg(panic = "abort")]
        if co.started() && !co.done() {
            // Unwinding would abort the process: leak the stack and the frames on it instead.
            tracing::error!(
                "calcine-greenlet: a suspended greenlet was dropped under panic=abort; its \
                 stack and the objects on it are leaked (their destructors do not run)"
            );
            std::mem::forget(co);
            return;
        }
        co.force_unwind();
        stack_pool::give(co.into_stack());
    }
}

/// Restores the thread's [`Current`] state on drop (also when a poll panics).
struct Restore(Current);

impl Drop for Restore {
    fn drop(&mut self) {
        current::set(self.0);
    }
}

/// The future returned by [`GreenletFuture::require_await`].
#[must_use = "a greenlet does nothing until it is awaited"]
pub struct RequireAwait<F, R> {
    inner: GreenletFuture<F, R>,
}

impl<F: FnOnce() -> R, R> Future for RequireAwait<F, R> {
    type Output = Result<R, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.get_mut()
            .inner
            .poll_counted(cx)
            .map(|(value, awaits)| {
                if awaits == 0 {
                    Err(Error::await_required())
                } else {
                    Ok(value)
                }
            })
    }
}

/// The future returned by [`GreenletFuture::counted`].
#[must_use = "a greenlet does nothing until it is awaited"]
pub struct Counted<F, R> {
    inner: GreenletFuture<F, R>,
}

impl<F: FnOnce() -> R, R> Future for Counted<F, R> {
    type Output = (R, u64);

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.get_mut().inner.poll_counted(cx)
    }
}
