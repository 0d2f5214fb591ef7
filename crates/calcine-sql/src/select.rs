//! [`Select`]: the `SELECT` statement builder (SQLAlchemy's `select()` / `Select`).

use std::sync::Arc;

use crate::compiled::{Compiled, Dialect, Executable, StatementCache};
use crate::compound::{CompoundOp, CompoundSelect};
use crate::error::{Result, SqlError, SqlErrorKind};
use crate::expression::walk::{for_each_column, walk_by_item, walk_column, walk_order_by};
use crate::expression::{ColumnRef, Cx, Expr, ExprKind, OrderBy, and_, anon_prefix, walk_expr};
use crate::query::Query;
use crate::schema::Table;
use crate::selectable::{
    Alias, FromClause, FromNode, FromRef, JoinKind, Scope, Source, Subquery, infer_on,
};
use crate::sink::{Kw, Sink, Walk, compile_walk};
use crate::value::Value;

/// Things that can be put in a select list (or `RETURNING`): expressions, columns, whole tables,
/// aliases and subqueries (all their columns), and tuples, arrays and `Vec`s of those.
pub trait IntoSelectList {
    /// Appends the expressions to `out`.
    fn push_into(self, out: &mut Vec<Expr>);
}

impl IntoSelectList for Expr {
    fn push_into(self, out: &mut Vec<Expr>) {
        out.push(self);
    }
}
impl IntoSelectList for ColumnRef {
    fn push_into(self, out: &mut Vec<Expr>) {
        out.push(self.into());
    }
}
impl IntoSelectList for &ColumnRef {
    fn push_into(self, out: &mut Vec<Expr>) {
        out.push(self.into());
    }
}
impl IntoSelectList for &Table {
    fn push_into(self, out: &mut Vec<Expr>) {
        out.extend(self.all_columns().into_iter().map(Expr::from));
    }
}
impl IntoSelectList for &Alias {
    fn push_into(self, out: &mut Vec<Expr>) {
        let src = Source::Alias(self.clone());
        out.extend(
            (0..self.table().columns().len()).map(|i| Expr::from(ColumnRef::new(src.clone(), i))),
        );
    }
}
impl IntoSelectList for &Subquery {
    fn push_into(self, out: &mut Vec<Expr>) {
        let src = Source::Derived(self.clone());
        out.extend((0..self.columns().len()).map(|i| Expr::from(ColumnRef::new(src.clone(), i))));
    }
}
impl<T: IntoSelectList> IntoSelectList for Vec<T> {
    fn push_into(self, out: &mut Vec<Expr>) {
        self.into_iter().for_each(|t| t.push_into(out));
    }
}
impl<T: IntoSelectList, const N: usize> IntoSelectList for [T; N] {
    fn push_into(self, out: &mut Vec<Expr>) {
        self.into_iter().for_each(|t| t.push_into(out));
    }
}
macro_rules! tuple_list {
    ($($t:ident),+) => {
        impl<$($t: IntoSelectList),+> IntoSelectList for ($($t,)+) {
            #[allow(non_snake_case)]
            fn push_into(self, out: &mut Vec<Expr>) {
                let ($($t,)+) = self;
                $($t.push_into(out);)+
            }
        }
    };
}
tuple_list!(A);
tuple_list!(A, B);
tuple_list!(A, B, C);
tuple_list!(A, B, C, D);
tuple_list!(A, B, C, D, E);
tuple_list!(A, B, C, D, E, F);
tuple_list!(A, B, C, D, E, F, G);
tuple_list!(A, B, C, D, E, F, G, H);

/// A `SELECT` statement (SQLAlchemy's `Select`). Built by [`select`]; immutable builder methods
/// consume and return it. The FROM clause is the explicit `select_from`/joins plus every table
/// referenced by the columns and clauses (SQLAlchemy's FROM inference); inside a subquery,
/// tables of the enclosing statement are correlated (left out) unless nothing would remain.
///
/// Result column names ([`Select::result_columns`]): a column's name, a label, or for other
/// expressions an anonymous label `<function>_<n>` / `anon_<n>` rendered with `AS`; a column
/// whose name appeared earlier in the list is labelled `<name>_<n>` (`users.id, posts.id AS id_1`).
#[derive(Debug, Clone, Default)]
pub struct Select {
    columns: Vec<Expr>,
    froms: Vec<FromClause>,
    where_: Option<Expr>,
    group_by: Vec<Expr>,
    having: Option<Expr>,
    order_by: Vec<OrderBy>,
    limit: Option<i64>,
    offset: Option<i64>,
    distinct: bool,
}

/// `SELECT columns` (SQLAlchemy's `select()`): `select((users.c("id")?, users.c("name")?))`,
/// `select(&users)` for every column of a table.
pub fn select(columns: impl IntoSelectList) -> Select {
    let mut s = Select::default();
    columns.push_into(&mut s.columns);
    s
}

/// Sets `slot` to `e`, or to `slot AND e` if it already holds a condition (repeated
/// `where_` / `having` calls).
pub(crate) fn push_and(slot: &mut Option<Expr>, e: Expr) {
    *slot = Some(match slot.take() {
        Some(prev) => and_([prev, e]),
        None => e,
    });
}

impl Select {
    /// Adds columns to the select list.
    pub fn add_columns(mut self, columns: impl IntoSelectList) -> Self {
        columns.push_into(&mut self.columns);
        self
    }

    /// Adds an explicit FROM element (table, alias, subquery, CTE or join).
    pub fn select_from(mut self, from: impl Into<FromClause>) -> Self {
        self.froms.push(from.into());
        self
    }

    /// Adds a `WHERE` condition; several calls are joined with `AND`.
    pub fn where_(mut self, cond: impl Into<Expr>) -> Self {
        push_and(&mut self.where_, cond.into());
        self
    }

    fn join_left(&mut self) -> Result<FromClause> {
        if let Some(last) = self.froms.pop() {
            return Ok(last);
        }
        let mut first: Option<&Source> = None;
        for c in &self.columns {
            for_each_column(c, &mut |col| {
                if first.is_none() {
                    first = Some(&col.src);
                }
            });
        }
        match first {
            Some(src) => Ok(FromClause(FromNode::Source(src.clone()))),
            None => Err(SqlError::new(
                SqlErrorKind::InvalidStatement,
                "join() needs something to join from: select columns or call select_from() first",
            )),
        }
    }

    fn add_join(mut self, right: FromClause, on: Option<Expr>, kind: JoinKind) -> Result<Self> {
        let left = self.join_left()?;
        let on = match on {
            Some(on) => on,
            None => infer_on(&left, &right)?,
        };
        self.froms.push(left.joined(right, on, kind));
        Ok(self)
    }

    /// `JOIN right ON on`, joining from the last explicit FROM element, or else from the table
    /// of the first selected column (SQLAlchemy's `Select.join`).
    ///
    /// # Errors
    /// [`SqlErrorKind::InvalidStatement`] when there is nothing to join from.
    pub fn join(self, right: impl Into<FromClause>, on: impl Into<Expr>) -> Result<Self> {
        self.add_join(right.into(), Some(on.into()), JoinKind::Inner)
    }

    /// `JOIN right ON <foreign key>`, the `ON` clause inferred from the single foreign key between
    /// `right` and the tables joined so far. The inference happens here, at build time.
    ///
    /// # Errors
    /// [`SqlErrorKind::NoJoinCondition`] / [`SqlErrorKind::AmbiguousJoin`] when there is no
    /// foreign key or more than one; [`SqlErrorKind::InvalidStatement`] as [`Select::join`].
    pub fn join_fk(self, right: impl Into<FromClause>) -> Result<Self> {
        self.add_join(right.into(), None, JoinKind::Inner)
    }

    /// `LEFT OUTER JOIN right ON on` (SQLAlchemy's `outerjoin`).
    ///
    /// # Errors
    /// As [`Select::join`].
    pub fn outerjoin(self, right: impl Into<FromClause>, on: impl Into<Expr>) -> Result<Self> {
        self.add_join(right.into(), Some(on.into()), JoinKind::Left)
    }

    /// `LEFT OUTER JOIN right ON <foreign key>`.
    ///
    /// # Errors
    /// As [`Select::join_fk`].
    pub fn outerjoin_fk(self, right: impl Into<FromClause>) -> Result<Self> {
        self.add_join(right.into(), None, JoinKind::Left)
    }

    /// `FULL OUTER JOIN right ON on` (SQLAlchemy's `join(..., full=True)`; SQLite ≥ 3.39).
    ///
    /// # Errors
    /// As [`Select::join`].
    pub fn full_join(self, right: impl Into<FromClause>, on: impl Into<Expr>) -> Result<Self> {
        self.add_join(right.into(), Some(on.into()), JoinKind::Full)
    }

    /// Adds `GROUP BY` items.
    pub fn group_by<E: Into<Expr>>(mut self, items: impl IntoIterator<Item = E>) -> Self {
        self.group_by.extend(items.into_iter().map(Into::into));
        self
    }

    /// Adds a `HAVING` condition; several calls are joined with `AND`.
    pub fn having(mut self, cond: impl Into<Expr>) -> Self {
        push_and(&mut self.having, cond.into());
        self
    }

    /// Adds `ORDER BY` items (columns, expressions, or [`OrderBy`] from `.asc()`/`.desc()`).
    pub fn order_by<O: Into<OrderBy>>(mut self, items: impl IntoIterator<Item = O>) -> Self {
        self.order_by.extend(items.into_iter().map(Into::into));
        self
    }

    /// `LIMIT n`, bound as a parameter.
    pub fn limit(mut self, n: i64) -> Self {
        self.limit = Some(n);
        self
    }

    /// `OFFSET n`, bound as a parameter (SQLite gets `LIMIT -1 OFFSET ?` when there is no limit).
    pub fn offset(mut self, n: i64) -> Self {
        self.offset = Some(n);
        self
    }

    /// `SELECT DISTINCT`.
    pub fn distinct(mut self) -> Self {
        self.distinct = true;
        self
    }

    /// This select as a named subquery `(SELECT ...) AS name` (SQLAlchemy's `.subquery()`).
    pub fn subquery(self, name: impl Into<Arc<str>>) -> Subquery {
        Subquery::new(Query::Select(self), name.into(), None)
    }

    /// This select as a common table expression `WITH name AS (...)` (SQLAlchemy's `.cte()`).
    pub fn cte(self, name: impl Into<Arc<str>>) -> Subquery {
        Subquery::new(Query::Select(self), name.into(), Some(false))
    }

    /// The anchor of a recursive CTE (`WITH RECURSIVE name(cols) AS (...)`); add the recursive
    /// part with [`Subquery::union_all`].
    pub fn cte_recursive(self, name: impl Into<Arc<str>>) -> Subquery {
        Subquery::new(Query::Select(self), name.into(), Some(true))
    }

    /// `(SELECT ...)` as a scalar expression (SQLAlchemy's `.scalar_subquery()`).
    pub fn scalar_subquery(self) -> Expr {
        Expr(ExprKind::Scalar(Box::new(Query::Select(self))))
    }

    /// `EXISTS (SELECT ...)`.
    pub fn exists(self) -> Expr {
        crate::expression::exists(self)
    }

    /// `self UNION other`.
    pub fn union(self, other: impl Into<Query>) -> CompoundSelect {
        CompoundSelect::new(Query::Select(self), CompoundOp::Union, other.into())
    }

    /// `self UNION ALL other`.
    pub fn union_all(self, other: impl Into<Query>) -> CompoundSelect {
        CompoundSelect::new(Query::Select(self), CompoundOp::UnionAll, other.into())
    }

    /// `self INTERSECT other`.
    pub fn intersect(self, other: impl Into<Query>) -> CompoundSelect {
        CompoundSelect::new(Query::Select(self), CompoundOp::Intersect, other.into())
    }

    /// `self INTERSECT ALL other` (PostgreSQL).
    pub fn intersect_all(self, other: impl Into<Query>) -> CompoundSelect {
        CompoundSelect::new(Query::Select(self), CompoundOp::IntersectAll, other.into())
    }

    /// `self EXCEPT other`.
    pub fn except_(self, other: impl Into<Query>) -> CompoundSelect {
        CompoundSelect::new(Query::Select(self), CompoundOp::Except, other.into())
    }

    /// `self EXCEPT ALL other` (PostgreSQL).
    pub fn except_all(self, other: impl Into<Query>) -> CompoundSelect {
        CompoundSelect::new(Query::Select(self), CompoundOp::ExceptAll, other.into())
    }

    /// The result column names in order, as the engine will see them (see the type docs).
    pub fn result_columns(&self) -> Vec<Arc<str>> {
        result_names(&self.columns)
    }

    /// Adds `WHERE 1 = 1` when there is no `WHERE`: SQLite cannot otherwise parse
    /// `INSERT ... SELECT ... FROM a JOIN b ON ... ON CONFLICT`.
    pub(crate) fn ensure_where(&mut self) {
        if self.where_.is_none() {
            self.where_ = Some(crate::expression::true_());
        }
    }

    pub(crate) fn is_simple_member(&self) -> bool {
        self.order_by.is_empty() && self.limit.is_none() && self.offset.is_none()
    }

    /// The FROM elements: explicit ones, then tables inferred from the clauses.
    fn collect_froms<'a>(&'a self, outer: Option<&Scope<'_>>) -> Vec<FromRef<'a>> {
        let mut froms: Vec<FromRef<'a>> = self.froms.iter().map(FromRef::Clause).collect();
        let explicit = froms.len();
        let mut visit = |c: &'a ColumnRef| {
            let q = c.src.qualifier();
            if !froms.iter().any(|f| f.covers(q)) {
                froms.push(FromRef::Source(&c.src));
            }
        };
        for e in &self.columns {
            for_each_column(e, &mut visit);
        }
        if let Some(w) = &self.where_ {
            for_each_column(w, &mut visit);
        }
        for e in &self.group_by {
            for_each_column(e, &mut visit);
        }
        if let Some(h) = &self.having {
            for_each_column(h, &mut visit);
        }
        for o in &self.order_by {
            for_each_column(&o.expr, &mut visit);
        }
        if let Some(outer) = outer {
            // Correlate: leave out inferred FROMs the enclosing statement provides, unless
            // nothing would remain.
            let remaining = froms[explicit..]
                .iter()
                .filter(|f| matches!(f, FromRef::Source(s) if !outer.covers(s.qualifier())))
                .count();
            if remaining + explicit > 0 {
                let mut i = explicit;
                while i < froms.len() {
                    match froms[i] {
                        FromRef::Source(s) if outer.covers(s.qualifier()) => {
                            froms.remove(i);
                        }
                        _ => i += 1,
                    }
                }
            }
        }
        froms
    }

    pub(crate) fn walk_in<S: Sink>(&self, s: &mut S, outer: Option<&Scope<'_>>) {
        let froms = self.collect_froms(outer);
        // WITH: the CTEs among the FROM elements not already defined by an enclosing WITH.
        let mut ctes: Vec<&Subquery> = Vec::new();
        for f in &froms {
            f.for_each_source(&mut |src| {
                if let Source::Derived(d) = src {
                    if d.is_cte()
                        && !ctes.iter().any(|c| c.name() == d.name())
                        && !outer.is_some_and(|o| o.cte_defined(d.name()))
                    {
                        ctes.push(d);
                    }
                }
            });
        }
        let names: Vec<&str> = ctes.iter().map(|c| c.name()).collect();
        let scope = Scope {
            froms: &froms,
            parent: outer,
            ctes: &names,
            barrier: false,
        };
        let cx = Cx {
            qualify: true,
            scope: Some(&scope),
        };
        if !ctes.is_empty() {
            let body_scope = Scope {
                froms: &[],
                parent: Some(&scope),
                ctes: &[],
                barrier: true,
            };
            let recursive = ctes.iter().any(|c| c.0.cte == Some(true));
            s.kw(if recursive {
                Kw::WithRecursive
            } else {
                Kw::With
            });
            for (i, c) in ctes.iter().enumerate() {
                if i > 0 {
                    s.kw(Kw::Comma);
                }
                c.walk_cte(s, &body_scope);
            }
            s.kw(Kw::Space);
        }
        s.kw(Kw::Select);
        if self.distinct {
            s.kw(Kw::Distinct);
        }
        walk_select_list(&self.columns, s, cx);
        if !froms.is_empty() {
            s.kw(Kw::From);
            for (i, f) in froms.iter().enumerate() {
                if i > 0 {
                    s.kw(Kw::Comma);
                }
                f.walk(s, cx);
            }
        }
        if let Some(w) = &self.where_ {
            s.kw(Kw::Where);
            walk_expr(w, s, cx);
        }
        if !self.group_by.is_empty() {
            s.kw(Kw::GroupBy);
            for (i, g) in self.group_by.iter().enumerate() {
                if i > 0 {
                    s.kw(Kw::Comma);
                }
                walk_by_item(g, s, cx);
            }
        }
        if let Some(h) = &self.having {
            s.kw(Kw::Having);
            walk_expr(h, s, cx);
        }
        walk_order_by(&self.order_by, s, cx);
        walk_limit_offset(s, self.limit, self.offset);
    }
}

/// `LIMIT ? OFFSET ?` with the values bound.
pub(crate) fn walk_limit_offset<S: Sink>(s: &mut S, limit: Option<i64>, offset: Option<i64>) {
    if let Some(n) = limit {
        s.kw(Kw::Limit);
        s.param(&Value::Int(n));
    }
    if let Some(n) = offset {
        if limit.is_none() && s.dialect() == Dialect::Sqlite {
            s.kw(Kw::LimitAll);
        }
        s.kw(Kw::Offset);
        s.param(&Value::Int(n));
    }
}

/// Walks a select list or `RETURNING` list, adding `AS` labels (see [`Select`]).
pub(crate) fn walk_select_list<S: Sink>(columns: &[Expr], s: &mut S, cx: Cx<'_>) {
    let mut counters: Vec<(&str, u64)> = Vec::new();
    for (i, c) in columns.iter().enumerate() {
        if i > 0 {
            s.kw(Kw::Comma);
        }
        match &c.0 {
            ExprKind::Column(col) => {
                walk_column(col, s, cx.qualify);
                let dup = same_name_before(columns, i, col);
                if dup > 0 {
                    s.kw(Kw::As);
                    s.ident_numbered(col.name(), dup as u64);
                }
            }
            ExprKind::Label(inner, name) => {
                walk_item(inner, s, cx);
                s.kw(Kw::As);
                s.ident(name);
            }
            _ => {
                walk_item(c, s, cx);
                let prefix = anon_prefix(c).unwrap_or("anon");
                let n = bump(&mut counters, prefix);
                s.kw(Kw::As);
                s.name(prefix);
                s.kw(Kw::Underscore);
                s.num(n);
            }
        }
    }
}

/// Walks a select-list expression. On PostgreSQL a bare parameter there has no context to infer
/// its type from (`SELECT $1` would be `text`), so it gets a cast from its value's kind:
/// `$1::BIGINT`.
fn walk_item<S: Sink>(e: &Expr, s: &mut S, cx: Cx<'_>) {
    walk_expr(e, s, cx);
    if let (ExprKind::Param(v), Dialect::Postgresql) = (&e.0, s.dialect()) {
        let ty = match v {
            Value::Bool(_) => Kw::TyBoolean,
            Value::Int(_) => Kw::TyBigInt,
            Value::Float(_) => Kw::TyDoublePrecision,
            Value::Numeric(_) => Kw::TyNumericBare,
            Value::Text(_) => Kw::TyText,
            Value::Bytes(_) => Kw::TyBytea,
            Value::Date(_) => Kw::TyDate,
            Value::Time(_) => Kw::TyTime,
            Value::Timestamp(_) => Kw::TyTimestamp,
            Value::TimestampTz(_) => Kw::TyTimestampTz,
            Value::Uuid(_) => Kw::TyUuid,
            Value::Json(_) => Kw::TyJsonb,
            _ => return,
        };
        s.kw(Kw::CastTo);
        s.kw(ty);
    }
}

/// How many plain columns before position `i` have the same name as `col` (SQLAlchemy's
/// `LABEL_STYLE_DISAMBIGUATE_ONLY`: the second `id` is labelled `id_1`).
fn same_name_before(columns: &[Expr], i: usize, col: &ColumnRef) -> usize {
    columns[..i]
        .iter()
        .filter(|e| matches!(&e.0, ExprKind::Column(c) if c.name() == col.name()))
        .count()
}

fn bump<'a>(counters: &mut Vec<(&'a str, u64)>, prefix: &'a str) -> u64 {
    match counters.iter_mut().find(|(p, _)| *p == prefix) {
        Some((_, n)) => {
            *n += 1;
            *n
        }
        None => {
            counters.push((prefix, 1));
            1
        }
    }
}

/// The result names of a select list (matching [`walk_select_list`]).
pub(crate) fn result_names(columns: &[Expr]) -> Vec<Arc<str>> {
    let mut counters: Vec<(&str, u64)> = Vec::new();
    columns
        .iter()
        .enumerate()
        .map(|(i, c)| match &c.0 {
            ExprKind::Column(col) => match same_name_before(columns, i, col) {
                0 => col.src.column_name_arc(col.idx as usize),
                dup => Arc::from(format!("{}_{dup}", col.name())),
            },
            ExprKind::Label(_, name) => name.clone(),
            _ => {
                let prefix = anon_prefix(c).unwrap_or("anon");
                let n = bump(&mut counters, prefix);
                Arc::from(format!("{prefix}_{n}"))
            }
        })
        .collect()
}

impl Walk for Select {
    fn walk<S: Sink>(&self, s: &mut S) {
        self.walk_in(s, None);
    }
}

impl Executable for Select {
    fn compile(&self, dialect: Dialect, cache: &StatementCache) -> Compiled {
        compile_walk(self, dialect, cache)
    }

    fn result_columns(&self) -> Vec<Arc<str>> {
        Select::result_columns(self)
    }
}

#[cfg(test)]
mod tests {
    use crate::compiled::Dialect::{Postgresql as Pg, Sqlite};
    use crate::fixtures::{both, compile, schema, sql};
    use crate::*;

    #[test]
    fn whole_table_and_columns() {
        let s = schema();
        let q = select(&s.users);
        assert_eq!(
            sql(&q, Sqlite),
            "SELECT users.id, users.name, users.email FROM users"
        );
        let q = select((s.users.c("name").unwrap(), s.posts.c("title").unwrap()));
        assert_eq!(
            sql(&q, Pg),
            "SELECT users.name, posts.title FROM users, posts"
        );
        assert_eq!(q.result_columns().len(), 2);
    }

    #[test]
    fn where_and_or_not_with_params_in_order() {
        let s = schema();
        let id = s.users.c("id").unwrap();
        let name = s.users.c("name").unwrap();
        let q = select(&id)
            .where_(id.clone().gt(5))
            .where_(or_([name.clone().eq("a"), name.clone().eq("b")]))
            .where_(not_(name.clone().like("x%")));
        let (lite, pg) = both(&q);
        assert_eq!(
            lite,
            "SELECT users.id FROM users WHERE users.id > ?1 AND (users.name = ?2 OR users.name = ?3) \
             AND users.name NOT LIKE ?4"
        );
        assert_eq!(
            pg,
            "SELECT users.id FROM users WHERE users.id > $1 AND (users.name = $2 OR users.name = $3) \
             AND users.name NOT LIKE $4"
        );
        let c = compile(&q, Sqlite);
        assert_eq!(
            c.params,
            vec![Value::Int(5), "a".into(), "b".into(), "x%".into()]
        );
        let q = select(&id).where_(not_(and_([id.clone().eq(1), name.clone().eq("z")])));
        assert_eq!(
            sql(&q, Sqlite),
            "SELECT users.id FROM users WHERE NOT (users.id = ?1 AND users.name = ?2)"
        );
        let q = select(&id).where_(not_(id.clone().lt(3)).and(id.clone().ne(Value::Null)));
        assert_eq!(
            sql(&q, Pg),
            "SELECT users.id FROM users WHERE users.id >= $1 AND users.id IS NOT NULL"
        );
    }

    #[test]
    fn comparison_operators() {
        let s = schema();
        let id = || s.users.c("id").unwrap();
        let q = select(id()).where_(and_([
            id().eq(1),
            id().ne(2),
            id().lt(3),
            id().le(4),
            id().gt(5),
            id().ge(6),
        ]));
        assert_eq!(
            sql(&q, Pg),
            "SELECT users.id FROM users WHERE users.id = $1 AND users.id != $2 AND users.id < $3 \
             AND users.id <= $4 AND users.id > $5 AND users.id >= $6"
        );
    }

    #[test]
    fn in_between_like_null() {
        let s = schema();
        let id = || s.users.c("id").unwrap();
        let name = || s.users.c("name").unwrap();
        let q = select(id()).where_(id().in_([1, 2, 3]));
        assert_eq!(
            sql(&q, Sqlite),
            "SELECT users.id FROM users WHERE users.id IN (?1, ?2, ?3)"
        );
        // PostgreSQL: a list of bound values of one kind against a column is one array
        // parameter, so every length is the same statement.
        assert_eq!(
            sql(&q, Pg),
            "SELECT users.id FROM users WHERE users.id = ANY($1)"
        );
        assert_eq!(
            compile(&q, Pg).params,
            vec![Value::Array(vec![1.into(), 2.into(), 3.into()])]
        );
        let five = select(id()).where_(id().in_([1, 2, 3, 4, 5]));
        assert_eq!(sql(&five, Pg), sql(&q, Pg));
        let q = select(id()).where_(id().not_in([1]));
        assert_eq!(
            sql(&q, Pg),
            "SELECT users.id FROM users WHERE users.id <> ALL($1)"
        );
        assert_eq!(
            sql(&q, Sqlite),
            "SELECT users.id FROM users WHERE users.id NOT IN (?1)"
        );
        // Not an array: mixed kinds, a NULL, an expression item, a non-column left side.
        let q = select(id()).where_(name().in_([Value::from("a"), Value::from(1)]));
        assert_eq!(
            sql(&q, Pg),
            "SELECT users.id FROM users WHERE users.name IN ($1, $2)"
        );
        let q = select(id()).where_(name().in_([Value::from("a"), Value::Null]));
        assert_eq!(
            sql(&q, Pg),
            "SELECT users.id FROM users WHERE users.name IN ($1, $2)"
        );
        let q = select(id()).where_(id().in_([Expr::from(1), Expr::from(id())]));
        assert_eq!(
            sql(&q, Pg),
            "SELECT users.id FROM users WHERE users.id IN ($1, users.id)"
        );
        let q = select(id()).where_(lit(1).in_([1, 2]));
        assert_eq!(
            sql(&q, Pg),
            "SELECT users.id FROM users WHERE $1 IN ($2, $3)"
        );
        let empty: [i64; 0] = [];
        let q = select(id()).where_(id().in_(empty));
        assert_eq!(sql(&q, Sqlite), "SELECT users.id FROM users WHERE 1 != 1");
        let q = select(id()).where_(id().not_in(empty));
        assert_eq!(sql(&q, Sqlite), "SELECT users.id FROM users WHERE 1 = 1");
        let q = select(id()).where_(id().between(1, 9));
        assert_eq!(
            sql(&q, Pg),
            "SELECT users.id FROM users WHERE users.id BETWEEN $1 AND $2"
        );
        let q = select(id()).where_(not_(id().between(1, 9)));
        assert_eq!(
            sql(&q, Pg),
            "SELECT users.id FROM users WHERE users.id NOT BETWEEN $1 AND $2"
        );
        let q = select(id()).where_(name().ilike("%A%"));
        let (lite, pg) = both(&q);
        assert_eq!(
            lite,
            "SELECT users.id FROM users WHERE lower(users.name) LIKE lower(?1)"
        );
        assert_eq!(pg, "SELECT users.id FROM users WHERE users.name ILIKE $1");
        let q = select(id()).where_(name().not_ilike("a"));
        assert_eq!(
            sql(&q, Pg),
            "SELECT users.id FROM users WHERE users.name NOT ILIKE $1"
        );
        let q = select(id()).where_(
            s.users
                .c("email")
                .unwrap()
                .is_null()
                .or(name().eq(None::<String>)),
        );
        assert_eq!(
            sql(&q, Sqlite),
            "SELECT users.id FROM users WHERE users.email IS NULL OR users.name IS NULL"
        );
        let q = select(id()).where_(not_(name().is_not_null()));
        assert_eq!(
            sql(&q, Sqlite),
            "SELECT users.id FROM users WHERE users.name IS NULL"
        );
    }

    #[test]
    fn arithmetic_and_precedence() {
        let s = schema();
        let score = || s.posts.c("score").unwrap();
        let q = select((score() + 1).label("next"))
            .where_(((score() - 2) * 3).gt(score() / (score() - 1)));
        assert_eq!(
            sql(&q, Sqlite),
            "SELECT posts.score + ?1 AS next FROM posts WHERE (posts.score - ?2) * ?3 > posts.score / (posts.score - ?4)"
        );
        let q = select(-score() % 7);
        assert_eq!(sql(&q, Pg), "SELECT -posts.score % $1 AS anon_1 FROM posts");
        let q = select(
            s.users
                .c("name")
                .unwrap()
                .concat(" ")
                .concat(s.users.c("email").unwrap()),
        );
        assert_eq!(
            sql(&q, Pg),
            "SELECT (users.name || $1) || users.email AS anon_1 FROM users"
        );
    }

    #[test]
    fn functions_labels_case_cast_distinct() {
        let s = schema();
        let name = || s.users.c("name").unwrap();
        let id = || s.users.c("id").unwrap();
        let q = select(vec![
            func::count_star(),
            func::count(id().distinct()),
            func::sum(id()),
            func::avg(id()),
            func::min(id()),
            func::max(id()).label("top"),
            func::coalesce([s.users.c("email").unwrap().expr(), lit("none")]),
            func::lower(name()),
            func::upper(name()),
            func::length(name()),
            func::count(id()),
        ]);
        assert_eq!(
            sql(&q, Sqlite),
            "SELECT count(*) AS count_1, count(DISTINCT users.id) AS count_2, sum(users.id) AS sum_1, \
             avg(users.id) AS avg_1, min(users.id) AS min_1, max(users.id) AS top, \
             coalesce(users.email, ?1) AS coalesce_1, lower(users.name) AS lower_1, \
             upper(users.name) AS upper_1, length(users.name) AS length_1, count(users.id) AS count_3 FROM users"
        );
        assert_eq!(
            q.result_columns().iter().map(|c| &**c).collect::<Vec<_>>(),
            [
                "count_1",
                "count_2",
                "sum_1",
                "avg_1",
                "min_1",
                "top",
                "coalesce_1",
                "lower_1",
                "upper_1",
                "length_1",
                "count_3"
            ]
        );
        let q = select(func::now());
        assert_eq!(
            both(&q),
            (
                "SELECT CURRENT_TIMESTAMP AS now_1".into(),
                "SELECT now() AS now_1".into()
            )
        );
        let q = select(func::call("json_extract", [name().expr(), lit("$.a")]).label("j"));
        assert_eq!(
            sql(&q, Sqlite),
            "SELECT json_extract(users.name, ?1) AS j FROM users"
        );
        let q = select(func::call("My Func", [id()]));
        assert_eq!(
            sql(&q, Pg),
            "SELECT \"My Func\"(users.id) AS anon_1 FROM users"
        );
        let q = select(
            case()
                .when(id().lt(10), "small")
                .when(id().lt(100), "mid")
                .else_("big")
                .label("size"),
        );
        assert_eq!(
            sql(&q, Pg),
            "SELECT CASE WHEN users.id < $1 THEN $2 WHEN users.id < $3 THEN $4 ELSE $5 END AS size FROM users"
        );
        let q = select(Expr::from(case().when(id().eq(1), "one")));
        assert_eq!(
            sql(&q, Sqlite),
            "SELECT CASE WHEN users.id = ?1 THEN ?2 END AS anon_1 FROM users"
        );
        let q = select(cast(id(), SqlType::Text).label("t")).distinct();
        assert_eq!(
            sql(&q, Sqlite),
            "SELECT DISTINCT CAST(users.id AS TEXT) AS t FROM users"
        );
        let q = select(distinct(name()));
        assert_eq!(
            sql(&q, Pg),
            "SELECT DISTINCT users.name AS anon_1 FROM users"
        );
    }

    #[test]
    fn group_having_order_limit_offset() {
        let s = schema();
        let uid = || s.posts.c("user_id").unwrap();
        let n = func::count_star().label("n");
        let q = select((uid(), n.clone()))
            .group_by([uid()])
            .having(func::count_star().gt(2))
            .order_by([n.desc(), uid().asc().nulls_last()])
            .limit(10)
            .offset(20);
        assert_eq!(
            sql(&q, Sqlite),
            "SELECT posts.user_id, count(*) AS n FROM posts GROUP BY posts.user_id HAVING count(*) > ?1 \
             ORDER BY n DESC, posts.user_id ASC NULLS LAST LIMIT ?2 OFFSET ?3"
        );
        let c = compile(&q, Pg);
        assert_eq!(
            c.params,
            vec![Value::Int(2), Value::Int(10), Value::Int(20)]
        );
        let q = select(uid()).order_by([uid()]).offset(5);
        assert_eq!(
            both(&q),
            (
                "SELECT posts.user_id FROM posts ORDER BY posts.user_id LIMIT -1 OFFSET ?1".into(),
                "SELECT posts.user_id FROM posts ORDER BY posts.user_id OFFSET $1".into()
            )
        );
        let q = select(uid()).order_by([desc(uid()).nulls_first()]).limit(1);
        assert_eq!(
            sql(&q, Pg),
            "SELECT posts.user_id FROM posts ORDER BY posts.user_id DESC NULLS FIRST LIMIT $1"
        );
    }

    #[test]
    fn joins_explicit_inferred_outer_full() {
        let s = schema();
        let on = s.users.c("id").unwrap().eq(s.posts.c("user_id").unwrap());
        let q = select((s.users.c("name").unwrap(), s.posts.c("title").unwrap()))
            .join(&s.posts, on.clone())
            .unwrap();
        assert_eq!(
            sql(&q, Sqlite),
            "SELECT users.name, posts.title FROM users JOIN posts ON users.id = posts.user_id"
        );
        let q = select((s.users.c("name").unwrap(), s.posts.c("title").unwrap()))
            .join_fk(&s.posts)
            .unwrap();
        assert_eq!(
            sql(&q, Pg),
            "SELECT users.name, posts.title FROM users JOIN posts ON posts.user_id = users.id"
        );
        let q = select(&s.users)
            .outerjoin_fk(&s.posts)
            .unwrap()
            .where_(s.posts.c("id").unwrap().is_null());
        assert_eq!(
            sql(&q, Pg),
            "SELECT users.id, users.name, users.email FROM users LEFT OUTER JOIN posts ON \
             posts.user_id = users.id WHERE posts.id IS NULL"
        );
        let q = select(&s.users).full_join(&s.posts, on.clone()).unwrap();
        assert_eq!(
            sql(&q, Pg),
            "SELECT users.id, users.name, users.email FROM users FULL OUTER JOIN posts ON users.id = posts.user_id"
        );
        let q = select(s.posts.c("title").unwrap()).select_from(s.users.join(&s.posts, on));
        assert_eq!(
            sql(&q, Sqlite),
            "SELECT posts.title FROM users JOIN posts ON users.id = posts.user_id"
        );
        let q = select(s.users.c("id").unwrap())
            .outerjoin(&s.posts, true_())
            .unwrap();
        assert_eq!(
            sql(&q, Sqlite),
            "SELECT users.id FROM users LEFT OUTER JOIN posts ON 1 = 1"
        );
    }

    #[test]
    fn join_inference_errors() {
        let s = schema();
        let lonely = Table::new("lonely").column(Column::new("id", SqlType::Integer).primary_key());
        let e = select(&s.users).join_fk(&lonely).unwrap_err();
        assert_eq!(e.kind(), SqlErrorKind::NoJoinCondition);
        assert!(e.to_string().contains("lonely"), "{e}");
        let edits = Table::new("edits")
            .column(Column::new("id", SqlType::Integer).primary_key())
            .column(
                Column::new("author_id", SqlType::Integer)
                    .foreign_key(ForeignKey::new("users", "id")),
            )
            .column(
                Column::new("editor_id", SqlType::Integer)
                    .foreign_key(ForeignKey::new("users", "id")),
            );
        let e = select(&s.users).join_fk(&edits).unwrap_err();
        assert_eq!(e.kind(), SqlErrorKind::AmbiguousJoin);
        let e = Select::default().join(&s.users, true_()).unwrap_err();
        assert_eq!(e.kind(), SqlErrorKind::InvalidStatement);
        assert_eq!(
            s.users.c("nope").unwrap_err().kind(),
            SqlErrorKind::UnknownColumn
        );
    }

    #[test]
    fn alias_self_join() {
        let s = schema();
        let u2 = s.users.alias("u2");
        let q = select((
            s.users.c("name").unwrap(),
            u2.c("name").unwrap().label("other"),
        ))
        .join(&u2, s.users.c("email").unwrap().eq(u2.c("email").unwrap()))
        .unwrap()
        .where_(s.users.c("id").unwrap().ne(u2.c("id").unwrap()));
        assert_eq!(
            sql(&q, Pg),
            "SELECT users.name, u2.name AS other FROM users JOIN users AS u2 ON users.email = u2.email \
             WHERE users.id != u2.id"
        );
        assert!(u2.c("zzz").is_err());
    }

    #[test]
    fn subqueries_exists_scalar_in() {
        let s = schema();
        let sub = select((s.posts.c("user_id").unwrap(), func::count_star().label("n")))
            .group_by([s.posts.c("user_id").unwrap()])
            .subquery("counts");
        assert_eq!(
            sub.columns().iter().map(|c| &**c).collect::<Vec<_>>(),
            ["user_id", "n"]
        );
        let q = select((s.users.c("name").unwrap(), sub.c("n").unwrap()))
            .join(&sub, s.users.c("id").unwrap().eq(sub.c("user_id").unwrap()))
            .unwrap()
            .where_(sub.c("n").unwrap().gt(1));
        assert_eq!(
            sql(&q, Sqlite),
            "SELECT users.name, counts.n FROM users JOIN (SELECT posts.user_id, count(*) AS n FROM posts \
             GROUP BY posts.user_id) AS counts ON users.id = counts.user_id WHERE counts.n > ?1"
        );
        // Correlated scalar subquery: `users` comes from the enclosing statement.
        let post_count = select(func::count_star())
            .where_(s.posts.c("user_id").unwrap().eq(s.users.c("id").unwrap()))
            .scalar_subquery()
            .label("posts");
        let q = select((s.users.c("name").unwrap(), post_count));
        assert_eq!(
            sql(&q, Pg),
            "SELECT users.name, (SELECT count(*) AS count_1 FROM posts WHERE posts.user_id = users.id) AS posts FROM users"
        );
        let q = select(s.users.c("id").unwrap())
            .where_(exists(select(s.posts.c("id").unwrap()).where_(
                s.posts.c("user_id").unwrap().eq(s.users.c("id").unwrap()),
            )));
        assert_eq!(
            sql(&q, Sqlite),
            "SELECT users.id FROM users WHERE EXISTS (SELECT posts.id FROM posts WHERE posts.user_id = users.id)"
        );
        let q = select(s.users.c("id").unwrap()).where_(not_(
            select(s.posts.c("id").unwrap())
                .where_(s.posts.c("score").unwrap().gt(3))
                .exists(),
        ));
        assert_eq!(
            sql(&q, Pg),
            "SELECT users.id FROM users WHERE NOT EXISTS (SELECT posts.id FROM posts WHERE posts.score > $1)"
        );
        let q = select(s.users.c("name").unwrap()).where_(s.users.c("id").unwrap().in_select(
            select(s.posts.c("user_id").unwrap()).where_(s.posts.c("score").unwrap().ge(10)),
        ));
        assert_eq!(
            sql(&q, Sqlite),
            "SELECT users.name FROM users WHERE users.id IN (SELECT posts.user_id FROM posts WHERE posts.score >= ?1)"
        );
    }

    #[test]
    fn ctes_plain_and_recursive() {
        let s = schema();
        let top = select((
            s.posts.c("user_id").unwrap(),
            func::max(s.posts.c("score").unwrap()).label("best"),
        ))
        .group_by([s.posts.c("user_id").unwrap()])
        .cte("top");
        let q = select((s.users.c("name").unwrap(), top.c("best").unwrap()))
            .join(&top, top.c("user_id").unwrap().eq(s.users.c("id").unwrap()))
            .unwrap();
        assert_eq!(
            sql(&q, Pg),
            "WITH top AS (SELECT posts.user_id, max(posts.score) AS best FROM posts GROUP BY posts.user_id) \
             SELECT users.name, top.best FROM users JOIN top ON top.user_id = users.id"
        );
        let anchor = select(lit(1).label("n")).cte_recursive("nums");
        let nums = anchor.union_all(
            select((anchor.c("n").unwrap() + 1).label("n")).where_(anchor.c("n").unwrap().lt(5)),
        );
        let q = select(nums.c("n").unwrap());
        assert_eq!(
            sql(&q, Sqlite),
            "WITH RECURSIVE nums(n) AS (SELECT ?1 AS n UNION ALL SELECT nums.n + ?2 AS n FROM nums WHERE nums.n < ?3) \
             SELECT nums.n FROM nums"
        );
        assert_eq!(
            compile(&q, Pg).params,
            vec![Value::Int(1), Value::Int(1), Value::Int(5)]
        );
    }

    #[test]
    fn nasty_identifiers_are_quoted_and_values_stay_params() {
        let t = Table::new("user")
            .column(Column::new("order", SqlType::Integer))
            .column(Column::new("first name", SqlType::Text))
            .column(Column::new("we\"ird", SqlType::Text))
            .column(Column::new("Camel", SqlType::Text));
        let evil = "x'); DROP TABLE users; --\0\"";
        let q = select(&t)
            .where_(t.c("first name").unwrap().eq(evil))
            .order_by([t.c("order").unwrap()]);
        let (lite, pg) = both(&q);
        assert_eq!(
            lite,
            "SELECT user.\"order\", user.\"first name\", user.\"we\"\"ird\", user.\"Camel\" FROM user \
             WHERE user.\"first name\" = ?1 ORDER BY user.\"order\""
        );
        assert_eq!(
            pg,
            "SELECT \"user\".\"order\", \"user\".\"first name\", \"user\".\"we\"\"ird\", \"user\".\"Camel\" FROM \"user\" \
             WHERE \"user\".\"first name\" = $1 ORDER BY \"user\".\"order\""
        );
        let c = compile(&q, Pg);
        assert_eq!(c.params, vec![Value::Text(evil.into())]);
        assert!(!c.sql.contains("DROP"));
        let q = select(t.c("order").unwrap().label("select"));
        assert_eq!(
            sql(&q, Sqlite),
            "SELECT user.\"order\" AS \"select\" FROM user"
        );
    }
}
