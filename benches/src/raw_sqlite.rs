//! The raw rusqlite connection of the baselines, shared by both benchmark workspaces (the
//! peers' `src/lib.rs` includes this file with `#[path]`): the same setup whichever rusqlite
//! version compiles it.

/// A rusqlite connection set up the way calcine's SQLite driver sets up its own (query planner
/// stability, so a cached statement is not re-planned when its bindings change; foreign keys
/// on), so the raw-driver baselines run SQLite exactly as calcine runs it. `None`: in memory.
///
/// # Panics
/// If the database cannot be opened.
pub fn raw_sqlite(path: Option<&std::path::Path>) -> rusqlite::Connection {
    let c = match path {
        Some(p) => rusqlite::Connection::open(p),
        None => rusqlite::Connection::open_in_memory(),
    }
    .expect("open SQLite");
    c.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
        true,
    )
    .expect("SQLITE_DBCONFIG_ENABLE_QPSG");
    c.execute_batch("PRAGMA foreign_keys = ON")
        .expect("PRAGMA foreign_keys");
    c
}
