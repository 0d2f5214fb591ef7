//! The greenlet bridge against the tokio primitives it competes with, in one run
//! (`../shared/benchmarks.md`, section 3; issue 3 item 4).
//!
//! Every benchmark uses `iter_custom`: the loop of `iters` operations runs inside *one*
//! `block_on` (or one spawned task, or one greenlet), and only that loop is timed, so runtime
//! construction and `block_on` entry are not part of the per-operation figure.
//!
//! Groups (criterion ids `group/function`, reports in `target/criterion/<group>/<function>`):
//! * `round_trip`: run a closure that returns `1` and get the value back, every way there is.
//! * `switch`: one `await_` inside a running greenlet, against the same future `.await`ed by
//!   plain async code; the difference is the coroutine switch pair.
//! * `concurrent64`: 64 tasks calling at once, per-call throughput.

use std::future::Future;
use std::hint::black_box;
use std::time::{Duration, Instant};

use calcine_benches::{YieldOnce, current_thread, multi_thread};
use calcine_greenlet::{
    Builder, DEFAULT_STACK_SIZE, await_, greenlet_spawn, greenlet_spawn_unchecked_send, spawn_send,
};
use criterion::{Criterion, criterion_group, criterion_main};
use tokio::runtime::Runtime;

/// Runs `body` as a task on a worker of the multi-thread runtime (where axum handlers and
/// `tokio::spawn`ed tasks run) and returns the duration it measured itself.
fn on_worker<Fut>(rt: &Runtime, body: Fut) -> Duration
where
    Fut: Future<Output = Duration> + Send + 'static,
{
    rt.block_on(async move { tokio::spawn(body).await.expect("bench task panicked") })
}

fn round_trip(c: &mut Criterion) {
    let ct = current_thread();
    let mt = multi_thread();
    // Start the global home threads and the blocking pool before anything is measured.
    mt.block_on(async {
        assert_eq!(spawn_send(|| 1).await, 1);
        assert_eq!(tokio::task::spawn_blocking(|| 1).await.ok(), Some(1));
    });

    let mut g = c.benchmark_group("round_trip");

    // --- current-thread runtime, inline mode -------------------------------------------------
    g.bench_function("plain_await", |b| {
        b.iter_custom(|iters| {
            ct.block_on(async move {
                let start = Instant::now();
                for _ in 0..iters {
                    black_box(black_box(async { 1 }).await);
                }
                start.elapsed()
            })
        });
    });

    g.bench_function("inline_spawn_pooled", |b| {
        b.iter_custom(|iters| {
            ct.block_on(async move {
                let start = Instant::now();
                for _ in 0..iters {
                    black_box(greenlet_spawn(|| black_box(1)).await);
                }
                start.elapsed()
            })
        });
    });

    // The pool keeps stacks of one size; alternating two sizes makes every take miss (the
    // pooled stack of the other size is unmapped), so each spawn maps a fresh stack:
    // mmap + guard-page mprotect + first-touch page faults + one munmap.
    g.bench_function("inline_spawn_fresh_stack", |b| {
        let sizes = [DEFAULT_STACK_SIZE, 2 * DEFAULT_STACK_SIZE];
        b.iter_custom(|iters| {
            ct.block_on(async move {
                let start = Instant::now();
                for i in 0..iters {
                    let size = sizes[usize::from(i % 2 == 1)];
                    black_box(Builder::new().stack_size(size).spawn(|| black_box(1)).await);
                }
                start.elapsed()
            })
        });
    });

    g.bench_function("inline_spawn_one_await_switch", |b| {
        b.iter_custom(|iters| {
            ct.block_on(async move {
                let start = Instant::now();
                for _ in 0..iters {
                    black_box(
                        greenlet_spawn(|| {
                            await_(YieldOnce::new()).expect("in a greenlet");
                            black_box(1)
                        })
                        .await,
                    );
                }
                start.elapsed()
            })
        });
    });

    // --- multi-thread runtime, from a task on a worker ---------------------------------------
    g.bench_function("mt_plain_await", |b| {
        b.iter_custom(|iters| {
            on_worker(&mt, async move {
                let start = Instant::now();
                for _ in 0..iters {
                    black_box(black_box(async { 1 }).await);
                }
                start.elapsed()
            })
        });
    });

    g.bench_function("mt_yield_now", |b| {
        b.iter_custom(|iters| {
            on_worker(&mt, async move {
                let start = Instant::now();
                for _ in 0..iters {
                    tokio::task::yield_now().await;
                }
                start.elapsed()
            })
        });
    });

    g.bench_function("mt_tokio_spawn", |b| {
        b.iter_custom(|iters| {
            on_worker(&mt, async move {
                let start = Instant::now();
                for _ in 0..iters {
                    black_box(tokio::spawn(async { black_box(1) }).await.ok());
                }
                start.elapsed()
            })
        });
    });

    g.bench_function("mt_spawn_blocking", |b| {
        b.iter_custom(|iters| {
            on_worker(&mt, async move {
                let start = Instant::now();
                for _ in 0..iters {
                    black_box(tokio::task::spawn_blocking(|| black_box(1)).await.ok());
                }
                start.elapsed()
            })
        });
    });

    // Back-to-back calls in one poll: the first hands the worker core to another thread,
    // later ones usually find the thread already in blocking mode and just call the closure.
    g.bench_function("mt_block_in_place", |b| {
        b.iter_custom(|iters| {
            on_worker(&mt, async move {
                let start = Instant::now();
                for _ in 0..iters {
                    black_box(tokio::task::block_in_place(|| black_box(1)));
                }
                start.elapsed()
            })
        });
    });

    // One call per poll (a handler doing one blocking call): each call hands the core off
    // again. Includes one `yield_now` (see `mt_yield_now`).
    g.bench_function("mt_block_in_place_per_poll", |b| {
        b.iter_custom(|iters| {
            on_worker(&mt, async move {
                let start = Instant::now();
                for _ in 0..iters {
                    black_box(tokio::task::block_in_place(|| black_box(1)));
                    tokio::task::yield_now().await;
                }
                start.elapsed()
            })
        });
    });

    g.bench_function("mt_spawn_send", |b| {
        b.iter_custom(|iters| {
            on_worker(&mt, async move {
                let start = Instant::now();
                for _ in 0..iters {
                    black_box(spawn_send(|| black_box(1)).await);
                }
                start.elapsed()
            })
        });
    });

    g.bench_function("mt_spawn_send_one_await_switch", |b| {
        b.iter_custom(|iters| {
            on_worker(&mt, async move {
                let start = Instant::now();
                for _ in 0..iters {
                    black_box(
                        spawn_send(|| {
                            await_(YieldOnce::new()).expect("in a greenlet");
                            black_box(1)
                        })
                        .await,
                    );
                }
                start.elapsed()
            })
        });
    });

    g.bench_function("mt_unchecked_send", |b| {
        b.iter_custom(|iters| {
            on_worker(&mt, async move {
                let start = Instant::now();
                for _ in 0..iters {
                    // SAFETY: the closure touches no thread-local state and never calls
                    // `await_`, so there is no suspension across which it could migrate.
                    let fut = unsafe { greenlet_spawn_unchecked_send(|| black_box(1)) };
                    black_box(fut.await);
                }
                start.elapsed()
            })
        });
    });

    g.finish();
}

fn switch(c: &mut Criterion) {
    let ct = current_thread();
    let mut g = c.benchmark_group("switch");

    // The executor round trip alone: poll, Pending (self-wake), poll again, Ready.
    g.bench_function("plain_yield_once", |b| {
        b.iter_custom(|iters| {
            ct.block_on(async move {
                let start = Instant::now();
                for _ in 0..iters {
                    YieldOnce::new().await;
                }
                start.elapsed()
            })
        });
    });

    // The same round trip through one greenlet: await_ polls, suspends the coroutine, the
    // GreenletFuture returns Pending, is polled again, polls the parked future, resumes.
    g.bench_function("await_yield_once", |b| {
        b.iter_custom(|iters| {
            ct.block_on(greenlet_spawn(move || {
                let start = Instant::now();
                for _ in 0..iters {
                    await_(YieldOnce::new()).expect("in a greenlet");
                }
                start.elapsed()
            }))
        });
    });

    g.bench_function("plain_ready", |b| {
        b.iter_custom(|iters| {
            ct.block_on(async move {
                let start = Instant::now();
                for i in 0..iters {
                    black_box(std::future::ready(black_box(i)).await);
                }
                start.elapsed()
            })
        });
    });

    // await_'s poll-first path: a ready future costs no switch.
    g.bench_function("await_ready", |b| {
        b.iter_custom(|iters| {
            ct.block_on(greenlet_spawn(move || {
                let start = Instant::now();
                for i in 0..iters {
                    black_box(await_(std::future::ready(black_box(i))).expect("in a greenlet"));
                }
                start.elapsed()
            }))
        });
    });

    g.finish();
}

const CALLERS: u64 = 64;

/// `CALLERS` tasks on the multi-thread runtime each make `ceil(iters / CALLERS)` calls; the
/// elapsed time is scaled to `iters` calls.
fn concurrent<F, Fut>(rt: &Runtime, iters: u64, call: F) -> Duration
where
    F: Fn() -> Fut + Send + Copy + 'static,
    Fut: Future<Output = i32> + Send,
{
    let per_caller = iters.div_ceil(CALLERS).max(1);
    let elapsed = rt.block_on(async move {
        let start = Instant::now();
        let tasks: Vec<_> = (0..CALLERS)
            .map(|_| {
                tokio::spawn(async move {
                    for _ in 0..per_caller {
                        black_box(call().await);
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.expect("caller panicked");
        }
        start.elapsed()
    });
    elapsed.mul_f64(iters as f64 / (per_caller * CALLERS) as f64)
}

fn concurrent64(c: &mut Criterion) {
    let mt = multi_thread();
    mt.block_on(async {
        assert_eq!(spawn_send(|| 1).await, 1);
    });
    let mut g = c.benchmark_group("concurrent64");

    g.bench_function("spawn_send", |b| {
        b.iter_custom(|iters| concurrent(&mt, iters, || spawn_send(|| black_box(1))));
    });

    g.bench_function("spawn_blocking", |b| {
        b.iter_custom(|iters| {
            concurrent(&mt, iters, || async {
                tokio::task::spawn_blocking(|| black_box(1))
                    .await
                    .expect("blocking task panicked")
            })
        });
    });

    g.finish();
}

criterion_group! {
    name = benches;
    // Defaults for a plain `cargo bench`; `run-bridge.sh` passes its own times on the command line.
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(6));
    targets = round_trip, switch, concurrent64
}
criterion_main!(benches);
