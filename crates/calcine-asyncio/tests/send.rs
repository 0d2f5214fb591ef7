//! The `Send` flavour under `tokio::spawn` on a multi-thread runtime: file SQLite and
//! PostgreSQL when configured.

#[path = "support/backends.rs"]
mod backends;

use backends::AsyncDb;
use calcine_engine::ErrorKind;

fn assert_send<T: Send>(t: T) -> T {
    t
}

/// 200 spawned tasks, each doing a few queries through its own SendAsyncConnection.
#[test]
fn two_hundred_spawned_tasks_get_the_right_results() {
    for db in backends::pooled() {
        eprintln!("backend: {}", db.name);
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(4)
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let engine = db.async_engine();
            let t = db.table("send");
            let mut setup = engine.connect_send().await.expect("connect");
            setup
                .exec_driver_sql(
                    format!("CREATE TABLE {t} (task INTEGER NOT NULL, n INTEGER NOT NULL)"),
                    vec![],
                )
                .await
                .expect("create");
            setup.commit().await.expect("commit");
            setup.close().await;

            let insert = db.sql(&format!("INSERT INTO {t} (task, n) VALUES (?, ?)"));
            let select = db.sql(&format!("SELECT sum(n) FROM {t} WHERE task = ?"));
            let mut handles = Vec::new();
            for task in 0..200i64 {
                let engine = engine.clone();
                let (insert, select) = (insert.clone(), select.clone());
                handles.push(tokio::spawn(assert_send(async move {
                    let mut conn = engine.connect_send().await?;
                    // The write transaction in one hop: on file SQLite a transaction held open
                    // across hops could block (busy wait) a greenlet on the same home thread.
                    let ins = insert.clone();
                    conn.run_sync(move |c| -> calcine_engine::Result<()> {
                        for n in 1..=3i64 {
                            c.exec_driver_sql(&ins, &[task.into(), (task * n).into()])?;
                        }
                        c.commit()
                    })
                    .await??;
                    tokio::task::yield_now().await;
                    let one: i64 = conn.exec_driver_sql("SELECT 1", vec![]).await?.scalar()?;
                    assert_eq!(one, 1);
                    conn.commit().await?;
                    let sel = select.clone();
                    let sum: Option<i64> = conn
                        .run_sync(move |c| -> calcine_engine::Result<Option<i64>> {
                            let sum = c.exec_driver_sql(&sel, &[task.into()])?.scalar()?;
                            c.rollback()?;
                            Ok(sum)
                        })
                        .await??;
                    let tid = conn.run_sync(|_| std::thread::current().id()).await?;
                    Ok::<_, calcine_engine::Error>((task, sum, tid))
                })));
            }
            let mut home_threads = std::collections::HashSet::new();
            for h in handles {
                let (task, sum, tid) = h.await.expect("join").expect("task");
                assert_eq!(sum, Some(6 * task), "task {task}");
                home_threads.insert(tid);
            }
            assert!(!home_threads.contains(&std::thread::current().id()));
            let mut check = engine.connect_send().await.expect("connect");
            let total: i64 = check
                .exec_driver_sql(format!("SELECT count(*) FROM {t}"), vec![])
                .await
                .expect("count")
                .scalar()
                .expect("scalar");
            assert_eq!(total, 600);
        });
    }
}

/// A call cancelled mid-way discards the connection; the object reports closed-by-cancellation.
#[test]
fn cancelled_call_closes_the_connection() {
    for db in backends::pooled() {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let engine = db.async_engine();
            let mut conn = engine.connect_send().await.expect("connect");
            let (started_tx, started_rx) = std::sync::mpsc::channel::<()>();
            let slow = conn.run_sync(move |_| {
                let _ = started_tx.send(());
                // Wait on the bridge so the work can be cancelled while suspended.
                let _ =
                    calcine_greenlet::await_(tokio::time::sleep(std::time::Duration::from_secs(5)));
            });
            let cut = tokio::time::timeout(std::time::Duration::from_millis(200), slow).await;
            assert!(cut.is_err(), "the slow call should have been cut off");
            assert!(
                started_rx
                    .recv_timeout(std::time::Duration::from_secs(2))
                    .is_ok()
            );
            assert!(conn.closed_by_cancellation());
            let err = conn.exec_driver_sql("SELECT 1", vec![]).await.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::ResourceClosed);
            assert!(err.message().contains("cancel"), "{}", err.message());
            // The pool slot came back: new checkouts work.
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            let mut again = engine.connect_send().await.expect("connect again");
            let n: i64 = again
                .exec_driver_sql("SELECT 9", vec![])
                .await
                .expect("q")
                .scalar()
                .expect("s");
            assert_eq!(n, 9);
        });
    }
}
