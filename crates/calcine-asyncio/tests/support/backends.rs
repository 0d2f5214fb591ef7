//! The async facade's tests use the shared backend harness of `calcine-testsuite`.

#![allow(unused_imports, dead_code, unreachable_pub)]

pub use calcine_testsuite::*;

/// `Db::async_engine()` for these tests.
pub trait AsyncDb {
    /// An async engine with default options.
    fn async_engine(&self) -> calcine_asyncio::AsyncEngine;
}

impl AsyncDb for Db {
    fn async_engine(&self) -> calcine_asyncio::AsyncEngine {
        calcine_asyncio::create_async_engine(&self.url).expect("async engine")
    }
}
