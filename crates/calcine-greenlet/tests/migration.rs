//! A12: under heavy work stealing, code inside a `Send`-mode greenlet never observes another
//! thread's thread-locals across a database-call-shaped suspension. `.ci/run` runs this in a
//! release build, where a coroutine that migrated between workers read stale thread-locals in
//! thousands of resumptions out of 10,000 (see the design notes).

#![allow(clippy::unwrap_used)]

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use calcine_greenlet::{await_, spawn_send};

thread_local! {
    static WHO: Cell<u64> = const { Cell::new(0) };
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

#[inline(always)]
fn my_thread_tag() -> (usize, u64) {
    WHO.with(|w| {
        if w.get() == 0 {
            w.set(NEXT_ID.fetch_add(1, Ordering::Relaxed));
        }
        (w as *const Cell<u64> as usize, w.get())
    })
}

#[test]
fn thread_locals_stay_the_threads_own_across_awaits() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap();
    let resumptions = 10_000u64;
    let tasks = 200u64;
    let per_task = resumptions / tasks;
    let stale = rt.block_on(async {
        let mut handles = Vec::new();
        for t in 0..tasks {
            handles.push(tokio::spawn(spawn_send(move || {
                let before = my_thread_tag();
                let thread = std::thread::current().id();
                let mut stale = 0u64;
                for i in 0..per_task {
                    // A "database call": really suspends and is resumed by whichever worker.
                    await_(async move {
                        if (i + t) % 7 == 0 {
                            tokio::time::sleep(Duration::from_micros(10)).await;
                        }
                        tokio::task::yield_now().await;
                    })
                    .unwrap();
                    let after = my_thread_tag();
                    if after != before || std::thread::current().id() != thread {
                        stale += 1;
                    }
                }
                stale
            })));
            // Keep the workers busy so tasks get stolen between polls.
            tokio::spawn(async {
                for _ in 0..50 {
                    tokio::task::yield_now().await;
                }
            });
        }
        let mut stale = 0;
        for h in handles {
            stale += h.await.unwrap();
        }
        stale
    });
    assert_eq!(
        stale, 0,
        "{stale} stale thread-local reads of {resumptions}"
    );
}
