//! [`Expr`]: the SQL expression tree (SQLAlchemy's `ColumnElement` and its operators), column
//! references ([`ColumnRef`]) and `ORDER BY` items ([`OrderBy`]).

mod case;
pub(crate) mod walk;

use std::borrow::Cow;
use std::ops;
use std::sync::Arc;

use crate::query::Query;
use crate::selectable::Source;
use crate::sql_type::SqlType;
use crate::value::Value;

pub use case::{Case, CaseBuilder, case};
pub(crate) use walk::{Cx, anon_prefix, walk_expr, walk_list};

/// A SQL expression (SQLAlchemy's `ColumnElement`): column references, bound values, operators,
/// function calls, `CASE`, `CAST`, subqueries. Anything `Into<Value>` converts into a bound
/// parameter, so `users.c("id")?.eq(5)` binds `5`; values never end up in the SQL text.
#[derive(Debug, Clone)]
pub struct Expr(pub(crate) ExprKind);

#[derive(Debug, Clone)]
pub(crate) enum ExprKind {
    Column(ColumnRef),
    Excluded(Arc<str>),
    Param(Value),
    Null,
    Const(bool),
    Binary(Box<(Expr, Expr)>, BinOp),
    Not(Box<Expr>),
    Neg(Box<Expr>),
    IsNull(Box<Expr>, bool),
    Bool(BoolOp, Vec<Expr>),
    In(Box<Expr>, Vec<Expr>, bool),
    InSelect(Box<Expr>, Box<Query>, bool),
    Between(Box<(Expr, Expr, Expr)>, bool),
    Like(Box<(Expr, Expr)>, bool, bool),
    Func(Box<Func>),
    Distinct(Box<Expr>),
    Case(Box<Case>),
    Cast(Box<Expr>, SqlType),
    Label(Box<Expr>, Arc<str>),
    Scalar(Box<Query>),
    Exists(Box<Query>, bool),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BinOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Concat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BoolOp {
    And,
    Or,
}

/// A SQL function call (SQLAlchemy's `func.<name>(...)`); see [`crate::func`].
#[derive(Debug, Clone)]
pub(crate) struct Func {
    pub(crate) name: Cow<'static, str>,
    pub(crate) args: Vec<Expr>,
    pub(crate) star: bool,
}

impl<T: Into<Value>> From<T> for Expr {
    fn from(v: T) -> Expr {
        Expr(ExprKind::Param(v.into()))
    }
}

impl From<ColumnRef> for Expr {
    fn from(c: ColumnRef) -> Expr {
        Expr(ExprKind::Column(c))
    }
}

impl From<&ColumnRef> for Expr {
    fn from(c: &ColumnRef) -> Expr {
        Expr(ExprKind::Column(c.clone()))
    }
}

impl From<&Expr> for Expr {
    fn from(e: &Expr) -> Expr {
        e.clone()
    }
}

impl From<Case> for Expr {
    fn from(c: Case) -> Expr {
        Expr(ExprKind::Case(Box::new(c)))
    }
}

/// A bound literal (SQLAlchemy's `literal()`): `lit(5)` is the parameter `?` bound to 5.
pub fn lit(value: impl Into<Value>) -> Expr {
    Expr(ExprKind::Param(value.into()))
}

/// The `NULL` keyword (SQLAlchemy's `null()`).
pub fn null() -> Expr {
    Expr(ExprKind::Null)
}

/// A constant true condition, rendered `1 = 1` (SQLAlchemy's `true()`).
pub fn true_() -> Expr {
    Expr(ExprKind::Const(true))
}

/// A constant false condition, rendered `1 != 1` (SQLAlchemy's `false()`).
pub fn false_() -> Expr {
    Expr(ExprKind::Const(false))
}

/// `a AND b AND ...` (SQLAlchemy's `and_`); nested `AND`s are flattened, no operand gives `1 = 1`.
pub fn and_<E: Into<Expr>>(exprs: impl IntoIterator<Item = E>) -> Expr {
    bool_op(BoolOp::And, exprs)
}

/// `a OR b OR ...` (SQLAlchemy's `or_`); nested `OR`s are flattened, no operand gives `1 != 1`.
pub fn or_<E: Into<Expr>>(exprs: impl IntoIterator<Item = E>) -> Expr {
    bool_op(BoolOp::Or, exprs)
}

fn bool_op<E: Into<Expr>>(op: BoolOp, exprs: impl IntoIterator<Item = E>) -> Expr {
    let mut out = Vec::new();
    for e in exprs {
        match e.into().0 {
            ExprKind::Bool(o, inner) if o == op => out.extend(inner),
            other => out.push(Expr(other)),
        }
    }
    match out.len() {
        0 => Expr(ExprKind::Const(op == BoolOp::And)),
        1 => out
            .pop()
            .map_or(Expr(ExprKind::Const(op == BoolOp::And)), |e| e),
        _ => Expr(ExprKind::Bool(op, out)),
    }
}

/// `NOT expr` (SQLAlchemy's `not_`): comparisons are inverted (`=` ↔ `!=`, `IN` ↔ `NOT IN`,
/// `IS NULL` ↔ `IS NOT NULL`, ...), anything else gets `NOT (...)`.
pub fn not_(expr: impl Into<Expr>) -> Expr {
    use ExprKind as K;
    let e = expr.into();
    Expr(match e.0 {
        K::Binary(b, op) => match op.negated() {
            Some(n) => K::Binary(b, n),
            None => K::Not(Box::new(Expr(K::Binary(b, op)))),
        },
        K::Not(inner) => inner.0,
        K::IsNull(x, n) => K::IsNull(x, !n),
        K::In(x, l, n) => K::In(x, l, !n),
        K::InSelect(x, q, n) => K::InSelect(x, q, !n),
        K::Between(b, n) => K::Between(b, !n),
        K::Like(b, ci, n) => K::Like(b, ci, !n),
        K::Exists(q, n) => K::Exists(q, !n),
        K::Const(v) => K::Const(!v),
        other => K::Not(Box::new(Expr(other))),
    })
}

/// `EXISTS (subquery)` (SQLAlchemy's `exists()`).
pub fn exists(select: impl Into<Query>) -> Expr {
    Expr(ExprKind::Exists(Box::new(select.into()), false))
}

/// `DISTINCT expr`, e.g. inside `count(DISTINCT x)` (SQLAlchemy's `distinct()`).
pub fn distinct(expr: impl Into<Expr>) -> Expr {
    Expr(ExprKind::Distinct(Box::new(expr.into())))
}

/// `CAST(expr AS type)` (SQLAlchemy's `cast()`).
pub fn cast(expr: impl Into<Expr>, ty: SqlType) -> Expr {
    Expr(ExprKind::Cast(Box::new(expr.into()), ty))
}

/// `expr ASC` for `order_by`.
pub fn asc(expr: impl Into<Expr>) -> OrderBy {
    OrderBy::new(expr.into(), false)
}

/// `expr DESC` for `order_by`.
pub fn desc(expr: impl Into<Expr>) -> OrderBy {
    OrderBy::new(expr.into(), true)
}

impl BinOp {
    fn negated(self) -> Option<BinOp> {
        Some(match self {
            BinOp::Eq => BinOp::Ne,
            BinOp::Ne => BinOp::Eq,
            BinOp::Lt => BinOp::Ge,
            BinOp::Le => BinOp::Gt,
            BinOp::Gt => BinOp::Le,
            BinOp::Ge => BinOp::Lt,
            _ => return None,
        })
    }
}

impl Expr {
    fn binary(self, op: BinOp, other: impl Into<Expr>) -> Expr {
        Expr(ExprKind::Binary(Box::new((self, other.into())), op))
    }

    fn is_null_literal(&self) -> bool {
        matches!(self.0, ExprKind::Null | ExprKind::Param(Value::Null))
    }

    /// `self = other`; comparing with `NULL` gives `self IS NULL` (as SQLAlchemy's `== None`).
    pub fn eq(self, other: impl Into<Expr>) -> Expr {
        let other = other.into();
        if other.is_null_literal() {
            return self.is_null();
        }
        self.binary(BinOp::Eq, other)
    }

    /// `self != other`; comparing with `NULL` gives `self IS NOT NULL`.
    pub fn ne(self, other: impl Into<Expr>) -> Expr {
        let other = other.into();
        if other.is_null_literal() {
            return self.is_not_null();
        }
        self.binary(BinOp::Ne, other)
    }

    /// `self < other`.
    pub fn lt(self, other: impl Into<Expr>) -> Expr {
        self.binary(BinOp::Lt, other)
    }

    /// `self <= other`.
    pub fn le(self, other: impl Into<Expr>) -> Expr {
        self.binary(BinOp::Le, other)
    }

    /// `self > other`.
    pub fn gt(self, other: impl Into<Expr>) -> Expr {
        self.binary(BinOp::Gt, other)
    }

    /// `self >= other`.
    pub fn ge(self, other: impl Into<Expr>) -> Expr {
        self.binary(BinOp::Ge, other)
    }

    /// `self || other` (string concatenation).
    pub fn concat(self, other: impl Into<Expr>) -> Expr {
        self.binary(BinOp::Concat, other)
    }

    /// `self AND other`.
    pub fn and(self, other: impl Into<Expr>) -> Expr {
        and_([self, other.into()])
    }

    /// `self OR other`.
    pub fn or(self, other: impl Into<Expr>) -> Expr {
        or_([self, other.into()])
    }

    /// `NOT self` (see [`not_`]).
    pub fn not_(self) -> Expr {
        not_(self)
    }

    /// `self IN (a, b, ...)`, one parameter per item; an empty list renders the false condition
    /// `1 != 1` (as SQLAlchemy's empty IN).
    pub fn in_<E: Into<Expr>>(self, items: impl IntoIterator<Item = E>) -> Expr {
        let list: Vec<Expr> = items.into_iter().map(Into::into).collect();
        if list.is_empty() {
            return false_();
        }
        Expr(ExprKind::In(Box::new(self), list, false))
    }

    /// `self NOT IN (a, b, ...)`; an empty list renders the true condition `1 = 1`.
    pub fn not_in<E: Into<Expr>>(self, items: impl IntoIterator<Item = E>) -> Expr {
        not_(self.in_(items))
    }

    /// `self IN (SELECT ...)`.
    pub fn in_select(self, select: impl Into<Query>) -> Expr {
        Expr(ExprKind::InSelect(
            Box::new(self),
            Box::new(select.into()),
            false,
        ))
    }

    /// `self BETWEEN low AND high`.
    pub fn between(self, low: impl Into<Expr>, high: impl Into<Expr>) -> Expr {
        Expr(ExprKind::Between(
            Box::new((self, low.into(), high.into())),
            false,
        ))
    }

    /// `self LIKE pattern`. On SQLite `LIKE` ignores ASCII case; on PostgreSQL it does not.
    pub fn like(self, pattern: impl Into<Expr>) -> Expr {
        Expr(ExprKind::Like(
            Box::new((self, pattern.into())),
            false,
            false,
        ))
    }

    /// `self NOT LIKE pattern`.
    pub fn not_like(self, pattern: impl Into<Expr>) -> Expr {
        not_(self.like(pattern))
    }

    /// Case-insensitive `LIKE`: `self ILIKE pattern` on PostgreSQL, `lower(self) LIKE
    /// lower(pattern)` on SQLite (as SQLAlchemy renders it there).
    pub fn ilike(self, pattern: impl Into<Expr>) -> Expr {
        Expr(ExprKind::Like(
            Box::new((self, pattern.into())),
            true,
            false,
        ))
    }

    /// Negated [`Expr::ilike`].
    pub fn not_ilike(self, pattern: impl Into<Expr>) -> Expr {
        not_(self.ilike(pattern))
    }

    /// `self IS NULL`.
    pub fn is_null(self) -> Expr {
        Expr(ExprKind::IsNull(Box::new(self), false))
    }

    /// `self IS NOT NULL`.
    pub fn is_not_null(self) -> Expr {
        Expr(ExprKind::IsNull(Box::new(self), true))
    }

    /// `self AS name` in a select list (SQLAlchemy's `label`); `order_by`/`group_by` on the
    /// labelled expression render just the name.
    pub fn label(self, name: impl Into<Arc<str>>) -> Expr {
        Expr(ExprKind::Label(Box::new(self), name.into()))
    }

    /// `CAST(self AS ty)`.
    pub fn cast(self, ty: SqlType) -> Expr {
        cast(self, ty)
    }

    /// `DISTINCT self`.
    pub fn distinct(self) -> Expr {
        distinct(self)
    }

    /// `self ASC` for `order_by`.
    pub fn asc(self) -> OrderBy {
        asc(self)
    }

    /// `self DESC` for `order_by`.
    pub fn desc(self) -> OrderBy {
        desc(self)
    }
}

macro_rules! arith {
    ($($tr:ident $method:ident $op:ident),*) => {$(
        impl<T: Into<Expr>> ops::$tr<T> for Expr {
            type Output = Expr;
            fn $method(self, rhs: T) -> Expr {
                self.binary(BinOp::$op, rhs)
            }
        }
        impl<T: Into<Expr>> ops::$tr<T> for ColumnRef {
            type Output = Expr;
            fn $method(self, rhs: T) -> Expr {
                Expr::from(self).binary(BinOp::$op, rhs)
            }
        }
    )*};
}
arith!(Add add Add, Sub sub Sub, Mul mul Mul, Div div Div, Rem rem Mod);

impl ops::Neg for Expr {
    type Output = Expr;
    fn neg(self) -> Expr {
        Expr(ExprKind::Neg(Box::new(self)))
    }
}

impl ops::Neg for ColumnRef {
    type Output = Expr;
    fn neg(self) -> Expr {
        -Expr::from(self)
    }
}

/// A column of a table, alias, subquery or CTE, as an expression (SQLAlchemy's `table.c.name`).
/// Obtained from `c(name)` on [`Table`](crate::Table), [`Alias`](crate::Alias) and
/// [`Subquery`](crate::Subquery); all [`Expr`] operators are available on it.
#[derive(Debug, Clone)]
pub struct ColumnRef {
    pub(crate) src: Source,
    pub(crate) idx: u32,
}

impl ColumnRef {
    pub(crate) fn new(src: Source, idx: usize) -> Self {
        ColumnRef {
            src,
            idx: u32::try_from(idx).unwrap_or(u32::MAX),
        }
    }

    /// The column name.
    pub fn name(&self) -> &str {
        self.src.column_name(self.idx as usize)
    }

    /// The name that qualifies the column in SQL (table, alias, subquery or CTE name).
    pub fn qualifier(&self) -> &str {
        self.src.qualifier()
    }

    /// The declared type, for columns of tables and table aliases.
    pub fn sql_type(&self) -> Option<SqlType> {
        self.src
            .table()
            .and_then(|t| t.columns().get(self.idx as usize))
            .map(|c| c.ty)
    }

    /// `excluded.<name>`: the row proposed for insertion, inside
    /// [`Insert::on_conflict_do_update`](crate::Insert::on_conflict_do_update).
    pub fn excluded(&self) -> Expr {
        Expr(ExprKind::Excluded(
            self.src.column_name_arc(self.idx as usize),
        ))
    }

    /// This column as a plain [`Expr`].
    pub fn expr(&self) -> Expr {
        Expr::from(self)
    }
}

macro_rules! forward {
    ($($name:ident($($arg:ident: $ty:ty),*) -> $out:ty;)*) => {
        impl ColumnRef {$(
            #[doc = concat!("Same as [`Expr::", stringify!($name), "`].")]
            pub fn $name(self, $($arg: $ty),*) -> $out {
                Expr::from(self).$name($($arg),*)
            }
        )*}
    };
}

forward! {
    eq(other: impl Into<Expr>) -> Expr;
    ne(other: impl Into<Expr>) -> Expr;
    lt(other: impl Into<Expr>) -> Expr;
    le(other: impl Into<Expr>) -> Expr;
    gt(other: impl Into<Expr>) -> Expr;
    ge(other: impl Into<Expr>) -> Expr;
    concat(other: impl Into<Expr>) -> Expr;
    and(other: impl Into<Expr>) -> Expr;
    or(other: impl Into<Expr>) -> Expr;
    not_() -> Expr;
    in_select(select: impl Into<Query>) -> Expr;
    between(low: impl Into<Expr>, high: impl Into<Expr>) -> Expr;
    like(pattern: impl Into<Expr>) -> Expr;
    not_like(pattern: impl Into<Expr>) -> Expr;
    ilike(pattern: impl Into<Expr>) -> Expr;
    not_ilike(pattern: impl Into<Expr>) -> Expr;
    is_null() -> Expr;
    is_not_null() -> Expr;
    label(name: impl Into<Arc<str>>) -> Expr;
    cast(ty: SqlType) -> Expr;
    distinct() -> Expr;
    asc() -> OrderBy;
    desc() -> OrderBy;
}

impl ColumnRef {
    /// Same as [`Expr::in_`].
    pub fn in_<E: Into<Expr>>(self, items: impl IntoIterator<Item = E>) -> Expr {
        Expr::from(self).in_(items)
    }

    /// Same as [`Expr::not_in`].
    pub fn not_in<E: Into<Expr>>(self, items: impl IntoIterator<Item = E>) -> Expr {
        Expr::from(self).not_in(items)
    }
}

/// Where `NULL`s sort in an [`OrderBy`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nulls {
    /// `NULLS FIRST`.
    First,
    /// `NULLS LAST`.
    Last,
}

/// One `ORDER BY` item (SQLAlchemy's `UnaryExpression` from `asc()`/`desc()`).
/// `NULLS FIRST/LAST` renders on both dialects (SQLite ≥ 3.30).
#[derive(Debug, Clone)]
pub struct OrderBy {
    pub(crate) expr: Expr,
    pub(crate) desc: Option<bool>,
    pub(crate) nulls: Option<Nulls>,
}

impl OrderBy {
    fn new(expr: Expr, desc: bool) -> Self {
        OrderBy {
            expr,
            desc: Some(desc),
            nulls: None,
        }
    }

    /// Adds `NULLS FIRST`.
    pub fn nulls_first(mut self) -> Self {
        self.nulls = Some(Nulls::First);
        self
    }

    /// Adds `NULLS LAST`.
    pub fn nulls_last(mut self) -> Self {
        self.nulls = Some(Nulls::Last);
        self
    }
}

impl From<Expr> for OrderBy {
    fn from(e: Expr) -> OrderBy {
        OrderBy {
            expr: e,
            desc: None,
            nulls: None,
        }
    }
}

impl From<ColumnRef> for OrderBy {
    fn from(c: ColumnRef) -> OrderBy {
        OrderBy::from(Expr::from(c))
    }
}

impl From<&ColumnRef> for OrderBy {
    fn from(c: &ColumnRef) -> OrderBy {
        OrderBy::from(Expr::from(c))
    }
}
