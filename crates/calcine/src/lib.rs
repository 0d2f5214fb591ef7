//! calcine: SQLAlchemy's Core, ORM and asyncio bridge for Rust, on one synchronous core.
//!
//! The bridge ([`greenlet`]) lets async code run synchronous database code inline on an async
//! task: see `calcine_greenlet` for `greenlet_spawn` and `await_`.

pub use calcine_greenlet as greenlet;
pub use calcine_greenlet::{await_, greenlet_spawn, in_greenlet};
