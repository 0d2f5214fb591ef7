//! The engine's tests use the shared backend harness of `calcine-testsuite`.

#![allow(unused_imports, dead_code, unreachable_pub)]

pub use calcine_testsuite::*;
