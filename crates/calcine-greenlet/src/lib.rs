//! SQLAlchemy's greenlet bridge for Rust: synchronous code runs inline on an async task inside
//! a stackful coroutine, and every IO call inside it suspends the coroutine and is awaited by
//! the task (`sqlalchemy/util/concurrency.py`). This is how one synchronous core (calcine's
//! Session, unit of work, lazy loading) serves both sync and async programs.
//!
//! * [`greenlet_spawn`] runs a closure as a greenlet, inline in the caller's `poll` (`!Send`:
//!   current-thread runtimes, `LocalSet`, thread-per-core servers; ~40 ns per spawn).
//! * [`spawn_send`] runs it on a *home thread* and returns a `Send` future, for `tokio::spawn`
//!   on a multi-thread runtime and axum handlers. Sound by construction: a coroutine never
//!   resumes on another thread (see [`HomeThreads`]).
//! * [`await_`] suspends the running greenlet until a future completes; outside a greenlet it
//!   blocks on a private runtime (plain `fn main`) or, inside an async runtime, returns
//!   [`ErrorKind::MissingGreenlet`].
//!
//! ```
//! use calcine_greenlet::{await_, greenlet_spawn, in_greenlet};
//!
//! fn sync_business_logic() -> Result<i32, calcine_greenlet::Error> {
//!     assert!(in_greenlet());
//!     let a = await_(async { 1 })?; // would be a database round trip
//!     let b = await_(async { 2 })?;
//!     Ok(a + b)
//! }
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! assert_eq!(greenlet_spawn(sync_business_logic).await, Ok(3));
//! // The same function outside a greenlet, inside a runtime, is refused with a typed error.
//! assert!(sync_business_logic_outside().unwrap_err().is_missing_greenlet());
//! # });
//! # fn sync_business_logic_outside() -> Result<i32, calcine_greenlet::Error> {
//! #     calcine_greenlet::await_(async { 1 })
//! # }
//! ```
//!
//! # Stacks
//! Coroutine stacks are `mmap`ed with a guard page, 256 KiB by default
//! ([`set_default_stack_size`], [`Builder::stack_size`]), pooled per thread
//! ([`MAX_POOLED_STACKS`]), taken on first poll and returned on completion or after unwinding.
//!
//! # `panic = "abort"`
//! Cancelling (dropping) a suspended greenlet unwinds its stack so destructors run. Under
//! `panic = "abort"` unwinding is impossible: the greenlet's stack and the objects on it are
//! leaked instead (logged with `tracing::error!`), so connections held there are not returned.
//!
//! # Miri
//! Miri cannot execute a stack switch; under `cfg(miri)` (or `--cfg calcine_thread_backend`)
//! each coroutine runs on its own thread with channel hand-offs, which Miri can check:
//! `cargo +nightly miri test -p calcine-greenlet --test bridge` (needs the `miri` component).

mod await_;
mod current;
mod error;
mod greenlet;
mod home;
mod raw_coroutine;
mod stack_pool;
mod unchecked_send;

pub use await_::{await_, in_greenlet};
pub use error::{Error, ErrorKind};
pub use greenlet::{Builder, Counted, GreenletFuture, RequireAwait, greenlet_spawn};
pub use home::{HomeThreads, HomeThreadsBuilder, SendGreenlet, spawn_send, spawn_send_detached};
pub use stack_pool::{
    DEFAULT_STACK_SIZE, MAX_POOLED_STACKS, default_stack_size, pooled_stacks,
    set_default_stack_size,
};
pub use unchecked_send::{UncheckedSend, greenlet_spawn_unchecked_send};
