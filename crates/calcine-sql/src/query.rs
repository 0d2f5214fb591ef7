//! [`Query`]: a `SELECT` or a compound `SELECT` (SQLAlchemy's `SelectBase`), wherever a
//! subquery is accepted.

use std::sync::Arc;

use crate::compiled::{Compiled, Dialect, Executable, StatementCache};
use crate::compound::{CompoundOp, CompoundSelect};
use crate::select::Select;
use crate::selectable::Scope;
use crate::sink::{Sink, Walk, compile_walk};

/// A `SELECT` or compound `SELECT` (SQLAlchemy's `SelectBase`); built from either by `into()`.
#[derive(Debug, Clone)]
pub enum Query {
    /// A plain `SELECT`.
    Select(Select),
    /// `UNION` / `INTERSECT` / `EXCEPT` of selects.
    Compound(CompoundSelect),
}

impl From<Select> for Query {
    fn from(s: Select) -> Query {
        Query::Select(s)
    }
}

impl From<&Select> for Query {
    fn from(s: &Select) -> Query {
        Query::Select(s.clone())
    }
}

impl From<CompoundSelect> for Query {
    fn from(c: CompoundSelect) -> Query {
        Query::Compound(c)
    }
}

impl Query {
    /// The result column names, in order.
    pub fn column_names(&self) -> Vec<Arc<str>> {
        match self {
            Query::Select(s) => s.result_columns(),
            Query::Compound(c) => c.result_columns(),
        }
    }

    pub(crate) fn walk<S: Sink>(&self, s: &mut S, scope: Option<&Scope<'_>>) {
        match self {
            Query::Select(sel) => sel.walk_in(s, scope),
            Query::Compound(c) => c.walk_in(s, scope),
        }
    }

    /// Whether this needs wrapping when it is a member of a compound select.
    pub(crate) fn is_simple_member(&self) -> bool {
        match self {
            Query::Select(s) => s.is_simple_member(),
            Query::Compound(_) => false,
        }
    }

    pub(crate) fn union_all(self, other: impl Into<Query>) -> CompoundSelect {
        CompoundSelect::new(self, CompoundOp::UnionAll, other.into())
    }
}

impl Walk for Query {
    fn walk<S: Sink>(&self, s: &mut S) {
        Query::walk(self, s, None);
    }
}

impl Executable for Query {
    fn compile(&self, dialect: Dialect, cache: &StatementCache) -> Compiled {
        compile_walk(self, dialect, cache)
    }

    fn result_columns(&self) -> Vec<Arc<str>> {
        self.column_names()
    }
}
