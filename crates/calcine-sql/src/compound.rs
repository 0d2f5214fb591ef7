//! [`CompoundSelect`]: `UNION` / `INTERSECT` / `EXCEPT` (SQLAlchemy's `CompoundSelect`).

use std::sync::Arc;

use crate::compiled::{Compiled, Dialect, Executable, StatementCache};
use crate::expression::walk::walk_order_by;
use crate::expression::{Cx, OrderBy};
use crate::query::Query;
use crate::select::walk_limit_offset;
use crate::selectable::{Scope, Subquery};
use crate::sink::{Kw, Sink, Walk, compile_walk};

/// The set operator of a [`CompoundSelect`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CompoundOp {
    Union,
    UnionAll,
    Intersect,
    IntersectAll,
    Except,
    ExceptAll,
}

/// `SELECT ... UNION SELECT ...` and friends (SQLAlchemy's `CompoundSelect`). Chaining the same
/// operator appends a member; a different operator, or an `ORDER BY`/`LIMIT` on a member, nests
/// it: as `(SELECT ...)` on PostgreSQL and `SELECT * FROM (SELECT ...)` on SQLite, which allows no
/// parentheses there. Its own `ORDER BY` names result columns unqualified.
#[derive(Debug, Clone)]
pub struct CompoundSelect {
    op: CompoundOp,
    members: Vec<Query>,
    order_by: Vec<OrderBy>,
    limit: Option<i64>,
    offset: Option<i64>,
}

impl CompoundSelect {
    pub(crate) fn new(first: Query, op: CompoundOp, second: Query) -> Self {
        CompoundSelect {
            op,
            members: vec![first, second],
            order_by: Vec::new(),
            limit: None,
            offset: None,
        }
    }

    fn chain(self, op: CompoundOp, other: impl Into<Query>) -> Self {
        if op == self.op
            && self.order_by.is_empty()
            && self.limit.is_none()
            && self.offset.is_none()
        {
            let mut this = self;
            this.members.push(other.into());
            this
        } else {
            CompoundSelect::new(Query::Compound(self), op, other.into())
        }
    }

    /// Adds `UNION other`.
    pub fn union(self, other: impl Into<Query>) -> Self {
        self.chain(CompoundOp::Union, other)
    }

    /// Adds `UNION ALL other`.
    pub fn union_all(self, other: impl Into<Query>) -> Self {
        self.chain(CompoundOp::UnionAll, other)
    }

    /// Adds `INTERSECT other`.
    pub fn intersect(self, other: impl Into<Query>) -> Self {
        self.chain(CompoundOp::Intersect, other)
    }

    /// Adds `EXCEPT other`.
    pub fn except_(self, other: impl Into<Query>) -> Self {
        self.chain(CompoundOp::Except, other)
    }

    /// Adds `ORDER BY` items for the whole compound (refer to result columns).
    pub fn order_by<O: Into<OrderBy>>(mut self, items: impl IntoIterator<Item = O>) -> Self {
        self.order_by.extend(items.into_iter().map(Into::into));
        self
    }

    /// `LIMIT n`, bound.
    pub fn limit(mut self, n: i64) -> Self {
        self.limit = Some(n);
        self
    }

    /// `OFFSET n`, bound.
    pub fn offset(mut self, n: i64) -> Self {
        self.offset = Some(n);
        self
    }

    /// As a named subquery.
    pub fn subquery(self, name: impl Into<Arc<str>>) -> Subquery {
        Subquery::new(Query::Compound(self), name.into(), None)
    }

    /// As a CTE.
    pub fn cte(self, name: impl Into<Arc<str>>) -> Subquery {
        Subquery::new(Query::Compound(self), name.into(), Some(false))
    }

    /// The result column names (those of the first member).
    pub fn result_columns(&self) -> Vec<Arc<str>> {
        self.members
            .first()
            .map(Query::column_names)
            .unwrap_or_default()
    }

    pub(crate) fn walk_in<S: Sink>(&self, s: &mut S, scope: Option<&Scope<'_>>) {
        for (i, m) in self.members.iter().enumerate() {
            if i > 0 {
                s.kw(match self.op {
                    CompoundOp::Union => Kw::Union,
                    CompoundOp::UnionAll => Kw::UnionAll,
                    CompoundOp::Intersect => Kw::Intersect,
                    CompoundOp::IntersectAll => Kw::IntersectAll,
                    CompoundOp::Except => Kw::Except,
                    CompoundOp::ExceptAll => Kw::ExceptAll,
                });
            }
            if m.is_simple_member() {
                m.walk(s, scope);
            } else {
                if s.dialect() == Dialect::Sqlite {
                    s.kw(Kw::SelectStarFrom);
                }
                s.kw(Kw::Open);
                m.walk(s, scope);
                s.kw(Kw::Close);
            }
        }
        let cx = Cx {
            qualify: false,
            scope,
        };
        walk_order_by(&self.order_by, s, cx);
        walk_limit_offset(s, self.limit, self.offset);
    }
}

impl Walk for CompoundSelect {
    fn walk<S: Sink>(&self, s: &mut S) {
        self.walk_in(s, None);
    }
}

impl Executable for CompoundSelect {
    fn compile(&self, dialect: Dialect, cache: &StatementCache) -> Compiled {
        compile_walk(self, dialect, cache)
    }

    fn result_columns(&self) -> Vec<Arc<str>> {
        CompoundSelect::result_columns(self)
    }
}

#[cfg(test)]
mod tests {
    use crate::compiled::Dialect::{Postgresql as Pg, Sqlite};
    use crate::fixtures::{both, compile, schema, sql};
    use crate::*;

    #[test]
    fn union_family() {
        let s = schema();
        let a = select(s.users.c("name").unwrap()).where_(s.users.c("id").unwrap().lt(3));
        let b = select(s.posts.c("title").unwrap());
        let q = a.clone().union(b.clone());
        assert_eq!(
            sql(&q, Sqlite),
            "SELECT users.name FROM users WHERE users.id < ?1 UNION SELECT posts.title FROM posts"
        );
        assert_eq!(
            q.result_columns().iter().map(|c| &**c).collect::<Vec<_>>(),
            ["name"]
        );
        let q = a
            .clone()
            .union_all(b.clone())
            .union_all(b.clone())
            .order_by([s.users.c("name").unwrap()])
            .limit(5);
        assert_eq!(
            sql(&q, Pg),
            "SELECT users.name FROM users WHERE users.id < $1 UNION ALL SELECT posts.title FROM posts \
             UNION ALL SELECT posts.title FROM posts ORDER BY name LIMIT $2"
        );
        assert_eq!(compile(&q, Pg).params, vec![Value::Int(3), Value::Int(5)]);
        let q = b.clone().intersect(b.clone());
        assert_eq!(
            sql(&q, Sqlite),
            "SELECT posts.title FROM posts INTERSECT SELECT posts.title FROM posts"
        );
        let q = b.clone().except_(b.clone().limit(1));
        assert_eq!(
            both(&q),
            (
                "SELECT posts.title FROM posts EXCEPT SELECT * FROM (SELECT posts.title FROM posts LIMIT ?1)".into(),
                "SELECT posts.title FROM posts EXCEPT (SELECT posts.title FROM posts LIMIT $1)".into()
            )
        );
        let q = b.clone().union(b.clone()).intersect(b.clone());
        assert_eq!(
            sql(&q, Pg),
            "(SELECT posts.title FROM posts UNION SELECT posts.title FROM posts) INTERSECT SELECT posts.title FROM posts"
        );
        let q = b.clone().intersect_all(b.clone()).except_(b.clone());
        assert!(sql(&q, Pg).contains("INTERSECT ALL"));
        let q = b.clone().except_all(b);
        assert!(sql(&q, Pg).contains(" EXCEPT ALL "));
    }
}
