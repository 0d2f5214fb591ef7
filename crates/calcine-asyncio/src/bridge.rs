//! The one place the facade enters the bridge: every async method is a sync call run by
//! [`greenlet_spawn`] (inline) or [`spawn_send`](calcine_greenlet::spawn_send) (home thread).

use calcine_engine::{Error, Result};
use calcine_greenlet::greenlet_spawn;

/// Runs `f` as an inline greenlet. With `require_await`, a successful `f` that made no
/// `await_` call is turned into [`AwaitRequired`](calcine_engine::ErrorKind::AwaitRequired)
/// (SQLAlchemy's `_require_await=True`); an `Err` from `f` always wins, so a statement that
/// failed before reaching the driver reports its own error.
pub(crate) async fn run<R>(require_await: bool, f: impl FnOnce() -> Result<R>) -> Result<R> {
    let (value, awaits) = greenlet_spawn(f).counted().await;
    let value = value?;
    if require_await && awaits == 0 {
        return Err(Error::from(calcine_greenlet::Error::await_required()));
    }
    Ok(value)
}
