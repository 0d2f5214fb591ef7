//! Backends for the engine's integration tests: SQLite in memory and in a temp file always,
//! PostgreSQL when `CALCINE_TEST_POSTGRES_URL` is set (a printed skip otherwise, a failure with
//! `CALCINE_REQUIRE_POSTGRES=1`).

#![allow(dead_code, unreachable_pub, missing_docs)]

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use calcine_engine::{Engine, EngineBuilder};

static COUNTER: AtomicUsize = AtomicUsize::new(0);

fn unique() -> String {
    format!(
        "{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    )
}

/// One database to run a test against.
pub struct Db {
    pub name: &'static str,
    pub url: String,
    pub pg: bool,
    pub memory: bool,
    file: Option<PathBuf>,
}

impl Db {
    pub fn engine(&self) -> Engine {
        calcine_engine::create_engine(&self.url).expect("engine")
    }

    pub fn async_engine(&self) -> calcine_asyncio::AsyncEngine {
        calcine_asyncio::create_async_engine(&self.url).expect("async engine")
    }

    pub fn builder(&self) -> EngineBuilder {
        Engine::builder(&self.url)
    }

    /// `?` placeholders rewritten to `$1, $2, ...` for PostgreSQL.
    pub fn sql(&self, sql: &str) -> String {
        if !self.pg {
            return sql.to_owned();
        }
        let mut out = String::with_capacity(sql.len() + 8);
        let mut n = 0;
        for ch in sql.chars() {
            if ch == '?' {
                n += 1;
                out.push_str(&format!("${n}"));
            } else {
                out.push(ch);
            }
        }
        out
    }

    /// A table name no other test uses.
    pub fn table(&self, base: &str) -> String {
        format!("{base}_{}", unique())
    }

    /// An auto-incrementing integer primary key column type.
    pub fn id_type(&self) -> &'static str {
        if self.pg {
            "BIGSERIAL PRIMARY KEY"
        } else {
            "INTEGER PRIMARY KEY"
        }
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        if let Some(f) = &self.file {
            for suffix in ["", "-journal", "-wal", "-shm"] {
                let mut p = f.clone().into_os_string();
                p.push(suffix);
                let _ = std::fs::remove_file(p);
            }
        }
    }
}

pub fn postgres_url() -> Option<String> {
    match std::env::var("CALCINE_TEST_POSTGRES_URL") {
        Ok(u) if !u.is_empty() => Some(u),
        _ => {
            if std::env::var("CALCINE_REQUIRE_POSTGRES").as_deref() == Ok("1") {
                panic!("CALCINE_REQUIRE_POSTGRES=1 but CALCINE_TEST_POSTGRES_URL is not set");
            }
            eprintln!("skipping PostgreSQL: CALCINE_TEST_POSTGRES_URL is not set");
            None
        }
    }
}

pub fn sqlite_file() -> Db {
    let file = std::env::temp_dir().join(format!("calcine-asyncio-test-{}.db", unique()));
    Db {
        name: "sqlite-file",
        url: format!("sqlite:///{}", file.display()),
        pg: false,
        memory: false,
        file: Some(file),
    }
}

pub fn sqlite_memory() -> Db {
    Db {
        name: "sqlite-memory",
        url: "sqlite://".into(),
        pg: false,
        memory: true,
        file: None,
    }
}

pub fn postgres() -> Option<Db> {
    postgres_url().map(|url| Db {
        name: "postgresql",
        url,
        pg: true,
        memory: false,
        file: None,
    })
}

/// Every backend: SQLite in memory, SQLite in a file, and PostgreSQL if configured.
pub fn all() -> Vec<Db> {
    let mut v = vec![sqlite_memory(), sqlite_file()];
    v.extend(postgres());
    v
}

/// Backends with a real pool of several connections (file SQLite, PostgreSQL).
pub fn pooled() -> Vec<Db> {
    let mut v = vec![sqlite_file()];
    v.extend(postgres());
    v
}
