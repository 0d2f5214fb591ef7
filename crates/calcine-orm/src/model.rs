//! [`Model`]: a Rust struct mapped to a table (SQLAlchemy's mapped class), its [`Mapper`], and
//! typed column handles ([`Col`]) for queries.

use std::marker::PhantomData;
use std::sync::Arc;

use calcine_engine::Error;
use calcine_sql::{ColumnRef, Expr, OrderBy, Select, Table, Value, ValueError, ValueRef};

/// A struct mapped to a table (SQLAlchemy's declaratively mapped class). Implemented by
/// `#[derive(Model)]`; the methods convert between the struct and its column values, in the
/// table's column order.
pub trait Model: Sized + Send + Sync + 'static {
    /// The mapping of this type (table, primary key), built once.
    fn mapper() -> &'static Mapper;

    /// The value of column `index` (table order).
    fn column_value(&self, index: usize) -> Value;

    /// Column `index` lent as a [`ValueRef`] (text and bytes borrowed from the field), the
    /// same value as [`column_value`](Model::column_value): what the flush binds, without a
    /// copy of its own. The default wraps `column_value`; `#[derive(Model)]` lends the fields
    /// whose type implements [`AsValueRef`](calcine_sql::AsValueRef) (the standard column types)
    /// and uses `column_value` for the others.
    fn column_ref(&self, index: usize) -> ValueRef<'_> {
        ValueRef::Value(self.column_value(index))
    }

    /// Sets column `index` from a database value (a server-generated key, a refresh, a merge).
    ///
    /// # Errors
    /// The value does not convert to the field's type.
    fn set_column_value(&mut self, index: usize, value: Value) -> Result<(), ValueError>;

    /// Builds an instance from one row's values in table column order, moving them out (each
    /// is left `NULL`; a missing one reads as `NULL`). The values are borrowed so a loader can
    /// hand out rows of one flat buffer without an allocation per row.
    ///
    /// # Errors
    /// The column index and conversion error of the first value that does not fit its field.
    fn from_values(values: &mut [Value]) -> Result<Self, (usize, ValueError)>;

    /// The model's relationships (`#[calcine(relationship(...))]` fields), in field order.
    fn relationships() -> &'static [crate::RelationshipDef] {
        &[]
    }

    /// Relationship field `index` (as in [`relationships`](Model::relationships)).
    fn relation(&self, index: usize) -> Option<crate::RelationRef<'_>> {
        let _ = index;
        None
    }

    /// Relationship field `index`, borrowed mutably: what a new instance's fields are pointed
    /// at their parent through, without taking their locks (the generated impl has it; without
    /// it the session goes through [`relation`](Model::relation)).
    fn relation_mut(&mut self, index: usize) -> Option<crate::RelationMut<'_>> {
        let _ = index;
        None
    }

    /// All column values, in table order.
    fn to_values(&self) -> Vec<Value> {
        (0..Self::mapper().table().columns().len())
            .map(|i| self.column_value(i))
            .collect()
    }
}

/// A model's columns behind a type-erased instance ([`Model::column_ref`]).
pub(crate) trait ColumnRefs {
    fn column_ref(&self, index: usize) -> ValueRef<'_>;
}

impl ColumnRefs for [Value] {
    #[inline]
    fn column_ref(&self, index: usize) -> ValueRef<'_> {
        self.get(index).map_or(ValueRef::Null, Value::as_value_ref)
    }
}

impl<T: Model> ColumnRefs for T {
    #[inline]
    fn column_ref(&self, index: usize) -> ValueRef<'_> {
        Model::column_ref(self, index)
    }
}

/// What `#[derive(Model)]`'s `column_ref` calls for a field, chosen by method resolution on the
/// field's concrete type (no specialization needed): `(&ColumnProbe(&field)).column_ref()`
/// lends a type implementing [`AsValueRef`](calcine_sql::AsValueRef) ([`LendRef`], found first,
/// on `&ColumnProbe`), and converts any other `Clone + Into<Value>` type ([`CloneInto`], on
/// `ColumnProbe`, reached by auto-deref).
pub(crate) mod column_probe {
    use calcine_sql::{AsValueRef, Value, ValueRef};

    /// A field, borrowed.
    pub struct ColumnProbe<'a, T>(pub &'a T);

    impl<T> Clone for ColumnProbe<'_, T> {
        fn clone(&self) -> Self {
            *self
        }
    }
    impl<T> Copy for ColumnProbe<'_, T> {}

    /// A field type that lends itself.
    pub trait LendRef<'a> {
        /// The field, lent.
        fn column_ref(self) -> ValueRef<'a>;
    }

    impl<'a, T: AsValueRef> LendRef<'a> for &ColumnProbe<'a, T> {
        #[inline]
        fn column_ref(self) -> ValueRef<'a> {
            self.0.as_value_ref()
        }
    }

    /// Any other field type: its `Into<Value>` conversion of a clone.
    pub trait CloneInto<'a> {
        /// The field, converted.
        fn column_ref(self) -> ValueRef<'a>;
    }

    impl<'a, T: Clone + Into<Value>> CloneInto<'a> for ColumnProbe<'a, T> {
        #[inline]
        fn column_ref(self) -> ValueRef<'a> {
            ValueRef::Value(self.0.clone().into())
        }
    }
}

/// How a [`Model`] maps to its table (SQLAlchemy's `Mapper`).
#[derive(Debug)]
pub struct Mapper {
    name: &'static str,
    table: Table,
    primary_key: Vec<usize>,
    autoincrement: Option<usize>,
    columns: Arc<[Arc<str>]>,
    relationships: &'static [crate::RelationshipDef],
    resolved: std::sync::OnceLock<std::result::Result<Vec<crate::loading::Resolved>, String>>,
    /// INSERT text by (dialect, column mask, row count): the flush renders each shape once.
    insert_sql:
        std::sync::Mutex<rustc_hash::FxHashMap<(calcine_sql::Dialect, u64, usize), Arc<str>>>,
    /// `select()`, built once: what an unchanged `calcine_orm::select::<T>()` borrows.
    plain_select: std::sync::OnceLock<Select>,
    /// The SQL of `plain_select` per dialect (SQLite, PostgreSQL), compiled once: running an
    /// unchanged `select::<T>()` needs no statement walk.
    plain_sql: MemoSlots,
    /// The SQL of `select() WHERE pk = ?` per dialect: `Session::get`'s statement, whose only
    /// parameters are the key's values.
    by_key_sql: MemoSlots,
    /// The primary-key columns (at least one: `new` refuses a table without a key).
    pk_refs: (calcine_sql::ColumnRef, Vec<calcine_sql::ColumnRef>),
}

impl Mapper {
    /// The mapping of the Rust type `name` to `table`.
    ///
    /// # Errors
    /// The table has no primary key (every mapped table needs one, as in SQLAlchemy).
    pub fn new(name: &'static str, table: Table) -> Result<Mapper, calcine_sql::SqlError> {
        let primary_key = table.primary_key();
        if primary_key.is_empty() {
            return Err(calcine_sql::SqlError::new(
                calcine_sql::SqlErrorKind::InvalidStatement,
                format!(
                    "Mapper for {name} could not assemble any primary key columns for table {:?}; \
                     mark at least one field #[calcine(primary_key)]",
                    table.name()
                ),
            ));
        }
        let outside = || {
            calcine_sql::SqlError::new(
                calcine_sql::SqlErrorKind::InvalidStatement,
                format!("Mapper for {name}: primary key columns outside the table"),
            )
        };
        let mut refs: Vec<_> = primary_key.iter().filter_map(|&c| table.c_at(c)).collect();
        if refs.len() != primary_key.len() || refs.is_empty() {
            return Err(outside());
        }
        let first = refs.remove(0);
        let rest = refs;
        let autoincrement = table.autoincrement_column();
        let columns = table
            .columns()
            .iter()
            .map(|c| Arc::<str>::from(c.name()))
            .collect();
        Ok(Mapper {
            name,
            table,
            primary_key,
            autoincrement,
            columns,
            relationships: &[],
            resolved: std::sync::OnceLock::new(),
            insert_sql: std::sync::Mutex::new(rustc_hash::FxHashMap::default()),
            plain_select: std::sync::OnceLock::new(),
            plain_sql: [std::sync::OnceLock::new(), std::sync::OnceLock::new()],
            by_key_sql: [std::sync::OnceLock::new(), std::sync::OnceLock::new()],
            pk_refs: (first, rest),
        })
    }

    /// The same mapper with its model's relationships (what `#[derive(Model)]` passes).
    pub fn with_relationships(mut self, relationships: &'static [crate::RelationshipDef]) -> Self {
        self.relationships = relationships;
        self
    }

    /// The relationships, in field order.
    pub fn relationships(&self) -> &'static [crate::RelationshipDef] {
        self.relationships
    }

    /// The join columns of every relationship, worked out from the foreign keys on first use.
    pub(crate) fn resolved(&self) -> std::result::Result<&[crate::loading::Resolved], Error> {
        match self
            .resolved
            .get_or_init(|| crate::loading::resolve_all(self))
        {
            Ok(v) => Ok(v),
            Err(msg) => Err(Error::invalid_request(msg.clone())),
        }
    }

    /// The Rust type name of the model.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The mapped table.
    pub fn table(&self) -> &Table {
        &self.table
    }

    /// Positions of the primary key columns.
    pub fn primary_key(&self) -> &[usize] {
        &self.primary_key
    }

    /// Position of the database-generated integer key, if any.
    pub fn autoincrement(&self) -> Option<usize> {
        self.autoincrement
    }

    /// Column names, in table order.
    pub fn column_names(&self) -> &Arc<[Arc<str>]> {
        &self.columns
    }

    /// The SQL of a multi-row INSERT of the columns in `mask` (bit i = column i), `rows` rows,
    /// with `RETURNING` of the autoincrement column if `returning`; parameters row by row, in
    /// column order. Rendered once per shape. `None` if the shape can't be expressed that way
    /// (more than 64 columns, or the statement would add defaults of its own).
    pub(crate) fn insert_sql(
        &self,
        dialect: calcine_sql::Dialect,
        mask: u64,
        rows: usize,
        returning: bool,
    ) -> Option<Arc<str>> {
        let ncols = self.table.columns().len();
        if ncols > 63 || rows == 0 {
            return None;
        }
        let key = (dialect, mask | (u64::from(returning) << 63), rows);
        let mut cache = self.insert_sql.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(sql) = cache.get(&key) {
            return Some(sql.clone());
        }
        let cols: Vec<usize> = (0..ncols).filter(|c| mask & (1 << c) != 0).collect();
        let row: Vec<(usize, Value)> = cols.iter().map(|&c| (c, Value::Null)).collect();
        let mut stmt = if cols.is_empty() {
            if rows != 1 {
                return None;
            }
            calcine_sql::insert(&self.table)
        } else {
            calcine_sql::insert(&self.table)
                .values_many((0..rows).map(|_| row.clone()))
                .ok()?
        };
        if returning {
            stmt = stmt.returning(self.table.c_at(self.autoincrement?)?);
        }
        let compiled =
            calcine_sql::Executable::compile(&stmt, dialect, &calcine_sql::StatementCache::new(0));
        if compiled.params.len() != cols.len() * rows {
            return None;
        }
        cache.insert(key, compiled.sql.clone());
        Some(compiled.sql)
    }

    /// `c1 = v1 AND c2 = v2 ...` over this table's columns at positions `cols`.
    pub(crate) fn columns_eq(&self, cols: &[usize], values: &[Value]) -> Result<Expr, Error> {
        let mut cond: Option<Expr> = None;
        for (&c, v) in cols.iter().zip(values) {
            let e = self.column_at(c)?.eq(v.clone());
            cond = Some(match cond {
                None => e,
                Some(prev) => prev.and(e),
            });
        }
        cond.ok_or_else(|| Error::invalid_request(format!("{}: an empty key", self.name)))
    }

    /// The join condition `self.cols[i] = other.other_cols[i] AND ...`.
    pub(crate) fn join_on(
        &self,
        cols: &[usize],
        other: &Mapper,
        other_cols: &[usize],
    ) -> Result<Expr, Error> {
        let mut cond: Option<Expr> = None;
        for (&a, &b) in cols.iter().zip(other_cols) {
            let e = self.column_at(a)?.eq(other.column_at(b)?);
            cond = Some(match cond {
                None => e,
                Some(prev) => prev.and(e),
            });
        }
        cond.ok_or_else(|| Error::invalid_request(format!("{}: an empty join", self.name)))
    }

    fn column_at(&self, index: usize) -> Result<ColumnRef, Error> {
        self.table.c_at(index).ok_or_else(|| {
            Error::invalid_request(format!("{}: column #{index} out of range", self.name))
        })
    }

    /// `SELECT` of all of the model's columns, in table order (SQLAlchemy's `select(User)`).
    pub fn select(&self) -> Select {
        calcine_sql::select(&self.table)
    }

    /// [`select`](Mapper::select), built once.
    pub(crate) fn plain_select(&self) -> &Select {
        self.plain_select.get_or_init(|| self.select())
    }

    /// [`plain_select`](Mapper::plain_select) compiled for `dialect`: through the engine's
    /// `cache` the first time, remembered here afterwards. A statement without parameters (the
    /// plain select has none) compiles to its SQL alone, so the text is all there is to keep.
    pub(crate) fn compile_plain(
        &self,
        dialect: calcine_sql::Dialect,
        cache: &calcine_sql::StatementCache,
    ) -> calcine_sql::Compiled {
        memo_compile(&self.plain_sql, dialect, &[], || {
            calcine_sql::Executable::compile(self.plain_select(), dialect, cache)
        })
    }

    /// `select() WHERE pk = key` compiled for `dialect`, `key` given as its values in
    /// primary-key column order (the caller checks there are as many as key columns): the first
    /// time through the engine's `cache`, afterwards from the SQL remembered here with `key` as
    /// the parameters.
    pub(crate) fn compile_by_key(
        &self,
        dialect: calcine_sql::Dialect,
        cache: &calcine_sql::StatementCache,
        key: &[Value],
    ) -> calcine_sql::Compiled {
        memo_compile(&self.by_key_sql, dialect, key, || {
            let (first, rest) = &self.pk_refs;
            let mut values = key.iter().cloned();
            let mut cond = first.clone().eq(values.next().unwrap_or_default());
            for col in rest {
                cond = cond.and(col.clone().eq(values.next().unwrap_or_default()));
            }
            calcine_sql::Executable::compile(&self.select().where_(cond), dialect, cache)
        })
    }
}

/// SQL remembered per dialect (SQLite, PostgreSQL).
type MemoSlots = [std::sync::OnceLock<Arc<str>>; 2];

fn memo_slot(
    slots: &MemoSlots,
    dialect: calcine_sql::Dialect,
) -> Option<&std::sync::OnceLock<Arc<str>>> {
    match dialect {
        calcine_sql::Dialect::Sqlite => Some(&slots[0]),
        calcine_sql::Dialect::Postgresql => Some(&slots[1]),
        _ => None,
    }
}

/// A statement whose SQL depends on the dialect alone: from `slots` once remembered, else
/// `compile()`d and remembered if its parameters are exactly `params` (then the SQL holds no
/// value, and the same text serves every later call with its own parameters).
fn memo_compile(
    slots: &MemoSlots,
    dialect: calcine_sql::Dialect,
    params: &[Value],
    compile: impl FnOnce() -> calcine_sql::Compiled,
) -> calcine_sql::Compiled {
    let slot = memo_slot(slots, dialect);
    if let Some(sql) = slot.and_then(std::sync::OnceLock::get) {
        return calcine_sql::Compiled {
            sql: sql.clone(),
            params: params.to_vec(),
        };
    }
    let compiled = compile();
    if let Some(slot) = slot {
        if compiled.params == params {
            let _ = slot.set(compiled.sql.clone());
        }
    }
    compiled
}

/// A typed handle on one column of model `M` whose Rust type is `T` (for nullable fields, the
/// type inside the `Option`). `#[derive(Model)]` generates one constant per field
/// (`User::NAME`), usable wherever a Core expression is expected; comparisons only accept values
/// convertible to `T`.
pub struct Col<M, T> {
    index: usize,
    name: &'static str,
    _marker: PhantomData<fn() -> (M, T)>,
}

impl<M, T> Clone for Col<M, T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<M, T> Copy for Col<M, T> {}

impl<M, T> std::fmt::Debug for Col<M, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Col({})", self.name)
    }
}

impl<M: Model, T: Into<Value>> Col<M, T> {
    /// The handle of column `index` (table order) named `name`.
    pub const fn new(index: usize, name: &'static str) -> Self {
        Col {
            index,
            name,
            _marker: PhantomData,
        }
    }

    /// The column's position in the table.
    pub fn index(&self) -> usize {
        self.index
    }

    /// The column's name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The column as a Core expression.
    pub fn column(&self) -> ColumnRef {
        match M::mapper().table().c_at(self.index) {
            Some(c) => c,
            // The derive generates handles from the same field list as the table.
            None => unreachable!(
                "column handle {} out of range for {}",
                self.name,
                M::mapper().name()
            ),
        }
    }

    /// `column = value`.
    pub fn eq(&self, value: impl Into<T>) -> Expr {
        self.column().eq(val(value.into()))
    }
    /// `column != value`.
    pub fn ne(&self, value: impl Into<T>) -> Expr {
        self.column().ne(val(value.into()))
    }
    /// `column < value`.
    pub fn lt(&self, value: impl Into<T>) -> Expr {
        self.column().lt(val(value.into()))
    }
    /// `column <= value`.
    pub fn le(&self, value: impl Into<T>) -> Expr {
        self.column().le(val(value.into()))
    }
    /// `column > value`.
    pub fn gt(&self, value: impl Into<T>) -> Expr {
        self.column().gt(val(value.into()))
    }
    /// `column >= value`.
    pub fn ge(&self, value: impl Into<T>) -> Expr {
        self.column().ge(val(value.into()))
    }
    /// `column IN (values...)`.
    pub fn in_<V: Into<T>>(&self, values: impl IntoIterator<Item = V>) -> Expr {
        self.column().in_(values.into_iter().map(|v| val(v.into())))
    }
    /// `column BETWEEN low AND high`.
    pub fn between(&self, low: impl Into<T>, high: impl Into<T>) -> Expr {
        self.column().between(val(low.into()), val(high.into()))
    }
    /// `column IS NULL`.
    pub fn is_null(&self) -> Expr {
        self.column().is_null()
    }
    /// `column IS NOT NULL`.
    pub fn is_not_null(&self) -> Expr {
        self.column().is_not_null()
    }
    /// `column LIKE pattern`.
    pub fn like(&self, pattern: impl Into<String>) -> Expr {
        self.column().like(val(pattern.into()))
    }
    /// `ORDER BY column ASC`.
    pub fn asc(&self) -> OrderBy {
        calcine_sql::asc(self.column())
    }
    /// `ORDER BY column DESC`.
    pub fn desc(&self) -> OrderBy {
        calcine_sql::desc(self.column())
    }
}

fn val<T: Into<Value>>(t: T) -> Value {
    t.into()
}

impl<M: Model, T: Into<Value>> From<Col<M, T>> for Expr {
    fn from(c: Col<M, T>) -> Expr {
        c.column().expr()
    }
}

impl<M: Model, T: Into<Value>> From<Col<M, T>> for OrderBy {
    fn from(c: Col<M, T>) -> OrderBy {
        c.asc()
    }
}
