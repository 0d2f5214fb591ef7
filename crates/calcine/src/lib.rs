//! calcine: SQLAlchemy's Core, ORM and asyncio bridge for Rust, on one synchronous core.
//!
//! The bridge ([`greenlet`]) lets async code run synchronous database code inline on an async
//! task: [`greenlet_spawn`] runs a closure on a coroutine stack, and [`await_`] inside it
//! suspends the coroutine while the task awaits a future.
//!
//! ```
//! use calcine::{await_, greenlet_spawn};
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let n = greenlet_spawn(|| await_(async { 41 }).map(|v| v + 1)).await;
//! assert_eq!(n, Ok(42));
//! # });
//! ```

pub use calcine_greenlet as greenlet;
pub use calcine_greenlet::{await_, greenlet_spawn, in_greenlet, spawn_send};

/// The README's examples, compiled and run as doctests.
#[doc = include_str!("../../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
