//! Helpers shared by calcine's bench targets (`benches/*.rs`): runtimes built the same way
//! everywhere, and futures with a known number of suspensions.

pub mod concurrency;
pub mod core_workloads;
pub mod diesel_models;
pub mod diesel_schema;
mod raw_sqlite;

pub use raw_sqlite::raw_sqlite;

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// A future that returns `Pending` once (waking itself first) and then `Ready(())`.
///
/// Awaiting it forces exactly one real suspension and one executor round trip: inside a
/// greenlet, `await_(YieldOnce::new())` suspends the coroutine and is resumed on the next poll;
/// in plain async code, `YieldOnce::new().await` returns to the executor once. The difference
/// between the two is the cost of one coroutine switch pair.
#[derive(Debug, Default)]
#[must_use = "futures do nothing unless awaited"]
pub struct YieldOnce {
    yielded: bool,
}

impl YieldOnce {
    /// A fresh future that has not yielded yet.
    pub fn new() -> Self {
        YieldOnce { yielded: false }
    }
}

impl Future for YieldOnce {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.yielded {
            Poll::Ready(())
        } else {
            self.yielded = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}

/// A current-thread runtime (the inline mode's home: `LocalSet`, thread-per-core servers).
///
/// # Panics
/// If the runtime cannot be built.
pub fn current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("current-thread runtime")
}

/// A multi-thread runtime with one worker per core (`tokio::main`'s default).
///
/// # Panics
/// If the runtime cannot be built.
pub fn multi_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("multi-thread runtime")
}

/// A raw tokio-postgres client on its own current-thread runtime: the PostgreSQL floor the
/// benchmarks compare with, and their setup connection.
pub struct RawPg {
    /// The runtime that drives `client`'s connection.
    pub rt: tokio::runtime::Runtime,
    /// The client.
    pub client: tokio_postgres::Client,
}

impl RawPg {
    /// Connects to `url` (panics if it can't: a benchmark without its server is a setup error).
    pub fn connect(url: &str) -> RawPg {
        let rt = current_thread();
        let client = rt.block_on(async {
            let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
                .await
                .expect("connect to CALCINE_BENCH_POSTGRES_URL");
            tokio::spawn(async move {
                let _ = connection.await;
            });
            client
        });
        RawPg { rt, client }
    }

    /// Runs `sql` (several statements allowed), panicking on error.
    pub fn batch(&self, sql: &str) {
        self.rt
            .block_on(self.client.batch_execute(sql))
            .expect("setup SQL");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yield_once_suspends_once() {
        let rt = current_thread();
        rt.block_on(async {
            let mut polls = 0;
            let mut fut = YieldOnce::new();
            std::future::poll_fn(|cx| {
                polls += 1;
                Pin::new(&mut fut).poll(cx)
            })
            .await;
            assert_eq!(polls, 2);
        });
    }

    #[test]
    fn nearest_rank_percentiles() {
        use crate::concurrency::percentile;
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&v, 50.0), 50);
        assert_eq!(percentile(&v, 99.0), 99);
        assert_eq!(percentile(&v, 99.9), 100);
        assert_eq!(percentile(&[7], 99.0), 7);
        assert_eq!(percentile(&[], 99.0), 0);
    }
}
