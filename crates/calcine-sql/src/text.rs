//! [`TextClause`]: raw SQL with positional `?` binds (SQLAlchemy's `text()`).

use std::sync::Arc;

use crate::compiled::{Compiled, Dialect, Executable, StatementCache};
use crate::error::{Result, SqlError, SqlErrorKind};
use crate::sink::{Sink, Walk, compile_walk, for_each_placeholder};
use crate::value::Value;

/// Raw SQL (SQLAlchemy's `TextClause`). Write `?` for each parameter; the compiler renumbers
/// them to `?N` (SQLite) or `$N` (PostgreSQL), skipping `?` inside quotes and comments. The text
/// itself is sent as written: only values you bind are safe from injection.
#[derive(Debug, Clone)]
pub struct TextClause {
    sql: Arc<str>,
    placeholders: usize,
    params: Vec<Value>,
    columns: Vec<Arc<str>>,
}

/// Raw SQL with `?` placeholders (SQLAlchemy's `text()`); bind values with
/// [`TextClause::bind`] or [`TextClause::bindparams`].
pub fn text(sql: impl Into<Arc<str>>) -> TextClause {
    let sql = sql.into();
    let mut placeholders = 0;
    for_each_placeholder(&sql, |_, p| placeholders += usize::from(p));
    TextClause {
        sql,
        placeholders,
        params: Vec::new(),
        columns: Vec::new(),
    }
}

impl TextClause {
    /// Binds the next placeholder. The count is not checked here (see [`TextClause::bindparams`]).
    pub fn bind(mut self, value: impl Into<Value>) -> Self {
        self.params.push(value.into());
        self
    }

    /// Binds all placeholders at once, replacing earlier binds.
    ///
    /// # Errors
    /// [`SqlErrorKind::BindCount`] if the number of values differs from the number of `?`.
    pub fn bindparams<V: Into<Value>>(
        mut self,
        values: impl IntoIterator<Item = V>,
    ) -> Result<Self> {
        self.params = values.into_iter().map(Into::into).collect();
        if self.params.len() != self.placeholders {
            return Err(SqlError::new(
                SqlErrorKind::BindCount,
                format!(
                    "the SQL text has {} placeholders but {} values were bound",
                    self.placeholders,
                    self.params.len()
                ),
            ));
        }
        Ok(self)
    }

    /// Declares the result column names (SQLAlchemy's `TextClause.columns`), reported by
    /// [`Executable::result_columns`].
    pub fn columns<N: Into<Arc<str>>>(mut self, names: impl IntoIterator<Item = N>) -> Self {
        self.columns = names.into_iter().map(Into::into).collect();
        self
    }

    /// The number of `?` placeholders in the text.
    pub fn placeholder_count(&self) -> usize {
        self.placeholders
    }
}

impl Walk for TextClause {
    fn walk<S: Sink>(&self, s: &mut S) {
        s.text_sql(&self.sql, &self.params);
    }
}

impl Executable for TextClause {
    fn compile(&self, dialect: Dialect, cache: &StatementCache) -> Compiled {
        compile_walk(self, dialect, cache)
    }

    fn result_columns(&self) -> Vec<Arc<str>> {
        self.columns.clone()
    }
}

#[cfg(test)]
mod tests {
    use crate::compiled::Dialect::{Postgresql as Pg, Sqlite};
    use crate::fixtures::{compile, sql};
    use crate::*;

    #[test]
    fn positional_binds_are_renumbered() {
        let t = text("SELECT * FROM t WHERE a = ? AND b = '?' AND c = ?")
            .bind(1)
            .bind("x");
        assert_eq!(
            sql(&t, Sqlite),
            "SELECT * FROM t WHERE a = ?1 AND b = '?' AND c = ?2"
        );
        assert_eq!(
            sql(&t, Pg),
            "SELECT * FROM t WHERE a = $1 AND b = '?' AND c = $2"
        );
        assert_eq!(compile(&t, Pg).params, vec![Value::Int(1), "x".into()]);
        let e = text("SELECT ?").bindparams([1, 2]).unwrap_err();
        assert_eq!(e.kind(), SqlErrorKind::BindCount);
        let t = text("SELECT ? AS a")
            .bindparams([5])
            .unwrap()
            .columns(["a"]);
        assert_eq!(
            Executable::result_columns(&t),
            vec![std::sync::Arc::<str>::from("a")]
        );
        assert_eq!(t.placeholder_count(), 1);
    }
}
