//! `await_`: suspend the running greenlet until a future completes (SQLAlchemy's `await_only`).

use std::cell::OnceCell;
use std::future::{Future, IntoFuture};
use std::pin::{Pin, pin};
use std::task::{Context, Poll};

use crate::current::{self, Current};
use crate::error::{Error, ErrorKind};
use crate::greenlet::{Handle, Suspended};

/// Awaits `future` from synchronous code (SQLAlchemy's `await_only`), in one of three ways:
///
/// 1. **Inside a greenlet** ([`greenlet_spawn`](crate::greenlet_spawn)): polls the future once
///    and, if it is not ready, suspends the greenlet; the task awaiting the greenlet awaits the
///    future and resumes the greenlet with its output.
/// 2. **Outside any greenlet, on a thread with no async runtime** (plain `fn main`): drives the
///    future to completion on a current-thread tokio runtime owned by this thread, so
///    synchronous programs can use async drivers (like the `postgres` crate does).
/// 3. **Outside any greenlet, inside an async runtime**: returns
///    [`ErrorKind::MissingGreenlet`] and drops the future unpolled. Blocking here would stall
///    the executor; the caller should have used `greenlet_spawn` / `run_sync`.
///
/// # Errors
/// * [`ErrorKind::MissingGreenlet`]: case 3.
/// * [`ErrorKind::NestedAwait`]: called from inside a future that was itself handed to
///   `await_` (such a future must use `.await`).
/// * [`ErrorKind::Unwinding`]: called while the greenlet is being unwound (cancelled, or a
///   panic is in flight): a suspended coroutine cannot be resumed during its unwinding.
/// * [`ErrorKind::Runtime`]: case 2, the fallback runtime could not be built.
///
/// The future's own errors are its output: `await_(fut)?` hands them to the sync code here.
///
/// # Example
/// ```
/// // Case 2: plain synchronous code, no runtime on this thread.
/// let v = calcine_greenlet::await_(async { 40 + 2 }).unwrap();
/// assert_eq!(v, 42);
/// ```
pub fn await_<F: IntoFuture>(future: F) -> Result<F::Output, Error> {
    match current::get() {
        Current::Greenlet(handle) => {
            // SAFETY: the state says a greenlet body is running on this thread right now; the
            // handle lives on that body's coroutine stack, which is the stack executing this
            // call, so it outlives this function.
            let handle = unsafe { &*handle };
            suspend_on(handle, future.into_future())
        }
        Current::PollingAwaited => Err(Error::nested_await()),
        Current::Outside => block_outside(future.into_future()),
    }
}

/// Whether the calling code runs inside a greenlet body, where [`await_`] suspends.
pub fn in_greenlet() -> bool {
    matches!(current::get(), Current::Greenlet(_))
}

/// The future handed to the poller, with room for its output. Lives on the coroutine stack.
struct Slot<'p, F: Future> {
    future: Pin<&'p mut F>,
    output: Option<F::Output>,
}

/// Polls the [`Slot`] behind `data`, storing the output when ready.
///
/// # Safety
/// `data` must point at a live `Slot<'_, F>` that nothing else accesses during the call.
unsafe fn poll_slot<F: Future>(data: *mut (), cx: &mut Context<'_>) -> Poll<()> {
    // SAFETY: guaranteed by the caller (the poller holds this pointer only while the coroutine
    // owning the slot is suspended in `suspend_on`).
    let slot = unsafe { &mut *data.cast::<Slot<'_, F>>() };
    match slot.future.as_mut().poll(cx) {
        Poll::Ready(value) => {
            slot.output = Some(value);
            Poll::Ready(())
        }
        Poll::Pending => Poll::Pending,
    }
}

/// Case 1. Never inlined, and reads the thread-local state only through `#[inline(never)]`
/// accessors, so no thread-local address is held across the suspend.
#[inline(never)]
fn suspend_on<F: Future>(handle: &Handle, future: F) -> Result<F::Output, Error> {
    if std::thread::panicking() {
        return Err(Error::unwinding());
    }
    handle.awaits.set(handle.awaits.get() + 1);
    let mut future = pin!(future);

    // Poll first: a ready future (a cached statement, a buffered row) costs no switch.
    {
        // SAFETY: `cx` was handed in by the resume that is running this body right now; it is
        // valid until the body suspends, which happens below, after this borrow ends.
        let cx = unsafe { &mut *handle.cx.get() };
        let _back = BackInGreenlet(handle);
        current::set(Current::PollingAwaited);
        if let Poll::Ready(value) = future.as_mut().poll(cx) {
            return Ok(value);
        }
    }

    let mut slot = Slot {
        future,
        output: None,
    };
    let suspended = Suspended {
        data: (&raw mut slot).cast(),
        poll: poll_slot::<F>,
    };
    let resume = {
        // Give the thread back to the poller's state; re-enter on resume *and* on a forced
        // unwind, so destructors running during cancellation still see this greenlet.
        current::set(handle.prev.get());
        let _reenter = Reenter(handle);
        // SAFETY: the yielder lives on this coroutine's stack, below this frame.
        let yielder = unsafe { &*handle.yielder };
        yielder.suspend(suspended)
    };
    handle.cx.set(resume);
    slot.output.take().ok_or_else(|| {
        Error::new(
            ErrorKind::Unwinding,
            "calcine-greenlet: greenlet resumed before its awaited future completed",
        )
    })
}

/// Sets the state back to "this greenlet" when dropped.
struct BackInGreenlet<'h>(&'h Handle);

impl Drop for BackInGreenlet<'_> {
    fn drop(&mut self) {
        current::set(Current::Greenlet(self.0));
    }
}

/// Re-enters the greenlet after a suspend returns or unwinds: remembers the poller's state
/// and marks this greenlet as running.
struct Reenter<'h>(&'h Handle);

impl Drop for Reenter<'_> {
    fn drop(&mut self) {
        self.0.prev.set(current::replace(Current::Greenlet(self.0)));
    }
}

thread_local! {
    static FALLBACK: OnceCell<tokio::runtime::Runtime> = const { OnceCell::new() };
}

/// Cases 2 and 3.
#[inline(never)]
fn block_outside<F: Future>(future: F) -> Result<F::Output, Error> {
    if tokio::runtime::Handle::try_current().is_ok() {
        drop(future);
        return Err(Error::missing_greenlet());
    }
    FALLBACK.with(|cell| {
        let runtime = match cell.get() {
            Some(rt) => rt,
            None => {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| {
                        Error::new(
                            ErrorKind::Runtime,
                            format!("could not build the runtime that drives await_(): {e}"),
                        )
                    })?;
                cell.get_or_init(|| rt)
            }
        };
        let _restore = RestoreOutside(current::replace(Current::PollingAwaited));
        Ok(runtime.block_on(future))
    })
}

struct RestoreOutside(Current);

impl Drop for RestoreOutside {
    fn drop(&mut self) {
        current::set(self.0);
    }
}
