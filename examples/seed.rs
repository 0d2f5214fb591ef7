//! The seed: SQLAlchemy's asyncio example of calling synchronous ORM code from async code,
//! ported line by line.
//!
//! ```sh
//! cargo run --example seed                                          # SQLite in memory
//! cargo run --example seed -- postgres://postgres@127.0.0.1:55432/calcine_test
//! ```
//!
//! `some_business_method` is plain synchronous Session code; `run_sync` runs it inline on the
//! async task inside a greenlet, so its database IO (through `await_` on PostgreSQL) suspends
//! the task instead of blocking the thread.

use calcine::asyncio::{AsyncEngine, AsyncSession, create_async_engine};
use calcine::orm::{Model, Session};

#[derive(Model, Debug)]
#[calcine(table = "my_objects")]
struct MyObject {
    #[calcine(primary_key)]
    id: Option<i64>,
    data: String,
}

impl MyObject {
    fn new(data: &str) -> Self {
        MyObject {
            id: None,
            data: data.to_owned(),
        }
    }
}

fn some_business_method(session: &mut Session, param: &str) -> calcine::Result<&'static str> {
    session.add(MyObject::new(param));
    session.flush()?;
    Ok("success")
}

async fn do_something_async(engine: &AsyncEngine) -> calcine::Result<()> {
    let mut s = AsyncSession::new(engine);
    let code = s.run_sync(|s| some_business_method(s, "param1")).await?;
    println!("{code}");
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> calcine::Result<()> {
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "sqlite://".to_owned());
    let engine = create_async_engine(url.as_str())?;

    // `async with engine.begin() as conn: await conn.run_sync(Base.metadata.create_all)`
    let mut conn = engine.begin().await?;
    conn.run_sync(|c| calcine::orm::create_all_in(c, &[MyObject::mapper()]))
        .await?;
    conn.commit().await?;
    drop(conn);

    do_something_async(&engine).await?;
    engine.dispose().await;
    Ok(())
}
