//! [`Update`]: the `UPDATE` statement builder (SQLAlchemy's `update()`).

use std::sync::Arc;

use crate::compiled::{Compiled, Dialect, Executable, StatementCache};
use crate::dml::{ColumnName, in_table_scope, resolve_pairs, walk_returning, walk_set_list};
use crate::error::{Result, SqlError, SqlErrorKind};
use crate::expression::{Expr, walk_expr};
use crate::schema::Table;
use crate::select::{IntoSelectList, push_and, result_names};
use crate::sink::{Kw, Sink, Walk, compile_walk};

/// `update(table)` before its first `SET` column: an `UPDATE` needs at least one, so only
/// [`UpdateBuilder::set`] / [`UpdateBuilder::values`] lead to an executable [`Update`].
#[derive(Debug, Clone)]
pub struct UpdateBuilder {
    table: Table,
}

/// An `UPDATE table SET ... [WHERE ...] [RETURNING ...]` statement (SQLAlchemy's `Update`).
/// Columns in `WHERE` and in `SET` values are qualified with the table name; only the target
/// table may be referenced (no `UPDATE ... FROM`).
#[derive(Debug, Clone)]
pub struct Update {
    table: Table,
    set: Vec<(u32, Expr)>,
    where_: Option<Expr>,
    returning: Vec<Expr>,
}

/// `UPDATE table` (SQLAlchemy's `update()`).
pub fn update(table: &Table) -> UpdateBuilder {
    UpdateBuilder {
        table: table.clone(),
    }
}

impl UpdateBuilder {
    /// `SET column = value`.
    ///
    /// # Errors
    /// [`SqlErrorKind::UnknownColumn`].
    pub fn set(self, column: impl ColumnName, value: impl Into<Expr>) -> Result<Update> {
        self.values([(column, value.into())])
    }

    /// `SET a = x, b = y, ...`.
    ///
    /// # Errors
    /// [`SqlErrorKind::EmptyValues`] for no pairs, [`SqlErrorKind::UnknownColumn`],
    /// [`SqlErrorKind::Duplicate`].
    pub fn values<K: ColumnName, V: Into<Expr>>(
        self,
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Result<Update> {
        let set = resolve_pairs(&self.table, pairs)?;
        if set.is_empty() {
            return Err(SqlError::new(
                SqlErrorKind::EmptyValues,
                format!(
                    "UPDATE {:?} needs at least one SET column",
                    self.table.name()
                ),
            ));
        }
        Ok(Update {
            table: self.table,
            set,
            where_: None,
            returning: Vec::new(),
        })
    }
}

impl Update {
    /// Adds (or replaces) `SET column = value`.
    ///
    /// # Errors
    /// [`SqlErrorKind::UnknownColumn`].
    pub fn set(mut self, column: impl ColumnName, value: impl Into<Expr>) -> Result<Self> {
        let i = column.position_in(&self.table)? as u32;
        let value = value.into();
        match self.set.iter_mut().find(|p| p.0 == i) {
            Some(p) => p.1 = value,
            None => {
                self.set.push((i, value));
                self.set.sort_by_key(|p| p.0);
            }
        }
        Ok(self)
    }

    /// Adds a `WHERE` condition; several calls are joined with `AND`.
    pub fn where_(mut self, cond: impl Into<Expr>) -> Self {
        push_and(&mut self.where_, cond.into());
        self
    }

    /// `RETURNING columns`.
    pub fn returning(mut self, columns: impl IntoSelectList) -> Self {
        columns.push_into(&mut self.returning);
        self
    }

    /// The names of the `RETURNING` columns.
    pub fn result_columns(&self) -> Vec<Arc<str>> {
        result_names(&self.returning)
    }
}

impl Walk for Update {
    fn walk<S: Sink>(&self, s: &mut S) {
        in_table_scope(&self.table, true, s, |s, cx| {
            s.kw(Kw::Update);
            s.ident(self.table.name());
            s.kw(Kw::Set);
            walk_set_list(&self.table, &self.set, s, cx);
            if let Some(w) = &self.where_ {
                s.kw(Kw::Where);
                walk_expr(w, s, cx);
            }
            walk_returning(&self.returning, s, cx);
        });
    }
}

impl Executable for Update {
    fn compile(&self, dialect: Dialect, cache: &StatementCache) -> Compiled {
        compile_walk(self, dialect, cache)
    }

    fn result_columns(&self) -> Vec<Arc<str>> {
        Update::result_columns(self)
    }
}

#[cfg(test)]
mod tests {
    use crate::compiled::Dialect::{Postgresql as Pg, Sqlite};
    use crate::fixtures::{both, compile, schema, sql};
    use crate::*;

    #[test]
    fn set_where_returning() {
        let s = schema();
        let score = s.posts.c("score").unwrap();
        let q = update(&s.posts)
            .set("title", "new")
            .unwrap()
            .set(score.clone(), score.clone() + 1)
            .unwrap()
            .where_(s.posts.c("id").unwrap().eq(3))
            .where_(s.posts.c("user_id").unwrap().in_([1, 2]))
            .returning((s.posts.c("id").unwrap(), score.clone().label("new_score")));
        assert_eq!(
            both(&q),
            (
                "UPDATE posts SET title = ?1, score = posts.score + ?2 WHERE posts.id = ?3 AND posts.user_id IN (?4, ?5) \
                 RETURNING id, score AS new_score"
                    .into(),
                "UPDATE posts SET title = $1, score = posts.score + $2 WHERE posts.id = $3 AND posts.user_id = ANY($4) \
                 RETURNING id, score AS new_score"
                    .into()
            )
        );
        assert_eq!(
            compile(&q, Sqlite).params,
            vec![
                "new".into(),
                Value::Int(1),
                Value::Int(3),
                Value::Int(1),
                Value::Int(2)
            ]
        );
        assert_eq!(
            q.result_columns().iter().map(|c| &**c).collect::<Vec<_>>(),
            ["id", "new_score"]
        );
        let q = update(&s.users)
            .values([("email", Value::Null), ("name", "x".into())])
            .unwrap();
        assert_eq!(sql(&q, Pg), "UPDATE users SET name = $1, email = $2");
        let none: [(&str, Value); 0] = [];
        assert_eq!(
            update(&s.users).values(none).unwrap_err().kind(),
            SqlErrorKind::EmptyValues
        );
        assert_eq!(
            update(&s.users).set("zzz", 1).unwrap_err().kind(),
            SqlErrorKind::UnknownColumn
        );
    }

    #[test]
    fn correlated_subquery_in_where() {
        let s = schema();
        let q = update(&s.users).set("name", "busy").unwrap().where_(
            select(func::count_star())
                .where_(s.posts.c("user_id").unwrap().eq(s.users.c("id").unwrap()))
                .scalar_subquery()
                .gt(10),
        );
        assert_eq!(
            sql(&q, Sqlite),
            "UPDATE users SET name = ?1 WHERE (SELECT count(*) AS count_1 FROM posts WHERE posts.user_id = users.id) > ?2"
        );
    }
}
