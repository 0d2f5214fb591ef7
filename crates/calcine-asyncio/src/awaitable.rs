//! Awaitable attributes (SQLAlchemy's `AsyncAttrs`): read an object's attributes, including
//! ones that must load (lazy relationships, expired columns), from async code.

use calcine_engine::Result;
use calcine_greenlet::greenlet_spawn;
use calcine_orm::{Model, Obj};

/// `obj.awaitable(|u| u.posts.load()).await` runs the read inside a greenlet, so a lazy load or
/// a reload of expired attributes does its IO through the bridge instead of failing with
/// `MissingGreenlet` (SQLAlchemy's `await obj.awaitable_attrs.posts`). Already-loaded
/// attributes cost no IO.
pub trait AwaitableAttrs<T: Model> {
    /// Runs `f` on the object (read-locked) inside a greenlet and returns its result.
    fn awaitable<R>(&self, f: impl FnOnce(&T) -> Result<R>) -> impl Future<Output = Result<R>>;
}

impl<T: Model> AwaitableAttrs<T> for Obj<T> {
    fn awaitable<R>(&self, f: impl FnOnce(&T) -> Result<R>) -> impl Future<Output = Result<R>> {
        greenlet_spawn(move || {
            let guard = self.read()?;
            f(&guard)
        })
    }
}
