//! The `Send` mode (home threads): A3, A9 and A12 at bridge level.

#![allow(clippy::unwrap_used)]

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use calcine_greenlet::{ErrorKind, HomeThreads, await_, in_greenlet, spawn_send};

fn multi_thread_rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap()
}

fn assert_send<T: Send>(t: T) -> T {
    t
}

#[test]
fn thousand_spawned_tasks_each_awaiting_many_times() {
    let rt = multi_thread_rt();
    let total = rt.block_on(async {
        let mut handles = Vec::new();
        for task in 0..1000u64 {
            handles.push(tokio::spawn(assert_send(spawn_send(move || {
                assert!(in_greenlet());
                let mut sum = 0u64;
                for i in 0..20u64 {
                    sum += await_(async move {
                        if i % 5 == 0 {
                            tokio::time::sleep(Duration::from_micros(50)).await;
                        } else {
                            tokio::task::yield_now().await;
                        }
                        i
                    })
                    .unwrap();
                }
                (task, sum)
            }))));
        }
        let mut total = 0;
        for (task, h) in handles.into_iter().enumerate() {
            let (t, sum) = h.await.unwrap();
            assert_eq!(t, task as u64);
            assert_eq!(sum, 190);
            total += sum;
        }
        total
    });
    assert_eq!(total, 190 * 1000);
}

#[test]
fn errors_and_panics_cross_the_hop() {
    let rt = multi_thread_rt();
    rt.block_on(async {
        let r: Result<(), String> = tokio::spawn(spawn_send(|| {
            await_(tokio::task::yield_now()).unwrap();
            Err("boom".to_owned())
        }))
        .await
        .unwrap();
        assert_eq!(r, Err("boom".to_owned()));

        let joined = tokio::spawn(spawn_send(|| {
            await_(tokio::task::yield_now()).unwrap();
            panic!("panic on the home thread");
        }))
        .await;
        let payload = joined.unwrap_err().into_panic();
        assert_eq!(
            payload.downcast_ref::<&str>(),
            Some(&"panic on the home thread")
        );

        // Outside the greenlet, inside the multi-thread runtime: refused.
        let e = await_(async { 1 }).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::MissingGreenlet);
    });
}

struct OnDrop(Arc<AtomicBool>, Arc<std::sync::Mutex<Option<String>>>);

impl Drop for OnDrop {
    fn drop(&mut self) {
        *self.1.lock().unwrap() = std::thread::current().name().map(str::to_owned);
        self.0.store(true, Ordering::SeqCst);
    }
}

#[test]
fn cancelling_unwinds_on_the_home_thread() {
    let rt = multi_thread_rt();
    let dropped = Arc::new(AtomicBool::new(false));
    let thread_name = Arc::new(std::sync::Mutex::new(None));
    let (d, n) = (dropped.clone(), thread_name.clone());
    rt.block_on(async move {
        let fut = spawn_send(move || {
            let _guard = OnDrop(d, n);
            await_(std::future::pending::<()>()).unwrap();
        });
        let r = tokio::time::timeout(Duration::from_millis(50), fut).await;
        assert!(r.is_err());
    });
    // The home thread notices the dropped receiver and unwinds the greenlet there.
    for _ in 0..200 {
        if dropped.load(Ordering::SeqCst) {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(dropped.load(Ordering::SeqCst), "destructor ran");
    let name = thread_name.lock().unwrap().clone().unwrap_or_default();
    assert!(name.starts_with("calcine-home"), "unwound on {name:?}");
}

#[test]
fn a_pool_of_its_own_with_affinity() {
    let pool = HomeThreads::builder()
        .threads(3)
        .name("test-home")
        .build()
        .unwrap();
    assert_eq!(pool.len(), 3);
    let rt = multi_thread_rt();
    let seen = Arc::new(AtomicU64::new(0));
    rt.block_on(async {
        for _ in 0..10 {
            let s = seen.clone();
            let idx = pool
                .spawn_on(1, move || {
                    await_(tokio::task::yield_now()).unwrap();
                    s.fetch_add(1, Ordering::Relaxed);
                    HomeThreads::current_index()
                })
                .await;
            assert_eq!(idx, Some(1));
        }
    });
    assert_eq!(seen.load(Ordering::Relaxed), 10);
    assert_eq!(HomeThreads::current_index(), None);
    drop(pool);
}

#[test]
fn work_in_flight_finishes_when_the_pool_is_dropped() {
    let pool = HomeThreads::builder().threads(1).build().unwrap();
    let rt = multi_thread_rt();
    let fut = pool.spawn(|| {
        await_(tokio::time::sleep(Duration::from_millis(20))).unwrap();
        5
    });
    drop(pool);
    assert_eq!(rt.block_on(fut), 5);
}

#[test]
fn panics_inside_send_future_do_not_poison_the_home_thread() {
    let pool = HomeThreads::builder().threads(1).build().unwrap();
    let rt = multi_thread_rt();
    rt.block_on(async {
        for _ in 0..3 {
            let r = AssertUnwindSafe(pool.spawn(|| panic!("again")));
            let joined = tokio::spawn(r.0).await;
            assert!(joined.is_err());
        }
        assert_eq!(pool.spawn(|| 11).await, 11);
    });
}

#[test]
fn detached_work_runs_to_completion() {
    let done = Arc::new(AtomicBool::new(false));
    let d = done.clone();
    calcine_greenlet::spawn_send_detached(move || {
        await_(tokio::time::sleep(Duration::from_millis(5))).unwrap();
        d.store(true, Ordering::SeqCst);
    });
    for _ in 0..400 {
        if done.load(Ordering::SeqCst) {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(done.load(Ordering::SeqCst));
}
