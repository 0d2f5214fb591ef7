//! Walking an [`Expr`] into a [`Sink`]: precedence-aware parentheses, dialect spellings.

use crate::compiled::Dialect;
use crate::expression::Nulls;
use crate::expression::{BinOp, BoolOp, ColumnRef, Expr, ExprKind, OrderBy};
use crate::selectable::Scope;
use crate::sink::{Kw, Sink};
use crate::value::Value;

/// How to render expressions at this point of a statement.
#[derive(Clone, Copy)]
pub(crate) struct Cx<'a> {
    /// Write columns as `qualifier.name` (off in `INSERT`/`UPDATE` targets and `RETURNING`).
    pub(crate) qualify: bool,
    /// The FROM clauses of the enclosing statements, for correlated subqueries.
    pub(crate) scope: Option<&'a Scope<'a>>,
}

const ATOM: u8 = 9;
const CMP: u8 = 4;

fn prec(e: &Expr) -> u8 {
    use ExprKind as K;
    match &e.0 {
        K::Bool(BoolOp::Or, _) => 1,
        K::Bool(BoolOp::And, _) => 2,
        K::Not(_) => 3,
        K::Binary(_, op) => match op {
            BinOp::Concat => 5,
            BinOp::Add | BinOp::Sub => 6,
            BinOp::Mul | BinOp::Div | BinOp::Mod => 7,
            _ => CMP,
        },
        K::IsNull(..)
        | K::In(..)
        | K::InSelect(..)
        | K::Between(..)
        | K::Like(..)
        | K::Const(_) => CMP,
        K::Neg(_) => 8,
        K::Label(inner, _) => prec(inner),
        _ => ATOM,
    }
}

/// Walks `e`, parenthesized when its precedence is below `min` (or equal, if `strict`).
fn child<S: Sink>(e: &Expr, s: &mut S, cx: Cx<'_>, min: u8, strict: bool) {
    let p = prec(e);
    if p < min || (strict && p == min) {
        s.kw(Kw::Open);
        walk_expr(e, s, cx);
        s.kw(Kw::Close);
    } else {
        walk_expr(e, s, cx);
    }
}

pub(crate) fn walk_column<S: Sink>(c: &ColumnRef, s: &mut S, qualify: bool) {
    if qualify {
        s.ident(c.src.qualifier());
        s.kw(Kw::Dot);
    }
    s.ident(c.name());
}

/// `a, b, c`: expressions separated by commas (IN lists, function arguments, VALUES rows).
pub(crate) fn walk_list<'e, S: Sink>(
    items: impl IntoIterator<Item = &'e Expr>,
    s: &mut S,
    cx: Cx<'_>,
) {
    for (i, e) in items.into_iter().enumerate() {
        if i > 0 {
            s.kw(Kw::Comma);
        }
        walk_expr(e, s, cx);
    }
}

/// Walks one expression.
pub(crate) fn walk_expr<S: Sink>(e: &Expr, s: &mut S, cx: Cx<'_>) {
    use ExprKind as K;
    match &e.0 {
        K::Column(c) => walk_column(c, s, cx.qualify),
        K::Excluded(name) => {
            s.kw(Kw::Excluded);
            s.ident(name);
        }
        K::Param(v) => s.param(v),
        K::Null => s.kw(Kw::Null),
        K::Const(true) => s.kw(Kw::True),
        K::Const(false) => s.kw(Kw::False),
        K::Binary(b, op) => {
            let p = prec(e);
            if *op == BinOp::Concat {
                child(&b.0, s, cx, ATOM, false);
                s.kw(Kw::Concat);
                child(&b.1, s, cx, ATOM, false);
                return;
            }
            child(&b.0, s, cx, p, p == CMP);
            s.kw(match op {
                BinOp::Eq => Kw::Eq,
                BinOp::Ne => Kw::Ne,
                BinOp::Lt => Kw::Lt,
                BinOp::Le => Kw::Le,
                BinOp::Gt => Kw::Gt,
                BinOp::Ge => Kw::Ge,
                BinOp::Add => Kw::Add,
                BinOp::Sub => Kw::Sub,
                BinOp::Mul => Kw::Mul,
                BinOp::Div => Kw::Div,
                BinOp::Mod => Kw::Mod,
                BinOp::Concat => Kw::Concat,
            });
            child(&b.1, s, cx, p, true);
        }
        K::Not(x) => {
            s.kw(Kw::Not);
            child(x, s, cx, ATOM, false);
        }
        K::Neg(x) => {
            s.kw(Kw::Neg);
            child(x, s, cx, 8, false);
        }
        K::IsNull(x, negated) => {
            child(x, s, cx, CMP, true);
            s.kw(if *negated { Kw::IsNotNull } else { Kw::IsNull });
        }
        K::Bool(op, items) => {
            let p = prec(e);
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    s.kw(if *op == BoolOp::And { Kw::And } else { Kw::Or });
                }
                child(item, s, cx, p, true);
            }
        }
        K::In(x, list, negated) => {
            if let Some(values) = as_array(x, list, s.dialect()) {
                // PostgreSQL: one array parameter whatever the list's length, so every length
                // is the same statement (one prepared statement, not one per length) and a long
                // list is one value to bind, not one parameter per item.
                child(x, s, cx, CMP, true);
                s.kw(if *negated { Kw::NeAll } else { Kw::EqAny });
                s.param_owned(values);
                s.kw(Kw::Close);
                return;
            }
            child(x, s, cx, CMP, true);
            s.kw(if *negated { Kw::NotIn } else { Kw::In });
            s.kw(Kw::Open);
            walk_list(list, s, cx);
            s.kw(Kw::Close);
        }
        K::InSelect(x, q, negated) => {
            child(x, s, cx, CMP, true);
            s.kw(if *negated { Kw::NotIn } else { Kw::In });
            s.kw(Kw::Open);
            q.walk(s, cx.scope);
            s.kw(Kw::Close);
        }
        K::Between(b, negated) => {
            child(&b.0, s, cx, CMP, true);
            s.kw(if *negated {
                Kw::NotBetween
            } else {
                Kw::Between
            });
            child(&b.1, s, cx, CMP, true);
            s.kw(Kw::And);
            child(&b.2, s, cx, CMP, true);
        }
        K::Like(b, ci, negated) => {
            if *ci && s.dialect() == Dialect::Sqlite {
                s.kw(Kw::Lower);
                walk_expr(&b.0, s, cx);
                s.kw(Kw::Close);
                s.kw(if *negated { Kw::NotLike } else { Kw::Like });
                s.kw(Kw::Lower);
                walk_expr(&b.1, s, cx);
                s.kw(Kw::Close);
                return;
            }
            child(&b.0, s, cx, CMP, true);
            s.kw(match (ci, negated) {
                (false, false) => Kw::Like,
                (false, true) => Kw::NotLike,
                (true, false) => Kw::ILike,
                (true, true) => Kw::NotILike,
            });
            child(&b.1, s, cx, CMP, true);
        }
        K::Func(f) => {
            if f.name == "now" && f.args.is_empty() && s.dialect() == Dialect::Sqlite {
                s.kw(Kw::CurrentTimestamp);
                return;
            }
            s.name(&f.name);
            s.kw(Kw::Open);
            if f.star {
                s.kw(Kw::Star);
            }
            walk_list(&f.args, s, cx);
            s.kw(Kw::Close);
        }
        K::Distinct(x) => {
            s.kw(Kw::Distinct);
            child(x, s, cx, ATOM, false);
        }
        K::Case(c) => {
            s.kw(Kw::Case);
            for (cond, val) in &c.whens {
                s.kw(Kw::When);
                walk_expr(cond, s, cx);
                s.kw(Kw::Then);
                walk_expr(val, s, cx);
            }
            if let Some(e) = &c.else_ {
                s.kw(Kw::Else);
                walk_expr(e, s, cx);
            }
            s.kw(Kw::End);
        }
        K::Cast(x, ty) => {
            s.kw(Kw::Cast);
            walk_expr(x, s, cx);
            s.kw(Kw::As);
            ty.walk(s);
            s.kw(Kw::Close);
        }
        K::Label(x, _) => walk_expr(x, s, cx),
        K::Scalar(q) => {
            s.kw(Kw::Open);
            q.walk(s, cx.scope);
            s.kw(Kw::Close);
        }
        K::Exists(q, negated) => {
            if *negated {
                s.kw(Kw::Not);
            }
            s.kw(Kw::Exists);
            s.kw(Kw::Open);
            q.walk(s, cx.scope);
            s.kw(Kw::Close);
        }
    }
}

/// Walks an `ORDER BY` / `GROUP BY` item: a labelled expression renders as its label.
pub(crate) fn walk_by_item<S: Sink>(e: &Expr, s: &mut S, cx: Cx<'_>) {
    match &e.0 {
        ExprKind::Label(_, name) => s.ident(name),
        _ => walk_expr(e, s, cx),
    }
}

pub(crate) fn walk_order_by<S: Sink>(items: &[OrderBy], s: &mut S, cx: Cx<'_>) {
    if items.is_empty() {
        return;
    }
    s.kw(Kw::OrderBy);
    for (i, o) in items.iter().enumerate() {
        if i > 0 {
            s.kw(Kw::Comma);
        }
        walk_by_item(&o.expr, s, cx);
        match o.desc {
            Some(true) => s.kw(Kw::Desc),
            Some(false) => s.kw(Kw::Asc),
            None => {}
        }
        match o.nulls {
            Some(Nulls::First) => s.kw(Kw::NullsFirst),
            Some(Nulls::Last) => s.kw(Kw::NullsLast),
            None => {}
        }
    }
}

/// The prefix of the anonymous label of an unlabelled select-list expression (`count` for
/// `count(*)` → `count_1`, `anon` otherwise); `None` for columns and labelled expressions.
pub(crate) fn anon_prefix(e: &Expr) -> Option<&str> {
    match &e.0 {
        ExprKind::Column(_) | ExprKind::Label(..) => None,
        ExprKind::Func(f)
            if f.name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
                && f.name.starts_with(|c: char| c.is_ascii_lowercase()) =>
        {
            Some(&f.name)
        }
        _ => Some("anon"),
    }
}

/// Visits the [`ColumnRef`]s of `e` that belong to this statement level (not inside subqueries).
pub(crate) fn for_each_column<'a>(e: &'a Expr, f: &mut impl FnMut(&'a ColumnRef)) {
    use ExprKind as K;
    match &e.0 {
        K::Column(c) => f(c),
        K::Excluded(_) | K::Param(_) | K::Null | K::Const(_) | K::Scalar(_) | K::Exists(..) => {}
        K::Binary(b, _) => {
            for_each_column(&b.0, f);
            for_each_column(&b.1, f);
        }
        K::Not(x)
        | K::Neg(x)
        | K::IsNull(x, _)
        | K::Distinct(x)
        | K::Cast(x, _)
        | K::Label(x, _) => for_each_column(x, f),
        K::InSelect(x, _, _) => for_each_column(x, f),
        K::Bool(_, items) => items.iter().for_each(|i| for_each_column(i, f)),
        K::In(x, list, _) => {
            for_each_column(x, f);
            list.iter().for_each(|i| for_each_column(i, f));
        }
        K::Between(b, _) => {
            for_each_column(&b.0, f);
            for_each_column(&b.1, f);
            for_each_column(&b.2, f);
        }
        K::Like(b, _, _) => {
            for_each_column(&b.0, f);
            for_each_column(&b.1, f);
        }
        K::Func(func) => func.args.iter().for_each(|a| for_each_column(a, f)),
        K::Case(c) => {
            for (a, b) in &c.whens {
                for_each_column(a, f);
                for_each_column(b, f);
            }
            if let Some(e) = &c.else_ {
                for_each_column(e, f);
            }
        }
    }
}

/// The items of `x IN (items)` as one array value, when the list can be sent as
/// `x = ANY($1)`: on PostgreSQL, `x` a column (so the server infers the array's type from it)
/// and every item a bound, non-NULL value of one kind. `x = ANY(array)` and `x IN (list)` are
/// the same condition (`<> ALL` for `NOT IN`), NULLs included.
fn as_array(x: &Expr, list: &[Expr], dialect: Dialect) -> Option<Value> {
    if dialect != Dialect::Postgresql || !matches!(x.0, ExprKind::Column(_)) {
        return None;
    }
    let mut values = Vec::with_capacity(list.len());
    for item in list {
        match &item.0 {
            ExprKind::Param(v)
                if !v.is_null()
                    && !matches!(v, Value::Array(_))
                    && values.first().is_none_or(|f: &Value| {
                        std::mem::discriminant(f) == std::mem::discriminant(v)
                    }) =>
            {
                values.push(v.clone());
            }
            _ => return None,
        }
    }
    Some(Value::Array(values))
}
