//! The hand-off from the SQL layer to the engine: a [`Dialect`], and a statement compiled to
//! SQL text plus its bound parameters ([`Compiled`]).

use std::sync::Arc;

use crate::value::Value;

/// The SQL dialects calcine renders (SQLAlchemy's `Dialect`, reduced to what changes the text).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Dialect {
    /// SQLite: `?NNN` placeholders, `"ident"` quoting.
    Sqlite,
    /// PostgreSQL: `$N` placeholders, `"ident"` quoting.
    Postgresql,
}

/// A statement rendered for one dialect: SQL text with placeholders, and the values to bind.
#[derive(Debug, Clone, PartialEq)]
pub struct Compiled {
    /// The SQL text; shared, since the statement cache hands the same text out many times.
    pub sql: Arc<str>,
    /// The bound parameters, in placeholder order.
    pub params: Vec<Value>,
}

/// What a connection's `execute` takes: a statement by reference (compiled from it, its bound
/// values copied into the parameters) or by value (compiled consuming it, which lets an
/// [`Insert`] move its `VALUES` into the parameters instead: see
/// [`Executable::into_compiled`]).
///
/// ```
/// use calcine_sql::{Column, Dialect, IntoCompiled, SqlType, StatementCache, Table, Value, insert};
/// let t = Table::new("t").column(Column::new("name", SqlType::Text));
/// let cache = StatementCache::default();
/// let q = insert(&t).values_many([[("name", Value::from("a"))], [("name", Value::from("b"))]])?;
/// let by_ref = (&q).into_compiled_for(Dialect::Sqlite, &cache);
/// let by_value = q.into_compiled_for(Dialect::Sqlite, &cache);
/// assert_eq!(by_ref, by_value);
/// assert_eq!(by_value.params, [Value::from("a"), Value::from("b")]);
/// # Ok::<(), calcine_sql::SqlError>(())
/// ```
///
/// [`Insert`]: crate::Insert
pub trait IntoCompiled {
    /// Renders the statement for `dialect` (through `cache`, as [`Executable::compile`]).
    fn into_compiled_for(self, dialect: Dialect, cache: &StatementCache) -> Compiled;
}

impl<S: Executable + ?Sized> IntoCompiled for &S {
    #[inline]
    fn into_compiled_for(self, dialect: Dialect, cache: &StatementCache) -> Compiled {
        self.compile(dialect, cache)
    }
}

/// [`IntoCompiled`] by value for statement types (each through
/// [`Executable::into_compiled`]).
#[macro_export]
#[doc(hidden)]
macro_rules! __into_compiled_by_value {
    ($($t:ty),* $(,)?) => {$(
        impl $crate::IntoCompiled for $t {
            #[inline]
            fn into_compiled_for(
                self,
                dialect: $crate::Dialect,
                cache: &$crate::StatementCache,
            ) -> $crate::Compiled {
                $crate::Executable::into_compiled(self, dialect, cache)
            }
        }
    )*};
}

__into_compiled_by_value!(
    crate::Select,
    crate::Insert,
    crate::Update,
    crate::Delete,
    crate::TextClause,
    crate::CompoundSelect,
    crate::Query,
);

/// Something the engine can execute: renders itself for a dialect, reusing SQL text from the
/// [`StatementCache`] when a statement of the same shape was rendered before.
pub trait Executable {
    /// Renders this statement for `dialect`. Statements of equal shape (same tables, columns,
    /// operators and clause structure, any bound values) must produce the same `sql`, and should
    /// take it from `cache` instead of rendering again.
    fn compile(&self, dialect: Dialect, cache: &StatementCache) -> Compiled;

    /// [`compile`](Executable::compile), consuming the statement: one that owns its bound values
    /// may move them into [`Compiled::params`] instead of copying them (an [`Insert`]'s
    /// `VALUES` list does). Same SQL and parameters as `compile`.
    ///
    /// [`Insert`]: crate::Insert
    fn into_compiled(self, dialect: Dialect, cache: &StatementCache) -> Compiled
    where
        Self: Sized,
    {
        self.compile(dialect, cache)
    }

    /// The names of the result columns in order (select list or `RETURNING`), so rows can be
    /// read by name without parsing SQL; empty for statements that return no rows.
    fn result_columns(&self) -> Vec<Arc<str>> {
        Vec::new()
    }
}

/// Compiled SQL text by statement shape (SQLAlchemy's `compiled_cache`, keyed like its
/// `_generate_cache_key`): the shape is encoded as bytes by the statement, the values are not
/// part of it. Bounded: when full, the oldest half of the entries is dropped.
#[derive(Debug)]
pub struct StatementCache {
    inner: std::sync::Mutex<CacheInner>,
    capacity: usize,
}

/// Shape key → (last use tick, SQL text).
type ShapeMap = rustc_hash::FxHashMap<Box<[u8]>, (u64, Arc<str>)>;

#[derive(Debug, Default)]
struct CacheInner {
    /// One map per dialect, so a lookup borrows the caller's key bytes.
    maps: [ShapeMap; 2],
    tick: u64,
    hits: u64,
    misses: u64,
}

impl Default for StatementCache {
    fn default() -> Self {
        StatementCache::new(500)
    }
}

impl StatementCache {
    /// A cache holding at most `capacity` statements (`0` disables caching).
    pub fn new(capacity: usize) -> Self {
        StatementCache {
            inner: std::sync::Mutex::new(CacheInner::default()),
            capacity,
        }
    }

    /// The SQL for the shape `key` in `dialect`, rendered by `render` only if not cached.
    pub fn get_or_render(
        &self,
        dialect: Dialect,
        key: &[u8],
        render: impl FnOnce() -> String,
    ) -> Arc<str> {
        if self.capacity == 0 {
            return Arc::from(render());
        }
        // A poisoned lock only means another thread panicked mid-insert; the map is still valid.
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.tick += 1;
        let tick = inner.tick;
        let d = dialect_index(dialect);
        if let Some(entry) = inner.maps[d].get_mut(key) {
            entry.0 = tick;
            let sql = entry.1.clone();
            inner.hits += 1;
            return sql;
        }
        inner.misses += 1;
        drop(inner);
        let sql: Arc<str> = Arc::from(render());
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if inner.maps.iter().map(|m| m.len()).sum::<usize>() >= self.capacity {
            let mut ticks: Vec<u64> = inner
                .maps
                .iter()
                .flat_map(|m| m.values().map(|v| v.0))
                .collect();
            ticks.sort_unstable();
            let cut = ticks[ticks.len() / 2];
            for m in &mut inner.maps {
                m.retain(|_, v| v.0 > cut);
            }
        }
        inner.maps[d].insert(key.into(), (tick, sql.clone()));
        sql
    }

    /// `(hits, misses)` since creation, for tests and tuning.
    pub fn stats(&self) -> (u64, u64) {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        (inner.hits, inner.misses)
    }

    /// Number of cached statements.
    pub fn len(&self) -> usize {
        self.inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .maps
            .iter()
            .map(|m| m.len())
            .sum()
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn dialect_index(dialect: Dialect) -> usize {
    match dialect {
        Dialect::Sqlite => 0,
        Dialect::Postgresql => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_renders_each_shape_once_per_dialect() {
        let cache = StatementCache::new(10);
        let mut renders = 0;
        for _ in 0..3 {
            cache.get_or_render(Dialect::Sqlite, b"k", || {
                renders += 1;
                "SELECT 1".into()
            });
        }
        cache.get_or_render(Dialect::Postgresql, b"k", || {
            renders += 1;
            "SELECT 1".into()
        });
        assert_eq!(renders, 2);
        assert_eq!(cache.stats(), (2, 2));
        assert_eq!(cache.len(), 2);
    }

    #[test]
    fn cache_is_bounded() {
        let cache = StatementCache::new(4);
        for i in 0..20u8 {
            cache.get_or_render(Dialect::Sqlite, &[i], || format!("S{i}"));
        }
        assert!(cache.len() <= 4, "{}", cache.len());
        // The newest entry survives eviction.
        let sql = cache.get_or_render(Dialect::Sqlite, &[19], || "re-rendered".into());
        assert_eq!(&*sql, "S19");
    }
}
