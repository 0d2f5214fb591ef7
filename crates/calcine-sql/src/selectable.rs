//! FROM-clause elements: table aliases ([`Alias`]), named subqueries and CTEs ([`Subquery`]),
//! joins ([`FromClause`]) (SQLAlchemy's `FromClause` family).

use std::sync::Arc;

use crate::error::{Result, SqlError, SqlErrorKind};
use crate::expression::{ColumnRef, Cx, Expr, and_, walk_expr};
use crate::query::Query;
use crate::schema::Table;
use crate::sink::{Kw, Sink};

/// What a [`ColumnRef`] belongs to.
#[derive(Debug, Clone)]
pub(crate) enum Source {
    Table(Table),
    Alias(Alias),
    Derived(Subquery),
}

impl Source {
    pub(crate) fn qualifier(&self) -> &str {
        match self {
            Source::Table(t) => t.name(),
            Source::Alias(a) => &a.0.name,
            Source::Derived(d) => &d.0.name,
        }
    }

    pub(crate) fn column_name(&self, idx: usize) -> &str {
        match self {
            Source::Table(t) => t.columns().get(idx).map_or("", |c| &c.name),
            Source::Alias(a) => a.0.table.columns().get(idx).map_or("", |c| &c.name),
            Source::Derived(d) => d.0.columns.get(idx).map_or("", |c| c),
        }
    }

    pub(crate) fn column_name_arc(&self, idx: usize) -> Arc<str> {
        match self {
            Source::Table(t) => t
                .columns()
                .get(idx)
                .map_or_else(|| Arc::from(""), |c| c.name.clone()),
            Source::Alias(a) => {
                a.0.table
                    .columns()
                    .get(idx)
                    .map_or_else(|| Arc::from(""), |c| c.name.clone())
            }
            Source::Derived(d) => {
                d.0.columns
                    .get(idx)
                    .cloned()
                    .unwrap_or_else(|| Arc::from(""))
            }
        }
    }

    /// The table behind a table or alias.
    pub(crate) fn table(&self) -> Option<&Table> {
        match self {
            Source::Table(t) => Some(t),
            Source::Alias(a) => Some(&a.0.table),
            Source::Derived(_) => None,
        }
    }

    fn c(&self, name: &str) -> Result<ColumnRef> {
        let idx = match self {
            Source::Table(t) => t.column_index(name),
            Source::Alias(a) => a.0.table.column_index(name),
            Source::Derived(d) => d.0.columns.iter().position(|c| &**c == name),
        };
        match idx {
            Some(i) => Ok(ColumnRef::new(self.clone(), i)),
            None => Err(SqlError::unknown_column(self.qualifier(), name)),
        }
    }

    pub(crate) fn walk<S: Sink>(&self, s: &mut S) {
        match self {
            Source::Table(t) => s.ident(t.name()),
            Source::Alias(a) => {
                s.ident(a.0.table.name());
                s.kw(Kw::As);
                s.ident(&a.0.name);
            }
            Source::Derived(d) if d.0.cte.is_some() => s.ident(&d.0.name),
            Source::Derived(d) => {
                s.kw(Kw::Open);
                d.0.query.walk(s, None);
                s.kw(Kw::Close);
                s.kw(Kw::As);
                s.ident(&d.0.name);
            }
        }
    }
}

/// A table under another name (SQLAlchemy's `table.alias("u2")`), e.g. for self-joins.
#[derive(Debug, Clone)]
pub struct Alias(pub(crate) Arc<AliasInner>);

#[derive(Debug)]
pub(crate) struct AliasInner {
    table: Table,
    name: Arc<str>,
}

impl Alias {
    pub(crate) fn new(table: Table, name: Arc<str>) -> Self {
        Alias(Arc::new(AliasInner { table, name }))
    }

    /// The alias name.
    pub fn name(&self) -> &str {
        &self.0.name
    }

    /// The aliased table.
    pub fn table(&self) -> &Table {
        &self.0.table
    }

    /// The column `name`, qualified by the alias.
    ///
    /// # Errors
    /// [`SqlErrorKind::UnknownColumn`] if the table has no such column.
    pub fn c(&self, name: &str) -> Result<ColumnRef> {
        Source::Alias(self.clone()).c(name)
    }
}

/// A named `SELECT` used as a FROM element: a subquery `(SELECT ...) AS name` (SQLAlchemy's
/// `Subquery`) or a common table expression `WITH name AS (...)` (SQLAlchemy's `CTE`). The
/// statement that selects from a CTE renders its `WITH` clause.
#[derive(Debug, Clone)]
pub struct Subquery(pub(crate) Arc<SubqueryInner>);

#[derive(Debug)]
pub(crate) struct SubqueryInner {
    pub(crate) name: Arc<str>,
    pub(crate) query: Query,
    pub(crate) columns: Vec<Arc<str>>,
    /// `None` for a subquery, `Some(recursive)` for a CTE.
    pub(crate) cte: Option<bool>,
}

impl Subquery {
    pub(crate) fn new(query: Query, name: Arc<str>, cte: Option<bool>) -> Self {
        let columns = query.column_names();
        Subquery(Arc::new(SubqueryInner {
            name,
            query,
            columns,
            cte,
        }))
    }

    /// The subquery or CTE name.
    pub fn name(&self) -> &str {
        &self.0.name
    }

    /// The column names it exposes (its select list's result names).
    pub fn columns(&self) -> &[Arc<str>] {
        &self.0.columns
    }

    /// Whether this is a CTE.
    pub fn is_cte(&self) -> bool {
        self.0.cte.is_some()
    }

    /// The column `name`, qualified by the subquery name.
    ///
    /// # Errors
    /// [`SqlErrorKind::UnknownColumn`] if the select list has no such name.
    pub fn c(&self, name: &str) -> Result<ColumnRef> {
        Source::Derived(self.clone()).c(name)
    }

    /// For a recursive CTE: the same CTE whose body is `body UNION ALL recursive_part`; the
    /// recursive part refers to this CTE's columns (SQLAlchemy's `cte.union_all(...)`).
    pub fn union_all(&self, recursive_part: impl Into<Query>) -> Subquery {
        let body = self.0.query.clone().union_all(recursive_part);
        Subquery(Arc::new(SubqueryInner {
            name: self.0.name.clone(),
            query: Query::Compound(body),
            columns: self.0.columns.clone(),
            cte: self.0.cte,
        }))
    }

    /// Walks `name [(cols)] AS (body)` for a `WITH` clause.
    pub(crate) fn walk_cte<S: Sink>(&self, s: &mut S, scope: &Scope<'_>) {
        s.ident(&self.0.name);
        if self.0.cte == Some(true) {
            s.kw(Kw::Open);
            crate::schema::constraint::ident_list(s, &self.0.columns);
            s.kw(Kw::Close);
        }
        s.kw(Kw::As);
        s.kw(Kw::Open);
        self.0.query.walk(s, Some(scope));
        s.kw(Kw::Close);
    }
}

/// The kind of a join.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JoinKind {
    Inner,
    Left,
    Full,
}

/// A FROM element: a table, alias, subquery, CTE, or a join of those (SQLAlchemy's
/// `FromClause`/`Join`). `FULL OUTER JOIN` renders on both dialects (SQLite ≥ 3.39).
#[derive(Debug, Clone)]
pub struct FromClause(pub(crate) FromNode);

#[derive(Debug, Clone)]
pub(crate) enum FromNode {
    Source(Source),
    Join(Arc<Join>),
}

#[derive(Debug)]
pub(crate) struct Join {
    left: FromClause,
    right: FromClause,
    on: Expr,
    kind: JoinKind,
}

impl From<&Table> for FromClause {
    fn from(t: &Table) -> Self {
        FromClause(FromNode::Source(Source::Table(t.clone())))
    }
}
impl From<Table> for FromClause {
    fn from(t: Table) -> Self {
        FromClause(FromNode::Source(Source::Table(t)))
    }
}
impl From<&Alias> for FromClause {
    fn from(a: &Alias) -> Self {
        FromClause(FromNode::Source(Source::Alias(a.clone())))
    }
}
impl From<Alias> for FromClause {
    fn from(a: Alias) -> Self {
        FromClause(FromNode::Source(Source::Alias(a)))
    }
}
impl From<&Subquery> for FromClause {
    fn from(d: &Subquery) -> Self {
        FromClause(FromNode::Source(Source::Derived(d.clone())))
    }
}
impl From<Subquery> for FromClause {
    fn from(d: Subquery) -> Self {
        FromClause(FromNode::Source(Source::Derived(d)))
    }
}
impl From<&FromClause> for FromClause {
    fn from(f: &FromClause) -> Self {
        f.clone()
    }
}

impl FromClause {
    pub(crate) fn joined(self, right: FromClause, on: Expr, kind: JoinKind) -> FromClause {
        FromClause(FromNode::Join(Arc::new(Join {
            left: self,
            right,
            on,
            kind,
        })))
    }

    /// `self JOIN right ON on`.
    pub fn join(self, right: impl Into<FromClause>, on: impl Into<Expr>) -> FromClause {
        self.joined(right.into(), on.into(), JoinKind::Inner)
    }

    /// `self LEFT OUTER JOIN right ON on`.
    pub fn outerjoin(self, right: impl Into<FromClause>, on: impl Into<Expr>) -> FromClause {
        self.joined(right.into(), on.into(), JoinKind::Left)
    }

    /// `self FULL OUTER JOIN right ON on`.
    pub fn full_join(self, right: impl Into<FromClause>, on: impl Into<Expr>) -> FromClause {
        self.joined(right.into(), on.into(), JoinKind::Full)
    }

    /// `self JOIN right ON <the foreign key between them>`.
    ///
    /// # Errors
    /// [`SqlErrorKind::NoJoinCondition`] if no foreign key links `right` to a table of `self`,
    /// [`SqlErrorKind::AmbiguousJoin`] if several do (pass the `ON` clause with [`FromClause::join`]).
    pub fn join_fk(self, right: impl Into<FromClause>) -> Result<FromClause> {
        let right = right.into();
        let on = infer_on(&self, &right)?;
        Ok(self.joined(right, on, JoinKind::Inner))
    }

    /// `self LEFT OUTER JOIN right ON <the foreign key between them>`.
    ///
    /// # Errors
    /// As [`FromClause::join_fk`].
    pub fn outerjoin_fk(self, right: impl Into<FromClause>) -> Result<FromClause> {
        let right = right.into();
        let on = infer_on(&self, &right)?;
        Ok(self.joined(right, on, JoinKind::Left))
    }

    /// Calls `f` for each table, alias or subquery in this clause, left to right.
    pub(crate) fn for_each_source<'a>(&'a self, f: &mut impl FnMut(&'a Source)) {
        match &self.0 {
            FromNode::Source(src) => f(src),
            FromNode::Join(j) => {
                j.left.for_each_source(f);
                j.right.for_each_source(f);
            }
        }
    }

    /// Whether a FROM element named `qualifier` is part of this clause.
    pub(crate) fn covers(&self, qualifier: &str) -> bool {
        let mut found = false;
        self.for_each_source(&mut |s| found |= s.qualifier() == qualifier);
        found
    }

    pub(crate) fn walk<S: Sink>(&self, s: &mut S, cx: Cx<'_>) {
        match &self.0 {
            FromNode::Source(src) => src.walk(s),
            FromNode::Join(j) => {
                j.left.walk(s, cx);
                s.kw(match j.kind {
                    JoinKind::Inner => Kw::Join,
                    JoinKind::Left => Kw::LeftJoin,
                    JoinKind::Full => Kw::FullJoin,
                });
                if matches!(j.right.0, FromNode::Join(_)) {
                    s.kw(Kw::Open);
                    j.right.walk(s, cx);
                    s.kw(Kw::Close);
                } else {
                    j.right.walk(s, cx);
                }
                s.kw(Kw::On);
                walk_expr(&j.on, s, cx);
            }
        }
    }
}

/// The `ON` clause from the single foreign key between `right` and a table of `left`.
pub(crate) fn infer_on(left: &FromClause, right: &FromClause) -> Result<Expr> {
    let FromNode::Source(r) = &right.0 else {
        return Err(SqlError::new(
            SqlErrorKind::NoJoinCondition,
            "cannot infer the ON clause for a join whose right side is itself a join; pass it explicitly",
        ));
    };
    let Some(rt) = r.table() else {
        return Err(SqlError::new(
            SqlErrorKind::NoJoinCondition,
            format!(
                "cannot infer the ON clause to subquery {:?}; pass it explicitly",
                r.qualifier()
            ),
        ));
    };
    let mut found: Vec<Expr> = Vec::new();
    let mut err = None;
    left.for_each_source(&mut |l| {
        let Some(lt) = l.table() else { return };
        let mut add = |from: &Source, ft: &Table, to: &Source, tt: &Table| {
            for fk in ft.foreign_keys() {
                if fk.referred_table() != tt.name() {
                    continue;
                }
                let mut conds = Vec::new();
                for (a, b) in fk.columns().iter().zip(fk.referred_columns()) {
                    match (from.c(a), to.c(b)) {
                        (Ok(a), Ok(b)) => conds.push(a.eq(b)),
                        (Err(e), _) | (_, Err(e)) => err = Some(e),
                    }
                }
                found.push(and_(conds));
            }
        };
        add(l, lt, r, rt);
        if lt.name() != rt.name() {
            add(r, rt, l, lt);
        }
    });
    if let Some(e) = err {
        return Err(e);
    }
    let mut left_names = Vec::new();
    left.for_each_source(&mut |s| left_names.push(s.qualifier().to_owned()));
    match found.len() {
        1 => Ok(found.remove(0)),
        0 => Err(SqlError::new(
            SqlErrorKind::NoJoinCondition,
            format!(
                "can't find any foreign key relationships between {left_names:?} and {:?}; \
                 pass the ON clause explicitly",
                r.qualifier()
            ),
        )),
        n => Err(SqlError::new(
            SqlErrorKind::AmbiguousJoin,
            format!(
                "{n} foreign keys link {left_names:?} and {:?}, so the join condition is \
                 ambiguous; pass the ON clause explicitly",
                r.qualifier()
            ),
        )),
    }
}

/// One FROM element of a statement: explicit (`select_from`/joins) or inferred from a column.
#[derive(Clone, Copy)]
pub(crate) enum FromRef<'a> {
    Clause(&'a FromClause),
    Source(&'a Source),
}

impl FromRef<'_> {
    pub(crate) fn covers(&self, qualifier: &str) -> bool {
        match self {
            FromRef::Clause(c) => c.covers(qualifier),
            FromRef::Source(s) => s.qualifier() == qualifier,
        }
    }

    pub(crate) fn walk<S: Sink>(&self, s: &mut S, cx: Cx<'_>) {
        match self {
            FromRef::Clause(c) => c.walk(s, cx),
            FromRef::Source(src) => src.walk(s),
        }
    }

    pub(crate) fn for_each_source<'b>(&'b self, f: &mut impl FnMut(&'b Source)) {
        match self {
            FromRef::Clause(c) => c.for_each_source(f),
            FromRef::Source(s) => f(s),
        }
    }
}

/// The FROM elements visible at a point of a statement, for correlated subqueries.
pub(crate) struct Scope<'a> {
    pub(crate) froms: &'a [FromRef<'a>],
    pub(crate) parent: Option<&'a Scope<'a>>,
    /// Names of the CTEs a `WITH` at this level defines (not to be defined again below).
    pub(crate) ctes: &'a [&'a str],
    /// A CTE body: correlation does not reach past it.
    pub(crate) barrier: bool,
}

impl<'a> Scope<'a> {
    pub(crate) fn new(froms: &'a [FromRef<'a>], parent: Option<&'a Scope<'a>>) -> Self {
        Scope {
            froms,
            parent,
            ctes: &[],
            barrier: false,
        }
    }

    pub(crate) fn covers(&self, qualifier: &str) -> bool {
        self.froms.iter().any(|f| f.covers(qualifier))
            || (!self.barrier && self.parent.is_some_and(|p| p.covers(qualifier)))
    }

    pub(crate) fn cte_defined(&self, name: &str) -> bool {
        self.ctes.contains(&name) || self.parent.is_some_and(|p| p.cte_defined(name))
    }
}
