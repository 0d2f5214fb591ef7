//! [`Case`]: `CASE WHEN ... THEN ... ELSE ... END` (SQLAlchemy's `case()`).

use crate::expression::Expr;

/// A `CASE` expression before its first `WHEN` (see [`case`]).
#[derive(Debug, Clone, Default)]
pub struct CaseBuilder(());

/// A `CASE WHEN cond THEN value ... [ELSE value] END` expression (SQLAlchemy's `Case`).
#[derive(Debug, Clone)]
pub struct Case {
    pub(crate) whens: Vec<(Expr, Expr)>,
    pub(crate) else_: Option<Expr>,
}

/// Starts a `CASE` expression: `case().when(cond, value).else_(other)`.
pub fn case() -> CaseBuilder {
    CaseBuilder(())
}

impl CaseBuilder {
    /// The first `WHEN cond THEN value`.
    pub fn when(self, cond: impl Into<Expr>, value: impl Into<Expr>) -> Case {
        Case {
            whens: vec![(cond.into(), value.into())],
            else_: None,
        }
    }
}

impl Case {
    /// Another `WHEN cond THEN value`.
    pub fn when(mut self, cond: impl Into<Expr>, value: impl Into<Expr>) -> Case {
        self.whens.push((cond.into(), value.into()));
        self
    }

    /// `ELSE value`, finishing the expression.
    pub fn else_(mut self, value: impl Into<Expr>) -> Expr {
        self.else_ = Some(value.into());
        Expr::from(self)
    }
}
