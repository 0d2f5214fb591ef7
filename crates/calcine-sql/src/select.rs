//! [`Select`]: the `SELECT` statement builder (SQLAlchemy's `select()` / `Select`).

use std::sync::Arc;

use crate::compiled::{Compiled, Dialect, Executable, StatementCache};
use crate::compound::{CompoundOp, CompoundSelect};
use crate::error::{Result, SqlError, SqlErrorKind};
use crate::expression::walk::{for_each_column, walk_by_item, walk_column, walk_order_by};
use crate::expression::{ColumnRef, Cx, Expr, ExprKind, OrderBy, and_, anon_prefix, walk_expr};
use crate::query::Query;
use crate::schema::Table;
use crate::selectable::{Alias, FromClause, FromNode, FromRef, JoinKind, Scope, Source, Subquery, infer_on};
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
        out.extend((0..self.table().columns().len()).map(|i| Expr::from(ColumnRef::new(src.clone(), i))));
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
/// expressions an anonymous label `<function>_<n>` / `anon_<n>` rendered with `AS`.
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

fn push_and(slot: &mut Option<Expr>, e: Expr) {
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

    pub(crate) fn is_simple_member(&self) -> bool {
        self.order_by.is_empty() && self.limit.is_none() && self.offset.is_none()
    }

    /// The FROM elements: explicit ones, then tables inferred from the clauses.
    fn from_refs<'a>(&'a self, outer: Option<&Scope<'_>>) -> Vec<FromRef<'a>> {
        let mut froms: Vec<FromRef<'a>> = self.froms.iter().map(FromRef::Clause).collect();
        let explicit = froms.len();
        let mut inferred: Vec<&'a Source> = Vec::new();
        let mut visit = |c: &'a ColumnRef| {
            let q = c.src.qualifier();
            if !inferred.iter().any(|s| s.qualifier() == q) && !self.froms.iter().any(|f| f.covers(q)) {
                inferred.push(&c.src);
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
            let uncorrelated = inferred.iter().filter(|s| !outer.covers(s.qualifier())).count();
            if uncorrelated + explicit > 0 {
                inferred.retain(|s| !outer.covers(s.qualifier()));
            }
        }
        froms.extend(inferred.into_iter().map(FromRef::Source));
        froms
    }

    pub(crate) fn walk_in<S: Sink>(&self, s: &mut S, outer: Option<&Scope<'_>>) {
        let froms = self.from_refs(outer);
        let scope = Scope {
            froms: &froms,
            parent: outer,
        };
        let cx = Cx {
            qualify: true,
            scope: Some(&scope),
        };
        // WITH: the CTEs among the FROM elements.
        let mut ctes: Vec<&Subquery> = Vec::new();
        for f in &froms {
            f.for_each_source(&mut |src| {
                if let Source::Derived(d) = src {
                    if d.is_cte() && !ctes.iter().any(|c| c.name() == d.name()) {
                        ctes.push(d);
                    }
                }
            });
        }
        if !ctes.is_empty() {
            let recursive = ctes.iter().any(|c| c.0.cte == Some(true));
            s.kw(if recursive { Kw::WithRecursive } else { Kw::With });
            for (i, c) in ctes.iter().enumerate() {
                if i > 0 {
                    s.kw(Kw::Comma);
                }
                c.walk_cte(s);
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
            ExprKind::Column(col) => walk_column(col, s, cx.qualify),
            ExprKind::Label(inner, name) => {
                walk_expr(inner, s, cx);
                s.kw(Kw::As);
                s.ident(name);
            }
            _ => {
                walk_expr(c, s, cx);
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
        .map(|c| match &c.0 {
            ExprKind::Column(col) => col.src.column_name_arc(col.idx as usize),
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
