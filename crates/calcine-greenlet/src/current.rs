//! The thread-local "where am I" state that `await_` and `in_greenlet` read.
//!
//! Only the coroutine side writes it: a greenlet body sets it to itself when it is resumed and
//! restores the poller's value before it suspends or returns, so the state always describes the
//! code running *now* on this thread. Every access goes through an `#[inline(never)]` function:
//! LLVM may keep a thread-local's address in a register across a call in one function, and a
//! suspend is such a call (see "Soundness over convenience" in the design), so no function of
//! this crate reads a thread-local both before and after a suspend.

use std::cell::Cell;

use crate::greenlet::Handle;

/// What is running on this thread right now.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Current {
    /// Plain code: not inside any greenlet body.
    Outside,
    /// A greenlet body; the pointer is its handle on the coroutine stack.
    Greenlet(*const Handle),
    /// The poll of a future that was handed to `await_` (on the coroutine stack when polled
    /// first, or in the task's poll afterwards).
    PollingAwaited,
}

thread_local! {
    static CURRENT: Cell<Current> = const { Cell::new(Current::Outside) };
}

/// The current state.
#[inline(never)]
pub(crate) fn get() -> Current {
    CURRENT.with(Cell::get)
}

/// Sets the state, returning the previous one.
#[inline(never)]
pub(crate) fn replace(state: Current) -> Current {
    CURRENT.with(|c| c.replace(state))
}

/// Sets the state.
#[inline(never)]
pub(crate) fn set(state: Current) {
    CURRENT.with(|c| c.set(state));
}
