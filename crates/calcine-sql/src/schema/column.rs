//! [`Column`]: one column definition of a [`Table`](crate::Table).

use std::sync::Arc;

use crate::schema::ForeignKey;
use crate::sql_type::SqlType;
use crate::value::Value;

/// A column definition (SQLAlchemy's `Column`): name, type, key and default settings.
///
/// Built with chained calls and handed to [`Table::column`](crate::Table::column):
/// `Column::new("id", SqlType::Integer).primary_key()`.
#[derive(Debug, Clone)]
pub struct Column {
    pub(crate) name: Arc<str>,
    pub(crate) ty: SqlType,
    pub(crate) primary_key: bool,
    pub(crate) nullable: Option<bool>,
    pub(crate) autoincrement: Option<bool>,
    pub(crate) default: Option<Value>,
    pub(crate) server_default: Option<Arc<str>>,
    pub(crate) unique: bool,
    pub(crate) index: bool,
    pub(crate) foreign_key: Option<ForeignKey>,
}

impl Column {
    /// A nullable column named `name` of type `ty`.
    pub fn new(name: impl Into<Arc<str>>, ty: SqlType) -> Self {
        Column {
            name: name.into(),
            ty,
            primary_key: false,
            nullable: None,
            autoincrement: None,
            default: None,
            server_default: None,
            unique: false,
            index: false,
            foreign_key: None,
        }
    }

    /// Makes this column (part of) the primary key; primary key columns are `NOT NULL`.
    pub fn primary_key(mut self) -> Self {
        self.primary_key = true;
        self
    }

    /// Sets whether the column accepts `NULL` (default: yes, unless part of the primary key).
    pub fn nullable(mut self, nullable: bool) -> Self {
        self.nullable = Some(nullable);
        self
    }

    /// Shorthand for `nullable(false)`.
    pub fn not_null(self) -> Self {
        self.nullable(false)
    }

    /// Forces autoincrement on or off. By default (SQLAlchemy's `"auto"`) the single integer
    /// primary key column without a foreign key autoincrements.
    pub fn autoincrement(mut self, on: bool) -> Self {
        self.autoincrement = Some(on);
        self
    }

    /// A client-side default: `insert` binds this value when the column is not given.
    pub fn default(mut self, value: impl Into<Value>) -> Self {
        self.default = Some(value.into());
        self
    }

    /// A server-side default: SQL text rendered verbatim after `DEFAULT` in `CREATE TABLE`
    /// (e.g. `"CURRENT_TIMESTAMP"`, `"0"`, `"'draft'"`). Write it for the dialects you target.
    pub fn server_default(mut self, sql: impl Into<Arc<str>>) -> Self {
        self.server_default = Some(sql.into());
        self
    }

    /// Adds a `UNIQUE` constraint on this column.
    pub fn unique(mut self) -> Self {
        self.unique = true;
        self
    }

    /// Adds an index `ix_<table>_<column>` on this column.
    pub fn index(mut self) -> Self {
        self.index = true;
        self
    }

    /// Adds a foreign key from this column (SQLAlchemy's `ForeignKey("users.id")`).
    pub fn foreign_key(mut self, fk: ForeignKey) -> Self {
        self.foreign_key = Some(fk);
        self
    }

    /// The column name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The column type.
    pub fn sql_type(&self) -> SqlType {
        self.ty
    }

    /// Whether the column is part of the primary key.
    pub fn is_primary_key(&self) -> bool {
        self.primary_key
    }

    /// Whether the column accepts `NULL`.
    pub fn is_nullable(&self) -> bool {
        self.nullable.unwrap_or(!self.primary_key)
    }

    /// Whether the column has a `UNIQUE` constraint.
    pub fn is_unique(&self) -> bool {
        self.unique
    }

    /// The client-side default value, if any.
    pub fn default_value(&self) -> Option<&Value> {
        self.default.as_ref()
    }

    /// The server-side default SQL, if any.
    pub fn server_default_sql(&self) -> Option<&str> {
        self.server_default.as_deref()
    }
}
