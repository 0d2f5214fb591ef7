//! The stack switch, behind one small interface with two backends:
//!
//! * `native` (default): corosensei's stackful coroutines on `mmap`ed stacks with a guard page.
//! * `thread` (`cfg(miri)`, or `--cfg calcine_thread_backend`): each coroutine is an OS thread
//!   and every switch is a channel hand-off. Miri cannot execute a stack switch, but it can check
//!   this backend, and with it the whole state machine above it (`greenlet.rs`, `await_.rs`).
//!
//! Both backends have the same semantics: `resume` runs the body until it suspends or returns,
//! `force_unwind` makes a pending `suspend` unwind the body's frames with a private panic payload,
//! and the body's own panics are the caller's business (the body in `greenlet.rs` catches them).

#[cfg(not(any(miri, calcine_thread_backend)))]
#[path = "raw_coroutine/native.rs"]
mod backend;
#[cfg(any(miri, calcine_thread_backend))]
#[path = "raw_coroutine/thread.rs"]
mod backend;

pub(crate) use backend::{
    Coroutine, CoroutineResult, Stack, Yielder, new_coroutine, new_stack, stack_size,
};
