//! [`Delete`]: the `DELETE` statement builder (SQLAlchemy's `delete()`).

use std::sync::Arc;

use crate::compiled::{Compiled, Dialect, Executable, StatementCache};
use crate::dml::walk_returning;
use crate::expression::{Cx, Expr, and_, walk_expr};
use crate::schema::Table;
use crate::select::{IntoSelectList, result_names};
use crate::selectable::{FromRef, Scope, Source};
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
        let cond = cond.into();
        self.where_ = Some(match self.where_.take() {
            Some(prev) => and_([prev, cond]),
            None => cond,
        });
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
        let src = [Source::Table(self.table.clone())];
        let froms = [FromRef::Source(&src[0])];
        let scope = Scope::new(&froms, None);
        let cx = Cx {
            qualify: true,
            scope: Some(&scope),
        };
        s.kw(Kw::DeleteFrom);
        s.ident(self.table.name());
        if let Some(w) = &self.where_ {
            s.kw(Kw::Where);
            walk_expr(w, s, cx);
        }
        walk_returning(&self.returning, s, cx);
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
