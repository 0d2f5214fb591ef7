//! [`Table`]: a named set of columns and constraints (SQLAlchemy's `Table`).

use std::fmt;
use std::sync::Arc;

use crate::error::{Result, SqlError, SqlErrorKind};
use crate::expression::ColumnRef;
use crate::schema::{CheckConstraint, Column, ForeignKeyConstraint, Index};
use crate::selectable::{Alias, FromClause, Source};

/// A table definition (SQLAlchemy's `Table`). Cheap to clone (one `Arc`); hands out column
/// expressions with [`Table::c`].
///
/// ```
/// use calcine_sql::{Column, SqlType, Table};
/// let users = Table::new("users")
///     .column(Column::new("id", SqlType::Integer).primary_key())
///     .column(Column::new("name", SqlType::Varchar(50)).not_null());
/// assert!(users.c("name").is_ok());
/// assert!(users.c("nope").is_err());
/// ```
#[derive(Clone)]
pub struct Table(pub(crate) Arc<TableInner>);

#[derive(Debug, Clone)]
pub(crate) struct TableInner {
    pub(crate) name: Arc<str>,
    pub(crate) columns: Vec<Column>,
    pub(crate) foreign_keys: Vec<ForeignKeyConstraint>,
    pub(crate) indexes: Vec<Index>,
    pub(crate) checks: Vec<CheckConstraint>,
}

impl fmt::Debug for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Table")
            .field("name", &self.0.name)
            .field(
                "columns",
                &self.0.columns.iter().map(|c| &*c.name).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl Table {
    /// An empty table named `name`.
    pub fn new(name: impl Into<Arc<str>>) -> Self {
        Table(Arc::new(TableInner {
            name: name.into(),
            columns: Vec::new(),
            foreign_keys: Vec::new(),
            indexes: Vec::new(),
            checks: Vec::new(),
        }))
    }

    /// Adds a column. A column-level foreign key becomes a table [`ForeignKeyConstraint`]; a
    /// column-level index becomes an [`Index`] named `ix_<table>_<column>`.
    pub fn column(mut self, column: Column) -> Self {
        let inner = Arc::make_mut(&mut self.0);
        if let Some(fk) = &column.foreign_key {
            inner.foreign_keys.push(ForeignKeyConstraint {
                name: fk.name.clone(),
                columns: vec![column.name.clone()],
                ref_table: fk.table.clone(),
                ref_columns: vec![fk.column.clone()],
                on_delete: fk.on_delete,
                on_update: fk.on_update,
            });
        }
        if column.index {
            let name = format!("ix_{}_{}", inner.name, column.name);
            inner.indexes.push(Index::new(name, [column.name.clone()]));
        }
        inner.columns.push(column);
        self
    }

    /// Adds a (composite) foreign key constraint.
    pub fn foreign_key(mut self, fk: ForeignKeyConstraint) -> Self {
        Arc::make_mut(&mut self.0).foreign_keys.push(fk);
        self
    }

    /// Adds an index.
    pub fn index(mut self, index: Index) -> Self {
        Arc::make_mut(&mut self.0).indexes.push(index);
        self
    }

    /// Adds a `CHECK` constraint.
    pub fn check(mut self, check: CheckConstraint) -> Self {
        Arc::make_mut(&mut self.0).checks.push(check);
        self
    }

    /// The table name.
    pub fn name(&self) -> &str {
        &self.0.name
    }

    /// The column definitions, in order.
    pub fn columns(&self) -> &[Column] {
        &self.0.columns
    }

    /// The foreign keys.
    pub fn foreign_keys(&self) -> &[ForeignKeyConstraint] {
        &self.0.foreign_keys
    }

    /// The indexes.
    pub fn indexes(&self) -> &[Index] {
        &self.0.indexes
    }

    /// The check constraints.
    pub fn checks(&self) -> &[CheckConstraint] {
        &self.0.checks
    }

    /// The position of the column named `name`.
    #[inline]
    pub fn column_index(&self, name: &str) -> Option<usize> {
        self.0.columns.iter().position(|c| &*c.name == name)
    }

    /// The column definition named `name`.
    pub fn get_column(&self, name: &str) -> Option<&Column> {
        self.0.columns.iter().find(|c| &*c.name == name)
    }

    /// The column named `name` as an expression (SQLAlchemy's `table.c.name`).
    ///
    /// # Errors
    /// [`SqlErrorKind::UnknownColumn`] if the table has no such column.
    pub fn c(&self, name: &str) -> Result<ColumnRef> {
        match self.column_index(name) {
            Some(i) => Ok(ColumnRef::new(Source::Table(self.clone()), i)),
            None => Err(SqlError::unknown_column(&self.0.name, name)),
        }
    }

    /// The column at position `index` as an expression, without a lookup by name (for typed
    /// column handles that know their position); `None` past the last column.
    pub fn c_at(&self, index: usize) -> Option<ColumnRef> {
        (index < self.0.columns.len()).then(|| ColumnRef::new(Source::Table(self.clone()), index))
    }

    /// Every column as an expression, in order.
    pub fn all_columns(&self) -> Vec<ColumnRef> {
        (0..self.0.columns.len())
            .map(|i| ColumnRef::new(Source::Table(self.clone()), i))
            .collect()
    }

    /// Positions of the primary key columns, in order.
    pub fn primary_key(&self) -> Vec<usize> {
        self.0
            .columns
            .iter()
            .enumerate()
            .filter(|(_, c)| c.primary_key)
            .map(|(i, _)| i)
            .collect()
    }

    /// The autoincrementing column: the single integer primary key column that has no foreign
    /// key and no explicit `autoincrement(false)`, or one marked `autoincrement(true)`.
    pub fn autoincrement_column(&self) -> Option<usize> {
        let pk = self.primary_key();
        if let [i] = pk[..] {
            let c = &self.0.columns[i];
            let has_fk = self
                .0
                .foreign_keys
                .iter()
                .any(|fk| fk.columns.contains(&c.name));
            let auto = match c.autoincrement {
                Some(on) => on,
                None => !has_fk,
            };
            if auto && c.ty.is_integer() {
                return Some(i);
            }
        }
        None
    }

    /// An alias of this table (SQLAlchemy's `table.alias("u2")`), for self-joins.
    pub fn alias(&self, name: impl Into<Arc<str>>) -> Alias {
        Alias::new(self.clone(), name.into())
    }

    /// `self JOIN right ON on` as a FROM clause.
    pub fn join(&self, right: impl Into<FromClause>, on: impl Into<crate::Expr>) -> FromClause {
        FromClause::from(self).join(right, on)
    }

    /// `self LEFT OUTER JOIN right ON on` as a FROM clause.
    pub fn outerjoin(
        &self,
        right: impl Into<FromClause>,
        on: impl Into<crate::Expr>,
    ) -> FromClause {
        FromClause::from(self).outerjoin(right, on)
    }

    /// Checks the definition: unique column names, and every column named by the primary key,
    /// foreign keys and indexes exists. [`MetaData::add`](crate::MetaData::add) calls this.
    ///
    /// # Errors
    /// [`SqlErrorKind::Duplicate`] or [`SqlErrorKind::UnknownColumn`].
    pub fn validate(&self) -> Result<()> {
        let t = &self.0;
        for (i, c) in t.columns.iter().enumerate() {
            if t.columns[..i].iter().any(|o| o.name == c.name) {
                return Err(SqlError::new(
                    SqlErrorKind::Duplicate,
                    format!("table {:?} defines column {:?} twice", t.name, c.name),
                ));
            }
        }
        for fk in &t.foreign_keys {
            for c in &fk.columns {
                self.c(c)?;
            }
            if fk.columns.len() != fk.ref_columns.len() || fk.columns.is_empty() {
                return Err(SqlError::new(
                    SqlErrorKind::ColumnMismatch,
                    format!(
                        "foreign key of table {:?} to {:?} has {} local and {} referenced columns",
                        t.name,
                        fk.ref_table,
                        fk.columns.len(),
                        fk.ref_columns.len()
                    ),
                ));
            }
        }
        for ix in &t.indexes {
            for c in &ix.columns {
                self.c(c)?;
            }
        }
        Ok(())
    }

    /// Whether two handles are the same definition (pointer equality).
    pub fn ptr_eq(&self, other: &Table) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl From<&Table> for Table {
    fn from(t: &Table) -> Table {
        t.clone()
    }
}
