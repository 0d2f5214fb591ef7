//! The bridge's behaviours (acceptance A1–A10 at bridge level), inline `!Send` mode.

#![allow(clippy::unwrap_used)]

use std::cell::Cell;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use calcine_greenlet::{Builder, ErrorKind, await_, greenlet_spawn, in_greenlet};

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// A future that is pending `n` times (waking itself) before it is ready.
struct PendingFor(u32, i64);

impl Future for PendingFor {
    type Output = i64;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<i64> {
        if self.0 == 0 {
            Poll::Ready(self.1)
        } else {
            self.0 -= 1;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}

#[test]
fn spawn_returns_the_closures_value() {
    assert_eq!(rt().block_on(greenlet_spawn(|| 7)), 7);
    let owned = String::from("borrowed");
    let len = rt().block_on(greenlet_spawn(|| owned.len()));
    assert_eq!(len, 8);
}

#[test]
fn closure_without_io_succeeds_and_require_await_reports_it() {
    let rt = rt();
    assert_eq!(rt.block_on(greenlet_spawn(|| "no io")), "no io");
    let err = rt
        .block_on(greenlet_spawn(|| "no io").require_await())
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AwaitRequired);
    assert!(err.to_string().contains("required an async execution"));
    let ok = rt.block_on(greenlet_spawn(|| await_(PendingFor(1, 5)).unwrap()).require_await());
    assert_eq!(ok, Ok(5));
    // Poll-first: a ready future still counts as IO through the bridge.
    let ok = rt.block_on(greenlet_spawn(|| await_(async { 6 }).unwrap()).require_await());
    assert_eq!(ok, Ok(6));
    let (v, n) = rt.block_on(
        greenlet_spawn(|| {
            await_(async {}).unwrap();
            await_(PendingFor(2, 0)).unwrap()
        })
        .counted(),
    );
    assert_eq!((v, n), (0, 2));
}

#[derive(Debug, PartialEq)]
struct MyError(&'static str);

#[test]
fn err_from_closure_comes_out_unchanged() {
    let r: Result<(), MyError> = rt().block_on(greenlet_spawn(|| {
        await_(PendingFor(1, 0)).unwrap();
        Err(MyError("business rule broken"))
    }));
    assert_eq!(r, Err(MyError("business rule broken")));
}

#[test]
fn panic_in_closure_is_reraised_in_the_awaiter() {
    let rt = rt();
    let caught = std::panic::catch_unwind(AssertUnwindSafe(|| {
        rt.block_on(greenlet_spawn(|| {
            await_(PendingFor(1, 0)).unwrap();
            panic!("boom in greenlet");
        }))
    }))
    .unwrap_err();
    assert_eq!(caught.downcast_ref::<&str>(), Some(&"boom in greenlet"));
    // The thread's state is clean afterwards.
    assert!(!in_greenlet());
    assert_eq!(rt.block_on(greenlet_spawn(|| 1)), 1);
}

#[test]
fn error_of_awaited_future_is_returned_at_the_call_site() {
    let out = rt().block_on(greenlet_spawn(|| {
        let failed: Result<i32, MyError> = await_(async {
            tokio::task::yield_now().await;
            Err(MyError("io failed"))
        })
        .unwrap();
        // Sync code handles it and continues.
        let recovered = failed.unwrap_or(10);
        recovered + await_(PendingFor(1, 5)).unwrap() as i32
    }));
    assert_eq!(out, 15);
}

#[test]
#[cfg_attr(
    any(miri, calcine_thread_backend),
    ignore = "the thread backend runs the body on another thread: no task-locals, no runtime context"
)]
fn several_awaits_accumulate() {
    let out = rt().block_on(greenlet_spawn(|| {
        let mut total = 0;
        total += await_(async {
            tokio::time::sleep(Duration::from_millis(1)).await;
            1
        })
        .unwrap();
        total += await_(PendingFor(3, 2)).unwrap();
        total
    }));
    assert_eq!(out, 3);
}

struct Tracked {
    polled: Arc<AtomicBool>,
    dropped: Arc<AtomicBool>,
}

impl Future for Tracked {
    type Output = ();
    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
        self.polled.store(true, Ordering::SeqCst);
        Poll::Ready(())
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.dropped.store(true, Ordering::SeqCst);
    }
}

#[test]
fn await_outside_greenlet_in_a_runtime_is_missing_greenlet_and_drops_the_future() {
    let polled = Arc::new(AtomicBool::new(false));
    let dropped = Arc::new(AtomicBool::new(false));
    let fut = Tracked {
        polled: polled.clone(),
        dropped: dropped.clone(),
    };
    let err = rt().block_on(async move { await_(fut) }).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::MissingGreenlet);
    assert_eq!(
        err.to_string(),
        "greenlet_spawn has not been called; can't call await_() here. \
         Was IO attempted in an unexpected place?"
    );
    assert!(dropped.load(Ordering::SeqCst), "future must be dropped");
    assert!(!polled.load(Ordering::SeqCst), "future must not be polled");
}

#[test]
fn await_outside_any_runtime_drives_the_future_itself() {
    assert!(!in_greenlet());
    let v = await_(async {
        tokio::time::sleep(Duration::from_millis(2)).await;
        tokio::task::yield_now().await;
        9
    })
    .unwrap();
    assert_eq!(v, 9);
    // Nested await_ inside that future is refused, not a deadlock or a runtime-in-runtime panic.
    let inner = await_(async { await_(async { 1 }) }).unwrap();
    assert_eq!(inner.unwrap_err().kind(), ErrorKind::NestedAwait);
}

#[test]
fn await_inside_an_awaited_future_is_a_typed_error() {
    let rt = rt();
    // Ready on the first poll (poll-first path, on the coroutine stack).
    let e = rt.block_on(greenlet_spawn(|| {
        await_(async { await_(async { 1 }) }).unwrap()
    }));
    assert_eq!(e.unwrap_err().kind(), ErrorKind::NestedAwait);
    // Pending first, then polled from the task's poll.
    let e = rt.block_on(greenlet_spawn(|| {
        await_(async {
            tokio::task::yield_now().await;
            assert!(!in_greenlet());
            await_(async { 1 })
        })
        .unwrap()
    }));
    assert_eq!(e.unwrap_err().kind(), ErrorKind::NestedAwait);
}

#[test]
fn nested_greenlet_spawn_inside_await() {
    let out = rt().block_on(greenlet_spawn(|| {
        assert!(in_greenlet());
        let inner = await_(greenlet_spawn(|| {
            assert!(in_greenlet());
            await_(PendingFor(2, 40)).unwrap() + await_(async { 1 }).unwrap()
        }))
        .unwrap();
        // Back in the outer greenlet, still able to await.
        assert!(in_greenlet());
        inner + await_(PendingFor(1, 1)).unwrap()
    }));
    assert_eq!(out, 42);
}

struct SetOnDrop(Rc<Cell<bool>>, Rc<Cell<Option<ErrorKind>>>);

impl Drop for SetOnDrop {
    fn drop(&mut self) {
        self.0.set(true);
        // IO from a destructor during cancellation is refused, not suspended.
        self.1.set(await_(async {}).err().map(|e| e.kind()));
    }
}

#[test]
fn cancelling_a_suspended_greenlet_runs_its_destructors() {
    let rt = rt();
    let dropped = Rc::new(Cell::new(false));
    let await_in_drop = Rc::new(Cell::new(None));
    let reached_end = Rc::new(Cell::new(false));
    let (d, a, r) = (dropped.clone(), await_in_drop.clone(), reached_end.clone());
    let pooled_before = rt.block_on(async {
        // Warm the pool so the stack count below is meaningful.
        greenlet_spawn(|| ()).await;
        calcine_greenlet::pooled_stacks()
    });
    let outcome = rt.block_on(async move {
        tokio::time::timeout(
            Duration::from_millis(20),
            greenlet_spawn(move || {
                let _guard = SetOnDrop(d, a);
                await_(std::future::pending::<()>()).unwrap();
                r.set(true);
            }),
        )
        .await
    });
    assert!(outcome.is_err(), "the awaiter sees the cancellation");
    assert!(dropped.get(), "destructors on the greenlet stack ran");
    assert!(!reached_end.get());
    assert_eq!(await_in_drop.get(), Some(ErrorKind::Unwinding));
    assert!(!in_greenlet());
    assert_eq!(
        calcine_greenlet::pooled_stacks(),
        pooled_before,
        "the stack went back to the pool"
    );
}

#[test]
fn dropping_an_unpolled_greenlet_drops_the_closure() {
    let dropped = Rc::new(Cell::new(false));
    let guard = SetOnDrop(dropped.clone(), Rc::new(Cell::new(None)));
    let fut = greenlet_spawn(move || drop(guard));
    drop(fut);
    assert!(dropped.get());
}

tokio::task_local! {
    static REQUEST_ID: u32;
}

#[test]
#[cfg_attr(
    any(miri, calcine_thread_backend),
    ignore = "the thread backend runs the body on another thread: no task-locals, no runtime context"
)]
fn task_locals_are_visible_inline_and_per_task() {
    let rt = rt();
    let local = tokio::task::LocalSet::new();
    let seen = local.block_on(&rt, async {
        let mut handles = Vec::new();
        for id in 0..500u32 {
            handles.push(tokio::task::spawn_local(REQUEST_ID.scope(id, async move {
                greenlet_spawn(move || {
                    let mut ok = REQUEST_ID.get() == id;
                    for _ in 0..3 {
                        await_(tokio::task::yield_now()).unwrap();
                        ok &= REQUEST_ID.get() == id;
                    }
                    ok
                })
                .await
            })));
        }
        let mut all = 0;
        for h in handles {
            all += usize::from(h.await.unwrap());
        }
        all
    });
    assert_eq!(seen, 500);
}

/// Recurses until `bytes` of stack are in use below `base`; returns the depth reached.
#[inline(never)]
fn use_stack(base: usize, bytes: usize) -> u64 {
    let frame = std::hint::black_box([0u8; 512]);
    let here = frame.as_ptr() as usize;
    if base - here >= bytes {
        return 1;
    }
    1 + use_stack(base, bytes) + u64::from(std::hint::black_box(frame)[0])
}

fn stack_top() -> usize {
    let marker = 0u8;
    std::hint::black_box(&marker) as *const u8 as usize
}

#[test]
fn deep_recursion_within_the_stack_size_works() {
    let rt = rt();
    // 200 KiB of the default 256 KiB stack, after a suspension.
    let depth = rt.block_on(greenlet_spawn(|| {
        await_(PendingFor(1, 0)).unwrap();
        use_stack(stack_top(), 200 * 1024)
    }));
    assert!(depth > 50, "{depth}");
    // A bigger stack for deeper recursion.
    let depth = rt.block_on(Builder::new().stack_size(4 << 20).spawn(|| {
        await_(PendingFor(1, 0)).unwrap();
        use_stack(stack_top(), 3 << 20)
    }));
    assert!(depth > 750, "{depth}");
}

#[test]
fn stacks_are_pooled_and_reused() {
    let rt = rt();
    let spawned = Arc::new(AtomicUsize::new(0));
    rt.block_on(async {
        for _ in 0..100 {
            let s = spawned.clone();
            greenlet_spawn(move || {
                await_(tokio::task::yield_now()).unwrap();
                s.fetch_add(1, Ordering::Relaxed);
            })
            .await;
        }
    });
    assert_eq!(spawned.load(Ordering::Relaxed), 100);
    let n = calcine_greenlet::pooled_stacks();
    assert!(
        (1..=calcine_greenlet::MAX_POOLED_STACKS).contains(&n),
        "{n} pooled stacks"
    );
}

#[test]
fn in_greenlet_reports_where_code_runs() {
    assert!(!in_greenlet());
    let rt = rt();
    assert!(rt.block_on(greenlet_spawn(in_greenlet)));
    assert!(!rt.block_on(async { in_greenlet() }));
}
