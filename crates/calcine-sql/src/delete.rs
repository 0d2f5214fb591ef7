//! [`Delete`]: the `DELETE` statement builder (SQLAlchemy's `delete()`).

use std::sync::Arc;

use crate::compiled::{Compiled, Dialect, Executable, StatementCache};
use crate::dml::{in_table_scope, walk_returning};
use crate::expression::{Expr, walk_expr};
use crate::schema::Table;
use crate::select::{IntoSelectList, push_and, result_names};
use crate::sink::{Kw, Sink, Walk, compile_walk};

/// A `DELETE FROM table [WHERE ...] [RETURNING ...]` statement (SQLAlchemy's `Delete`).
#[derive(Debug, Clone)]
pub struct Delete {
    table: Table,
    where_: Option<Expr>,
    returning: Vec<Expr>,
}

/// `DELETE FROM table` (SQLAlchemy's `delete()`); without `where_` it deletes every row.
pub fn delete(table: &Table) -> Delete {
    Delete {
        table: table.clone(),
        where_: None,
        returning: Vec::new(),
    }
}

impl Delete {
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

impl Walk for Delete {
    fn walk<S: Sink>(&self, s: &mut S) {
        in_table_scope(&self.table, true, s, |s, cx| {
            s.kw(Kw::DeleteFrom);
            s.ident(self.table.name());
            if let Some(w) = &self.where_ {
                s.kw(Kw::Where);
                walk_expr(w, s, cx);
            }
            walk_returning(&self.returning, s, cx);
        });
    }
}

impl Executable for Delete {
    fn compile(&self, dialect: Dialect, cache: &StatementCache) -> Compiled {
        compile_walk(self, dialect, cache)
    }

    fn result_columns(&self) -> Vec<Arc<str>> {
        Delete::result_columns(self)
    }
}

#[cfg(test)]
mod tests {
    use crate::compiled::Dialect::{Postgresql as Pg, Sqlite};
    use crate::fixtures::{compile, schema, sql};
    use crate::*;

    #[test]
    fn where_and_returning() {
        let s = schema();
        let q = delete(&s.posts)
            .where_(s.posts.c("score").unwrap().lt(0))
            .where_(s.posts.c("title").unwrap().like("%spam%"))
            .returning(s.posts.c("id").unwrap());
        assert_eq!(
            sql(&q, Sqlite),
            "DELETE FROM posts WHERE posts.score < ?1 AND posts.title LIKE ?2 RETURNING id"
        );
        assert_eq!(
            sql(&q, Pg),
            "DELETE FROM posts WHERE posts.score < $1 AND posts.title LIKE $2 RETURNING id"
        );
        assert_eq!(compile(&q, Pg).params, vec![Value::Int(0), "%spam%".into()]);
        assert_eq!(sql(&delete(&s.users), Pg), "DELETE FROM users");
    }
}
