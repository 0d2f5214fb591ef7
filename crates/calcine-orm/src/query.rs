//! [`ModelSelect`]: a `SELECT` of one model with loader options (SQLAlchemy's
//! `select(User).options(selectinload(User.posts))`), and the loader options themselves.

use std::borrow::Cow;
use std::marker::PhantomData;
use std::sync::Arc;

use calcine_sql::{
    Compiled, Dialect, Executable, Expr, FromClause, OrderBy, Select, StatementCache,
};

use crate::model::Model;
use crate::relationship::{Lazy, ModelRef, Rel};

/// `SELECT` of every column of `T`, plus how to load its relationships: what
/// [`Session::scalars`](crate::Session::scalars) runs. Build it with [`select`].
pub struct ModelSelect<T> {
    /// Borrowed from the mapper while unchanged (`select::<T>()` as is: nothing to build, and
    /// its SQL is compiled once per mapper); owned once a builder method changed it.
    select: Cow<'static, Select>,
    pub(crate) options: Vec<LoadPath>,
    _marker: PhantomData<fn() -> T>,
}

impl<T> Clone for ModelSelect<T> {
    fn clone(&self) -> Self {
        ModelSelect {
            select: self.select.clone(),
            options: self.options.clone(),
            _marker: PhantomData,
        }
    }
}

impl<T> std::fmt::Debug for ModelSelect<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModelSelect")
            .field("select", &self.select)
            .field("options", &self.options.len())
            .finish()
    }
}

/// `SELECT` of every column of `T`, in table order (SQLAlchemy's `select(User)`): chain
/// `where_`, `order_by`, `options`, ... and run it with
/// [`Session::scalars`](crate::Session::scalars).
pub fn select<T: Model>() -> ModelSelect<T> {
    ModelSelect {
        select: Cow::Borrowed(T::mapper().plain_select()),
        options: Vec::new(),
        _marker: PhantomData,
    }
}

impl<T: Model> ModelSelect<T> {
    fn map(self, f: impl FnOnce(Select) -> Select) -> Self {
        ModelSelect {
            select: Cow::Owned(f(self.select.into_owned())),
            ..self
        }
    }

    fn try_map(
        self,
        f: impl FnOnce(Select) -> calcine_sql::Result<Select>,
    ) -> calcine_sql::Result<Self> {
        Ok(ModelSelect {
            select: Cow::Owned(f(self.select.into_owned())?),
            ..self
        })
    }

    /// `WHERE cond` (chained calls are ANDed).
    pub fn where_(self, cond: impl Into<Expr>) -> Self {
        self.map(|s| s.where_(cond))
    }

    /// `ORDER BY items`.
    pub fn order_by<O: Into<OrderBy>>(self, items: impl IntoIterator<Item = O>) -> Self {
        self.map(|s| s.order_by(items))
    }

    /// `LIMIT n`.
    pub fn limit(self, n: i64) -> Self {
        self.map(|s| s.limit(n))
    }

    /// `OFFSET n`.
    pub fn offset(self, n: i64) -> Self {
        self.map(|s| s.offset(n))
    }

    /// `SELECT DISTINCT`.
    pub fn distinct(self) -> Self {
        self.map(Select::distinct)
    }

    /// `JOIN right ON on` (to filter by the joined table; only `T`'s columns are selected).
    ///
    /// # Errors
    /// As [`Select::join`].
    pub fn join(
        self,
        right: impl Into<FromClause>,
        on: impl Into<Expr>,
    ) -> calcine_sql::Result<Self> {
        self.try_map(|s| s.join(right, on))
    }

    /// `JOIN right` on the single foreign key between the tables.
    ///
    /// # Errors
    /// As [`Select::join_fk`].
    pub fn join_fk(self, right: impl Into<FromClause>) -> calcine_sql::Result<Self> {
        self.try_map(|s| s.join_fk(right))
    }

    /// `LEFT OUTER JOIN right ON on`.
    ///
    /// # Errors
    /// As [`Select::outerjoin`].
    pub fn outerjoin(
        self,
        right: impl Into<FromClause>,
        on: impl Into<Expr>,
    ) -> calcine_sql::Result<Self> {
        self.try_map(|s| s.outerjoin(right, on))
    }

    /// Adds a loader option (`.options(selectinload(User::POSTS))`); it overrides the
    /// relationship's default strategy for this query.
    pub fn options(mut self, option: impl Into<LoadPath>) -> Self {
        self.options.push(option.into());
        self
    }

    /// The Core statement.
    pub fn statement(&self) -> &Select {
        &self.select
    }

    /// The Core statement, without the loader options.
    pub fn into_statement(self) -> Select {
        self.select.into_owned()
    }
}

impl<T: Model> Executable for ModelSelect<T> {
    fn compile(&self, dialect: Dialect, cache: &StatementCache) -> Compiled {
        match &self.select {
            Cow::Borrowed(_) => T::mapper().compile_plain(dialect, cache),
            Cow::Owned(select) => select.compile(dialect, cache),
        }
    }

    fn result_columns(&self) -> Vec<Arc<str>> {
        self.select.result_columns()
    }
}

impl<T: Model> calcine_sql::IntoCompiled for ModelSelect<T> {
    fn into_compiled_for(self, dialect: Dialect, cache: &StatementCache) -> Compiled {
        self.compile(dialect, cache)
    }
}

/// One step of a loader option: relationship `index` of `parent`, loaded with `strategy`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct LoadStep {
    pub(crate) parent: ModelRef,
    pub(crate) index: usize,
    pub(crate) strategy: Lazy,
}

/// A loader option: a path of relationships from the queried model, each with a strategy.
#[derive(Clone, Debug)]
pub struct LoadPath {
    pub(crate) steps: Vec<LoadStep>,
}

/// A loader option ending at model `T`, built from `M` (typed, so nesting is checked).
#[derive(Clone, Debug)]
pub struct Load<M, T> {
    path: LoadPath,
    _marker: PhantomData<fn() -> (M, T)>,
}

impl<M: Model, T: Model> From<Load<M, T>> for LoadPath {
    fn from(l: Load<M, T>) -> LoadPath {
        l.path
    }
}

fn start<M: Model, T: Model>(rel: Rel<M, T>, strategy: Lazy) -> Load<M, T> {
    Load {
        path: LoadPath {
            steps: vec![LoadStep {
                parent: ModelRef::of::<M>(),
                index: rel.index(),
                strategy,
            }],
        },
        _marker: PhantomData,
    }
}

/// Loads `rel` with one `IN` query per batch of parents (SQLAlchemy's `selectinload`).
pub fn selectinload<M: Model, T: Model>(rel: Rel<M, T>) -> Load<M, T> {
    start(rel, Lazy::Selectin)
}

/// Loads `rel` in the same statement through a LEFT OUTER JOIN (SQLAlchemy's `joinedload`).
/// Applies to the first step of a path; nested joined steps load like `selectinload`.
pub fn joinedload<M: Model, T: Model>(rel: Rel<M, T>) -> Load<M, T> {
    start(rel, Lazy::Joined)
}

/// Leaves `rel` unloaded (loads on access, SQLAlchemy's `lazyload`), overriding an eager
/// default.
pub fn lazyload<M: Model, T: Model>(rel: Rel<M, T>) -> Load<M, T> {
    start(rel, Lazy::Select)
}

impl<M: Model, T: Model> Load<M, T> {
    fn then<U: Model>(mut self, rel: Rel<T, U>, strategy: Lazy) -> Load<M, U> {
        self.path.steps.push(LoadStep {
            parent: ModelRef::of::<T>(),
            index: rel.index(),
            strategy,
        });
        Load {
            path: self.path,
            _marker: PhantomData,
        }
    }

    /// Then loads `rel` of the objects loaded by this option with `selectinload`.
    pub fn selectinload<U: Model>(self, rel: Rel<T, U>) -> Load<M, U> {
        self.then(rel, Lazy::Selectin)
    }

    /// Then loads `rel` of the objects loaded by this option (joined: as `selectinload`).
    pub fn joinedload<U: Model>(self, rel: Rel<T, U>) -> Load<M, U> {
        self.then(rel, Lazy::Selectin)
    }

    /// Then leaves `rel` of the objects loaded by this option to load on access.
    pub fn lazyload<U: Model>(self, rel: Rel<T, U>) -> Load<M, U> {
        self.then(rel, Lazy::Select)
    }
}
