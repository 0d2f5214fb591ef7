//! The opt-in inline `Send` fast path: a greenlet future that may migrate between threads,
//! for callers who promise that the code inside holds no thread-local state across `await_`.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::greenlet::{GreenletFuture, greenlet_spawn};

/// Like [`greenlet_spawn`], but the future is `Send`, so a work-stealing runtime may resume the
/// coroutine on another worker thread. This saves the home-thread hop of
/// [`spawn_send`](crate::spawn_send) (~10–20 µs) and is the most dangerous function of this
/// crate: wasmtime calls its equivalent `unsafe impl Send` the same.
///
/// # Safety
/// Between any two [`await_`](crate::await_) calls, the coroutine may continue on a different
/// OS thread than the one it was suspended on. The caller must guarantee that the code of `f`
/// (including every library it calls) never keeps a reference to, or the address of, a
/// thread-local value across an `await_`: not `thread_local!` borrows, not `rand::thread_rng()`
/// kept in a variable, not a `tracing` dispatcher guard, not a `RefCell` borrow of a
/// thread-local, not `!Send` values such as `Rc` that are shared with other tasks. Compiled code
/// may cache a thread-local's address in a register across the call that suspends, so even
/// code that looks innocent can read another thread's thread-local after migration; measured
/// in release builds, thousands of stale reads per 10,000 resumptions. calcine's own code
/// between `greenlet_spawn` and `await_` obeys this (thread-local accessors are
/// `#[inline(never)]`); user code inside `f` is the caller's responsibility.
///
/// Prefer [`spawn_send`](crate::spawn_send), which is sound by construction.
pub unsafe fn greenlet_spawn_unchecked_send<F, R>(f: F) -> UncheckedSend<GreenletFuture<F, R>>
where
    F: FnOnce() -> R + Send,
    R: Send,
{
    UncheckedSend(greenlet_spawn(f))
}

/// A future asserted `Send` by [`greenlet_spawn_unchecked_send`]'s caller.
#[must_use = "a greenlet does nothing until it is awaited"]
pub struct UncheckedSend<T>(T);

// SAFETY: the only way to build this type is the `unsafe fn` above, whose caller takes on the
// contract that the code inside holds no thread-local state across a suspension point. `F` and
// `R` are `Send`, and every other value on the coroutine stack is placed there by `f` under that
// same contract.
unsafe impl<T> Send for UncheckedSend<T> {}

impl<T: Future + Unpin> Future for UncheckedSend<T> {
    type Output = T::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T::Output> {
        Pin::new(&mut self.0).poll(cx)
    }
}
