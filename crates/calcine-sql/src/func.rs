//! SQL functions (SQLAlchemy's `func` namespace): `func::count(x)`, `func::call("name", args)`.
//!
//! In a select list an unlabelled call is labelled `<name>_<n>` (`SELECT count(*) AS count_1`),
//! as SQLAlchemy does, so result column names are stable across dialects.

use std::borrow::Cow;

use crate::expression::{Expr, ExprKind, Func};

fn make(name: impl Into<Cow<'static, str>>, args: Vec<Expr>, star: bool) -> Expr {
    Expr(ExprKind::Func(Box::new(Func {
        name: name.into(),
        args,
        star,
    })))
}

/// Any function: `name(args...)`; the name is written as is when it is a plain identifier
/// (`[A-Za-z_][A-Za-z0-9_.]*`), quoted otherwise.
pub fn call<E: Into<Expr>>(
    name: impl Into<Cow<'static, str>>,
    args: impl IntoIterator<Item = E>,
) -> Expr {
    make(name, args.into_iter().map(Into::into).collect(), false)
}

/// `count(expr)`.
pub fn count(expr: impl Into<Expr>) -> Expr {
    make("count", vec![expr.into()], false)
}

/// `count(*)`.
pub fn count_star() -> Expr {
    make("count", Vec::new(), true)
}

/// `sum(expr)`.
pub fn sum(expr: impl Into<Expr>) -> Expr {
    make("sum", vec![expr.into()], false)
}

/// `avg(expr)`.
pub fn avg(expr: impl Into<Expr>) -> Expr {
    make("avg", vec![expr.into()], false)
}

/// `min(expr)`.
pub fn min(expr: impl Into<Expr>) -> Expr {
    make("min", vec![expr.into()], false)
}

/// `max(expr)`.
pub fn max(expr: impl Into<Expr>) -> Expr {
    make("max", vec![expr.into()], false)
}

/// `coalesce(a, b, ...)`.
pub fn coalesce<E: Into<Expr>>(args: impl IntoIterator<Item = E>) -> Expr {
    call("coalesce", args)
}

/// `lower(expr)`.
pub fn lower(expr: impl Into<Expr>) -> Expr {
    make("lower", vec![expr.into()], false)
}

/// `upper(expr)`.
pub fn upper(expr: impl Into<Expr>) -> Expr {
    make("upper", vec![expr.into()], false)
}

/// `length(expr)` (characters for text).
pub fn length(expr: impl Into<Expr>) -> Expr {
    make("length", vec![expr.into()], false)
}

/// The current timestamp: `now()` on PostgreSQL, `CURRENT_TIMESTAMP` on SQLite.
pub fn now() -> Expr {
    make("now", Vec::new(), false)
}
