//! Constraints and indexes of a [`Table`](crate::Table): foreign keys, indexes, checks.

use std::sync::Arc;

use crate::sink::{Kw, Sink};

/// What a foreign key does when the referenced row is deleted or updated (`ON DELETE ...`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReferentialAction {
    /// `CASCADE`.
    Cascade,
    /// `SET NULL`.
    SetNull,
    /// `SET DEFAULT`.
    SetDefault,
    /// `RESTRICT`.
    Restrict,
    /// `NO ACTION`.
    NoAction,
}

impl ReferentialAction {
    pub(crate) fn walk<S: Sink>(self, s: &mut S) {
        s.kw(match self {
            ReferentialAction::Cascade => Kw::Cascade,
            ReferentialAction::SetNull => Kw::SetNull,
            ReferentialAction::SetDefault => Kw::SetDefault,
            ReferentialAction::Restrict => Kw::Restrict,
            ReferentialAction::NoAction => Kw::NoAction,
        });
    }
}

/// A single-column foreign key declared on a [`Column`](crate::Column) (SQLAlchemy's `ForeignKey`).
#[derive(Debug, Clone)]
pub struct ForeignKey {
    pub(crate) table: Arc<str>,
    pub(crate) column: Arc<str>,
    pub(crate) name: Option<Arc<str>>,
    pub(crate) on_delete: Option<ReferentialAction>,
    pub(crate) on_update: Option<ReferentialAction>,
}

impl ForeignKey {
    /// A reference to `table.column`.
    pub fn new(table: impl Into<Arc<str>>, column: impl Into<Arc<str>>) -> Self {
        ForeignKey {
            table: table.into(),
            column: column.into(),
            name: None,
            on_delete: None,
            on_update: None,
        }
    }

    /// Names the constraint (needed only to refer to it later; cycles get a generated name).
    pub fn name(mut self, name: impl Into<Arc<str>>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Sets `ON DELETE`.
    pub fn on_delete(mut self, action: ReferentialAction) -> Self {
        self.on_delete = Some(action);
        self
    }

    /// Sets `ON UPDATE`.
    pub fn on_update(mut self, action: ReferentialAction) -> Self {
        self.on_update = Some(action);
        self
    }
}

/// A (possibly composite) foreign key of a table (SQLAlchemy's `ForeignKeyConstraint`).
#[derive(Debug, Clone)]
pub struct ForeignKeyConstraint {
    pub(crate) name: Option<Arc<str>>,
    pub(crate) columns: Vec<Arc<str>>,
    pub(crate) ref_table: Arc<str>,
    pub(crate) ref_columns: Vec<Arc<str>>,
    pub(crate) on_delete: Option<ReferentialAction>,
    pub(crate) on_update: Option<ReferentialAction>,
}

impl ForeignKeyConstraint {
    /// `FOREIGN KEY (columns) REFERENCES ref_table (ref_columns)`.
    pub fn new<A, B>(
        columns: impl IntoIterator<Item = A>,
        ref_table: impl Into<Arc<str>>,
        ref_columns: impl IntoIterator<Item = B>,
    ) -> Self
    where
        A: Into<Arc<str>>,
        B: Into<Arc<str>>,
    {
        ForeignKeyConstraint {
            name: None,
            columns: columns.into_iter().map(Into::into).collect(),
            ref_table: ref_table.into(),
            ref_columns: ref_columns.into_iter().map(Into::into).collect(),
            on_delete: None,
            on_update: None,
        }
    }

    /// Names the constraint.
    pub fn name(mut self, name: impl Into<Arc<str>>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Sets `ON DELETE`.
    pub fn on_delete(mut self, action: ReferentialAction) -> Self {
        self.on_delete = Some(action);
        self
    }

    /// Sets `ON UPDATE`.
    pub fn on_update(mut self, action: ReferentialAction) -> Self {
        self.on_update = Some(action);
        self
    }

    /// The referencing (local) column names.
    pub fn columns(&self) -> &[Arc<str>] {
        &self.columns
    }

    /// The referenced table name.
    pub fn referred_table(&self) -> &str {
        &self.ref_table
    }

    /// The referenced column names.
    pub fn referred_columns(&self) -> &[Arc<str>] {
        &self.ref_columns
    }

    /// The constraint name, explicit or generated (`fk_<table>_<columns>`).
    pub(crate) fn effective_name(&self, table: &str) -> Arc<str> {
        match &self.name {
            Some(n) => n.clone(),
            None => {
                let mut n = format!("fk_{table}");
                for c in &self.columns {
                    n.push('_');
                    n.push_str(c);
                }
                n.into()
            }
        }
    }

    /// Walks `[CONSTRAINT name] FOREIGN KEY(a) REFERENCES t (b) [ON DELETE ..] [ON UPDATE ..]`.
    pub(crate) fn walk<S: Sink>(&self, s: &mut S, with_name: bool) {
        if let (true, Some(name)) = (with_name, &self.name) {
            s.kw(Kw::Constraint);
            s.ident(name);
            s.kw(Kw::Space);
        }
        s.kw(Kw::ForeignKey);
        ident_list(s, &self.columns);
        s.kw(Kw::References);
        s.ident(&self.ref_table);
        s.kw(Kw::Space);
        s.kw(Kw::Open);
        ident_list(s, &self.ref_columns);
        s.kw(Kw::Close);
        if let Some(a) = self.on_delete {
            s.kw(Kw::OnDelete);
            a.walk(s);
        }
        if let Some(a) = self.on_update {
            s.kw(Kw::OnUpdate);
            a.walk(s);
        }
    }
}

pub(crate) fn ident_list<S: Sink>(s: &mut S, names: &[Arc<str>]) {
    for (i, n) in names.iter().enumerate() {
        if i > 0 {
            s.kw(Kw::Comma);
        }
        s.ident(n);
    }
}

/// An index on columns of a table (SQLAlchemy's `Index`), emitted by `create_all` after the table.
#[derive(Debug, Clone)]
pub struct Index {
    pub(crate) name: Arc<str>,
    pub(crate) columns: Vec<Arc<str>>,
    pub(crate) unique: bool,
}

impl Index {
    /// An index named `name` on `columns`.
    pub fn new<A: Into<Arc<str>>>(
        name: impl Into<Arc<str>>,
        columns: impl IntoIterator<Item = A>,
    ) -> Self {
        Index {
            name: name.into(),
            columns: columns.into_iter().map(Into::into).collect(),
            unique: false,
        }
    }

    /// Makes it a `UNIQUE` index.
    pub fn unique(mut self) -> Self {
        self.unique = true;
        self
    }

    /// The index name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The indexed column names.
    pub fn columns(&self) -> &[Arc<str>] {
        &self.columns
    }

    /// Whether the index is unique.
    pub fn is_unique(&self) -> bool {
        self.unique
    }
}

/// A table `CHECK` constraint (SQLAlchemy's `CheckConstraint`); the condition is SQL text
/// rendered verbatim, since DDL cannot take bound parameters.
#[derive(Debug, Clone)]
pub struct CheckConstraint {
    pub(crate) name: Option<Arc<str>>,
    pub(crate) sql: Arc<str>,
}

impl CheckConstraint {
    /// `CHECK (sql)`.
    pub fn new(sql: impl Into<Arc<str>>) -> Self {
        CheckConstraint {
            name: None,
            sql: sql.into(),
        }
    }

    /// Names the constraint (`CONSTRAINT name CHECK (...)`).
    pub fn name(mut self, name: impl Into<Arc<str>>) -> Self {
        self.name = Some(name.into());
        self
    }

    pub(crate) fn walk<S: Sink>(&self, s: &mut S) {
        if let Some(name) = &self.name {
            s.kw(Kw::Constraint);
            s.ident(name);
            s.kw(Kw::Space);
        }
        s.kw(Kw::Check);
        s.raw(&self.sql);
        s.kw(Kw::Close);
    }
}
