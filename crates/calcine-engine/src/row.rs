//! [`Row`] and [`RowMapping`]: one result row (SQLAlchemy's `Row` and `RowMapping`).

use std::fmt;
use std::sync::Arc;

use calcine_sql::{FromValue, Value};
use rustc_hash::FxHashMap;

use crate::error::{Error, Result};

/// The column names of a result, shared by all its rows, with a name → position index.
#[derive(Debug)]
pub(crate) struct Columns {
    names: Arc<[String]>,
    /// Name → position, built on the first lookup by name (many results are read by position
    /// only, or not at all).
    index: std::sync::OnceLock<FxHashMap<String, usize>>,
}

impl Columns {
    pub(crate) fn new(names: Arc<[String]>) -> Arc<Columns> {
        Arc::new(Columns {
            names,
            index: std::sync::OnceLock::new(),
        })
    }

    pub(crate) fn names(&self) -> &[String] {
        &self.names
    }

    pub(crate) fn position(&self, name: &str) -> Option<usize> {
        self.index
            .get_or_init(|| {
                let mut index = FxHashMap::default();
                for (i, n) in self.names.iter().enumerate() {
                    // With duplicate labels (e.g. `a.id, b.id`) the first one wins; use
                    // positions for the others.
                    index.entry(n.clone()).or_insert(i);
                }
                index
            })
            .get(name)
            .copied()
    }
}

/// The [`Columns`] of recently run statements, by the identity of the drivers' shared
/// column-name lists, so a statement run again reuses its name index.
#[derive(Debug, Default)]
pub(crate) struct ColumnsCache {
    map: FxHashMap<usize, Arc<Columns>>,
}

impl ColumnsCache {
    /// The `Columns` for `names` (built once per distinct list).
    pub(crate) fn get(&mut self, names: &Arc<[String]>) -> Arc<Columns> {
        let id = Arc::as_ptr(names) as *const String as usize;
        if let Some(c) = self.map.get(&id) {
            // The entry holds its list alive, so an equal address is the same list.
            if Arc::ptr_eq(&c.names, names) {
                return Arc::clone(c);
            }
        }
        if self.map.len() >= 256 {
            self.map.clear();
        }
        let c = Columns::new(Arc::clone(names));
        self.map.insert(id, Arc::clone(&c));
        c
    }
}

/// Something that picks a column of a [`Row`]: a position (`usize`) or a name (`&str`).
pub trait RowIndex: private::Sealed {
    /// The position of the column in `columns`, or `None`.
    #[doc(hidden)]
    fn position(&self, columns: &[String], lookup: &dyn Fn(&str) -> Option<usize>)
    -> Option<usize>;
    /// How to name this index in an error.
    #[doc(hidden)]
    fn describe(&self) -> String;
}

mod private {
    pub trait Sealed {}
    impl Sealed for usize {}
    impl Sealed for &str {}
    impl Sealed for &String {}
}

impl RowIndex for usize {
    #[inline]
    fn position(&self, columns: &[String], _: &dyn Fn(&str) -> Option<usize>) -> Option<usize> {
        (*self < columns.len()).then_some(*self)
    }
    fn describe(&self) -> String {
        format!("at position {self}")
    }
}

impl RowIndex for &str {
    fn position(&self, _: &[String], lookup: &dyn Fn(&str) -> Option<usize>) -> Option<usize> {
        lookup(self)
    }
    fn describe(&self) -> String {
        format!("{self:?}")
    }
}

impl RowIndex for &String {
    fn position(&self, _: &[String], lookup: &dyn Fn(&str) -> Option<usize>) -> Option<usize> {
        lookup(self)
    }
    fn describe(&self) -> String {
        format!("{self:?}")
    }
}

/// One row of a result (SQLAlchemy's `Row`): values by position or by column name, decoded into
/// Rust types with [`get`](Row::get). Owns its values; the column names are shared.
///
/// # Example
/// ```
/// let engine = calcine_engine::create_engine("sqlite://")?;
/// let mut conn = engine.connect()?;
/// let row = conn.exec_driver_sql("SELECT 1 AS id, 'ann' AS name", &[])?.one()?;
/// assert_eq!(row.get::<i64>("id")?, 1);
/// assert_eq!(row.get::<String>(1)?, "ann");
/// assert!(row.get::<i64>("name").unwrap_err().is_decode());
/// # Ok::<(), calcine_engine::Error>(())
/// ```
#[derive(Clone)]
pub struct Row {
    columns: Arc<Columns>,
    values: Box<[Value]>,
}

impl Row {
    fn view(&mut self) -> RowRef<'_> {
        RowRef::new(&mut self.values, &self.columns)
    }

    /// The value of a column, decoded as `T`.
    ///
    /// # Errors
    /// [`InvalidRequest`](crate::ErrorKind::InvalidRequest) for an unknown column;
    /// [`Decode`](crate::ErrorKind::Decode), naming the column, when the value is not a `T`
    /// (wrong type, `NULL` into a non-`Option`, integer overflow).
    pub fn get<T: FromValue>(&self, idx: impl RowIndex) -> Result<T> {
        let i = position(&self.columns, &idx)?;
        T::from_value(self.values[i].clone()).map_err(|e| decode_error(&self.columns, i, e))
    }

    /// Like [`get`](Row::get), moving the value out (it is left `NULL` in the row) instead of
    /// cloning it.
    ///
    /// # Errors
    /// As [`get`](Row::get).
    pub fn take<T: FromValue>(&mut self, idx: impl RowIndex) -> Result<T> {
        self.view().take(idx)
    }

    /// The raw value of a column.
    ///
    /// # Errors
    /// [`InvalidRequest`](crate::ErrorKind::InvalidRequest) for an unknown column.
    pub fn value(&self, idx: impl RowIndex) -> Result<&Value> {
        let i = position(&self.columns, &idx)?;
        Ok(&self.values[i])
    }

    /// The column names (SQLAlchemy's `Row._fields`).
    pub fn columns(&self) -> &[String] {
        &self.columns.names
    }

    /// The values, in column order.
    pub fn values(&self) -> &[Value] {
        &self.values
    }

    /// The values, moved out.
    pub fn into_values(self) -> Vec<Value> {
        self.values.into_vec()
    }

    /// Number of columns.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether the row has no columns.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// This row as a name → value mapping (SQLAlchemy's `Row._mapping`).
    pub fn into_mapping(self) -> RowMapping {
        RowMapping(self)
    }
}

impl fmt::Debug for Row {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.columns.names.iter().zip(self.values.iter()))
            .finish()
    }
}

impl PartialEq for Row {
    fn eq(&self, other: &Row) -> bool {
        self.columns.names == other.columns.names && self.values == other.values
    }
}

/// The position of column `idx` in `columns`.
#[inline]
fn position(columns: &Columns, idx: &impl RowIndex) -> Result<usize> {
    let lookup = |name: &str| columns.position(name);
    match idx.position(&columns.names, &lookup) {
        Some(i) => Ok(i),
        None => Err(no_such_column(columns, &idx.describe())),
    }
}

#[cold]
fn no_such_column(columns: &Columns, describe: &str) -> Error {
    Error::invalid_request(format!(
        "Could not locate column in row for column {describe}; the row has columns {:?}",
        columns.names
    ))
}

#[cold]
fn decode_error(columns: &Columns, i: usize, e: calcine_sql::ValueError) -> Error {
    Error::decode(columns.names[i].clone(), e)
}

/// One fetched row as a [`FromRow`] type sees it, to read its columns from with
/// [`take`](RowRef::take): values still in the result's buffer, or the driver's own row,
/// decoded straight into the type asked for.
pub struct RowRef<'r> {
    src: Src<'r>,
    columns: &'r Arc<Columns>,
}

enum Src<'r> {
    /// Values in the result's buffer, moved out as they are taken.
    Values(&'r mut [Value]),
    /// The driver's row; `taken` has a bit set per column already read (so a second `take`
    /// reads `NULL`, as from a buffer). Only rows of at most [`RowRef::DIRECT_MAX`] columns.
    Driver {
        row: &'r mut dyn crate::driver::DriverRow,
        taken: u64,
    },
}

impl<'r> RowRef<'r> {
    /// The widest row read from the driver's own row (one bit per column marks it taken);
    /// wider rows go through the result's buffer.
    pub(crate) const DIRECT_MAX: usize = 64;

    pub(crate) fn new(values: &'r mut [Value], columns: &'r Arc<Columns>) -> Self {
        RowRef {
            src: Src::Values(values),
            columns,
        }
    }

    /// A row read in place from the driver; `columns` has at most [`Self::DIRECT_MAX`] names.
    pub(crate) fn driver(
        row: &'r mut dyn crate::driver::DriverRow,
        columns: &'r Arc<Columns>,
    ) -> Self {
        RowRef {
            src: Src::Driver { row, taken: 0 },
            columns,
        }
    }

    /// Moves the value of a column out (a second `take` of it reads `NULL`), decoded as `T`.
    ///
    /// # Errors
    /// [`InvalidRequest`](crate::ErrorKind::InvalidRequest) for an unknown column;
    /// [`Decode`](crate::ErrorKind::Decode), naming the column, when the value is not a `T`;
    /// the driver's [`Data`](crate::ErrorKind::Data) error for a stored value it cannot read.
    #[inline]
    pub fn take<T: FromValue>(&mut self, idx: impl RowIndex) -> Result<T> {
        let i = position(self.columns, &idx)?;
        let decoded = match &mut self.src {
            Src::Values(values) => T::from_value(std::mem::take(&mut values[i])),
            Src::Driver { row, taken } => {
                let bit = 1u64 << i;
                if *taken & bit != 0 {
                    T::from_value(Value::Null)
                } else {
                    *taken |= bit;
                    T::from_value_ref(row.take(i)?)
                }
            }
        };
        match decoded {
            Ok(v) => Ok(v),
            Err(e) => Err(decode_error(self.columns, i, e)),
        }
    }

    /// The column names.
    pub fn columns(&self) -> &[String] {
        &self.columns.names
    }

    /// Number of columns.
    pub fn len(&self) -> usize {
        self.columns.names.len()
    }

    /// Whether the row has no columns.
    pub fn is_empty(&self) -> bool {
        self.columns.names.is_empty()
    }

    /// Moves every value out, in column order (into one allocation of the exact size: a
    /// collected `Result` would grow a vector and then shrink it).
    fn take_all(&mut self) -> Result<Box<[Value]>> {
        let n = self.len();
        if let Src::Values(values) = &mut self.src {
            return Ok(values.iter_mut().map(std::mem::take).collect());
        }
        let mut out = Vec::with_capacity(n);
        for i in 0..n {
            out.push(self.take::<Value>(i)?);
        }
        Ok(out.into_boxed_slice())
    }

    /// An error unless the row has `n` columns.
    ///
    /// # Errors
    /// [`InvalidRequest`](crate::ErrorKind::InvalidRequest) naming both counts.
    pub fn expect_len(&self, n: usize) -> Result<()> {
        if self.len() == n {
            Ok(())
        } else {
            Err(Error::invalid_request(format!(
                "a row of {} columns {:?} cannot be read as {n} values",
                self.len(),
                self.columns.names
            )))
        }
    }
}

/// A type built from one result row: [`Row`] itself, `Vec<Value>`, tuples of up to 16
/// [`FromValue`] types (one per column, checked), or your own struct, reading its columns with
/// [`RowRef::take`]. What [`CursorResult::tuples`](crate::CursorResult::tuples) decodes into.
///
/// # Example
/// ```
/// use calcine_engine::{FromRow, RowRef};
///
/// struct User { id: i64, name: String }
///
/// impl FromRow for User {
///     fn from_row(row: &mut RowRef<'_>) -> calcine_engine::Result<Self> {
///         Ok(User { id: row.take("id")?, name: row.take("name")? })
///     }
/// }
///
/// let engine = calcine_engine::create_engine("sqlite://")?;
/// let mut conn = engine.connect()?;
/// let user = conn
///     .exec_driver_sql("SELECT 7 AS id, 'ann' AS name", &[])?
///     .tuples::<User>()
///     .one()?;
/// assert_eq!((user.id, user.name.as_str()), (7, "ann"));
/// # Ok::<(), calcine_engine::Error>(())
/// ```
pub trait FromRow: Sized {
    /// Builds `Self` from `row`, moving out the values it needs.
    ///
    /// # Errors
    /// A [`Decode`](crate::ErrorKind::Decode) error naming the column, or
    /// [`InvalidRequest`](crate::ErrorKind::InvalidRequest) for a row of the wrong shape.
    fn from_row(row: &mut RowRef<'_>) -> Result<Self>;
}

impl FromRow for Row {
    fn from_row(row: &mut RowRef<'_>) -> Result<Self> {
        Ok(Row {
            columns: Arc::clone(row.columns),
            values: row.take_all()?,
        })
    }
}

impl FromRow for Vec<Value> {
    fn from_row(row: &mut RowRef<'_>) -> Result<Self> {
        row.take_all().map(<[Value]>::into_vec)
    }
}

macro_rules! tuple_from_row {
    ($n:expr; $($t:ident $i:tt),+) => {
        impl<$($t: FromValue),+> FromRow for ($($t,)+) {
            fn from_row(row: &mut RowRef<'_>) -> Result<Self> {
                row.expect_len($n)?;
                Ok(($(row.take::<$t>($i)?,)+))
            }
        }
    };
}

tuple_from_row!(1; A 0);
tuple_from_row!(2; A 0, B 1);
tuple_from_row!(3; A 0, B 1, C 2);
tuple_from_row!(4; A 0, B 1, C 2, D 3);
tuple_from_row!(5; A 0, B 1, C 2, D 3, E 4);
tuple_from_row!(6; A 0, B 1, C 2, D 3, E 4, F 5);
tuple_from_row!(7; A 0, B 1, C 2, D 3, E 4, F 5, G 6);
tuple_from_row!(8; A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7);
tuple_from_row!(9; A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8);
tuple_from_row!(10; A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9);
tuple_from_row!(11; A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9, K 10);
tuple_from_row!(12; A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9, K 10, L 11);
tuple_from_row!(13; A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9, K 10, L 11, M 12);
tuple_from_row!(14; A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9, K 10, L 11, M 12, N 13);
tuple_from_row!(15; A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9, K 10, L 11, M 12, N 13, O 14);
tuple_from_row!(16; A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9, K 10, L 11, M 12, N 13, O 14, P 15);

/// A row viewed as a mapping from column name to value (SQLAlchemy's `RowMapping`).
#[derive(Clone, PartialEq)]
pub struct RowMapping(Row);

impl RowMapping {
    /// The value for `column`, or `None` if the row has no such column.
    pub fn get(&self, column: &str) -> Option<&Value> {
        self.0.columns.position(column).map(|i| &self.0.values[i])
    }

    /// The column names.
    pub fn keys(&self) -> impl ExactSizeIterator<Item = &str> {
        self.0.columns.names.iter().map(String::as_str)
    }

    /// `(name, value)` pairs in column order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&str, &Value)> {
        self.0
            .columns
            .names
            .iter()
            .map(String::as_str)
            .zip(self.0.values.iter())
    }

    /// Number of columns.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the mapping has no columns.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The underlying row.
    pub fn into_row(self) -> Row {
        self.0
    }
}

impl fmt::Debug for RowMapping {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}
