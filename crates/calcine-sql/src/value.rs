//! [`Value`]: one bound parameter or one column value, the currency between the SQL layer and the
//! drivers (SQLAlchemy passes Python objects through its type system; calcine passes `Value`).

use std::fmt;

/// A SQL value: what a statement binds as a parameter and what a driver returns for a column.
///
/// Values are always sent as bound parameters, never spliced into SQL text.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Value {
    /// SQL `NULL`.
    Null,
    /// `BOOLEAN`.
    Bool(bool),
    /// Any integer column (`SMALLINT`, `INTEGER`, `BIGINT`), widened to 64 bits.
    Int(i64),
    /// `REAL` / `DOUBLE PRECISION`.
    Float(f64),
    /// `NUMERIC` / `DECIMAL`, as its exact decimal text (no precision is lost in transit).
    Numeric(String),
    /// `TEXT` / `VARCHAR(n)`.
    Text(String),
    /// `BLOB` / `BYTEA`.
    Bytes(Vec<u8>),
    /// `DATE`.
    Date(chrono::NaiveDate),
    /// `TIME` (without time zone).
    Time(chrono::NaiveTime),
    /// `TIMESTAMP` (without time zone).
    Timestamp(chrono::NaiveDateTime),
    /// `TIMESTAMP WITH TIME ZONE`, normalised to UTC.
    TimestampTz(chrono::DateTime<chrono::Utc>),
    /// `UUID`.
    Uuid(uuid::Uuid),
    /// `JSON` / `JSONB`.
    Json(serde_json::Value),
    /// A one-dimensional array (PostgreSQL `ARRAY`), bound as a parameter: what
    /// `column.in_(values)` sends on PostgreSQL, as `column = ANY($1)`. Elements are bound as the
    /// array's element type; SQLite has no arrays and refuses to bind one.
    Array(Vec<Value>),
}

impl Default for Value {
    /// `NULL`.
    fn default() -> Self {
        Value::Null
    }
}

impl Value {
    /// Whether this is SQL `NULL`.
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// Drops the value, inline when it holds nothing on the heap. `Value`'s drop glue is an
    /// out-of-line call (it has heap variants), which row loops pay per value even for the
    /// `NULL` left behind by a `take`; this checks the variant first.
    #[inline(always)]
    pub fn discard(self) {
        match self {
            Value::Null
            | Value::Bool(_)
            | Value::Int(_)
            | Value::Float(_)
            | Value::Date(_)
            | Value::Time(_)
            | Value::Timestamp(_)
            | Value::TimestampTz(_)
            | Value::Uuid(_) => std::mem::forget(self),
            heap => drop(heap),
        }
    }

    /// A borrowed view of this value ([`ValueRef`]): scalars copied, text and bytes borrowed,
    /// any other kind cloned.
    ///
    /// ```
    /// use calcine_sql::{Value, ValueRef};
    /// assert_eq!(Value::Text("ann".into()).as_value_ref(), ValueRef::Text("ann"));
    /// assert_eq!(Value::Int(7).as_value_ref(), ValueRef::Int(7));
    /// ```
    #[inline]
    pub fn as_value_ref(&self) -> ValueRef<'_> {
        match self {
            Value::Null => ValueRef::Null,
            Value::Int(i) => ValueRef::Int(*i),
            Value::Float(f) => ValueRef::Float(*f),
            Value::Text(s) => ValueRef::Text(s),
            Value::Bytes(b) => ValueRef::Bytes(b),
            other => ValueRef::Value(other.clone()),
        }
    }

    /// Empties a buffer of values, [`discard`](Value::discard)ing each (a row buffer after its
    /// values were taken: mostly `NULL`s); its capacity is kept.
    #[inline]
    pub fn clear_all(buffer: &mut Vec<Value>) {
        buffer.drain(..).for_each(Value::discard);
    }

    /// Replaces the value in `slot` with `value`, [`discard`](Value::discard)ing the old one.
    ///
    /// ```
    /// use calcine_sql::Value;
    /// let mut slot = Value::Text("old".into());
    /// Value::replace(&mut slot, Value::Int(7));
    /// assert_eq!(slot, Value::Int(7));
    /// Value::replace(&mut slot, Value::Null);
    /// assert!(slot.is_null());
    /// ```
    #[inline(always)]
    pub fn replace(slot: &mut Value, value: Value) {
        std::mem::replace(slot, value).discard();
    }

    /// The name of this value's kind, for error messages (`"integer"`, `"text"`, ...).
    pub fn kind_name(&self) -> &'static str {
        match self {
            Value::Null => "NULL",
            Value::Bool(_) => "boolean",
            Value::Int(_) => "integer",
            Value::Float(_) => "float",
            Value::Numeric(_) => "numeric",
            Value::Text(_) => "text",
            Value::Bytes(_) => "bytes",
            Value::Date(_) => "date",
            Value::Time(_) => "time",
            Value::Timestamp(_) => "timestamp",
            Value::TimestampTz(_) => "timestamp with time zone",
            Value::Uuid(_) => "uuid",
            Value::Json(_) => "json",
            Value::Array(_) => "array",
        }
    }
}

/// Why a [`Value`] could not become the Rust type asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValueError {
    expected: &'static str,
    found: &'static str,
    detail: Option<String>,
}

impl ValueError {
    /// A value of kind `found` where `expected` was asked for.
    #[cold]
    pub fn mismatch(expected: &'static str, found: &Value) -> Self {
        ValueError {
            expected,
            found: found.kind_name(),
            detail: None,
        }
    }

    /// A value of the right kind that does not fit (`detail` says how, e.g. an overflow).
    #[cold]
    pub fn out_of_range(expected: &'static str, found: &Value, detail: impl Into<String>) -> Self {
        ValueError {
            expected,
            found: found.kind_name(),
            detail: Some(detail.into()),
        }
    }

    /// The Rust type that was asked for.
    pub fn expected(&self) -> &'static str {
        self.expected
    }

    /// The kind of value that was found.
    pub fn found(&self) -> &'static str {
        self.found
    }
}

impl fmt::Display for ValueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.detail {
            Some(d) => write!(
                f,
                "cannot convert {} value to {}: {}",
                self.found, self.expected, d
            ),
            None => write!(
                f,
                "cannot convert {} value to {}",
                self.found, self.expected
            ),
        }
    }
}

impl std::error::Error for ValueError {}

/// A column value as a driver hands it out while it still holds the row: scalars by value,
/// text and bytes borrowed from the driver's buffer (nothing allocated yet), anything else
/// already decoded. What [`FromValue::from_value_ref`] reads, so that a value is decoded
/// straight into the Rust type asked for, with no [`Value`] in between. Also what a mapped
/// object lends the flush for each column ([`AsValueRef`]), bound without a copy of its own.
#[derive(Debug, Clone, PartialEq)]
pub enum ValueRef<'a> {
    /// SQL `NULL`.
    Null,
    /// An integer.
    Int(i64),
    /// A floating-point number.
    Float(f64),
    /// Text, borrowed (already checked to be UTF-8).
    Text(&'a str),
    /// Bytes, borrowed.
    Bytes(&'a [u8]),
    /// Any other value (decoded per its declared or column type).
    Value(Value),
}

impl ValueRef<'_> {
    /// The owned [`Value`].
    ///
    /// ```
    /// use calcine_sql::{Value, ValueRef};
    /// assert_eq!(ValueRef::Text("ann").into_value(), Value::Text("ann".into()));
    /// assert_eq!(ValueRef::Null.into_value(), Value::Null);
    /// ```
    #[inline]
    pub fn into_value(self) -> Value {
        match self {
            ValueRef::Null => Value::Null,
            ValueRef::Int(i) => Value::Int(i),
            ValueRef::Float(f) => Value::Float(f),
            ValueRef::Text(s) => Value::Text(s.to_owned()),
            ValueRef::Bytes(b) => Value::Bytes(b.to_vec()),
            ValueRef::Value(v) => v,
        }
    }

    /// An owned copy, leaving the view as it is (what [`into_value`](ValueRef::into_value)
    /// returns).
    ///
    /// ```
    /// use calcine_sql::{Value, ValueRef};
    /// assert_eq!(ValueRef::Bytes(b"ab").to_value(), Value::Bytes(b"ab".to_vec()));
    /// ```
    #[inline]
    pub fn to_value(&self) -> Value {
        self.clone().into_value()
    }

    /// Whether this is SQL `NULL`.
    #[inline]
    pub fn is_null(&self) -> bool {
        match self {
            ValueRef::Null => true,
            ValueRef::Value(v) => v.is_null(),
            _ => false,
        }
    }
}

/// A Rust value that lends itself as a [`ValueRef`] (text and bytes borrowed, scalars copied):
/// the same value as its `Into<Value>` conversion, `as_value_ref().into_value() ==
/// Value::from(self.clone())`, without building it. The flush binds a mapped object's columns
/// this way; `#[derive(Model)]` uses it for the field types that implement it and falls back to
/// `Into<Value>` (a clone) for the others.
///
/// ```
/// use calcine_sql::{AsValueRef, Value, ValueRef};
/// assert_eq!("ann".to_owned().as_value_ref(), ValueRef::Text("ann"));
/// assert_eq!(Some(7i32).as_value_ref(), ValueRef::Int(7));
/// assert_eq!(None::<String>.as_value_ref(), ValueRef::Null);
/// assert_eq!(true.as_value_ref().into_value(), Value::from(true));
/// ```
pub trait AsValueRef {
    /// The borrowed view of this value.
    fn as_value_ref(&self) -> ValueRef<'_>;
}

impl AsValueRef for Value {
    #[inline]
    fn as_value_ref(&self) -> ValueRef<'_> {
        Value::as_value_ref(self)
    }
}

impl AsValueRef for String {
    #[inline]
    fn as_value_ref(&self) -> ValueRef<'_> {
        ValueRef::Text(self)
    }
}

impl AsValueRef for Vec<u8> {
    #[inline]
    fn as_value_ref(&self) -> ValueRef<'_> {
        ValueRef::Bytes(self)
    }
}

impl AsValueRef for bool {
    #[inline]
    fn as_value_ref(&self) -> ValueRef<'_> {
        // Kept a boolean (not an integer): listeners and echo see the value `Into<Value>` gives.
        ValueRef::Value(Value::Bool(*self))
    }
}

impl AsValueRef for f64 {
    #[inline]
    fn as_value_ref(&self) -> ValueRef<'_> {
        ValueRef::Float(*self)
    }
}

impl AsValueRef for f32 {
    #[inline]
    fn as_value_ref(&self) -> ValueRef<'_> {
        ValueRef::Float(f64::from(*self))
    }
}

macro_rules! int_as_value_ref {
    ($($t:ty),*) => {$(
        impl AsValueRef for $t {
            #[inline]
            fn as_value_ref(&self) -> ValueRef<'_> {
                ValueRef::Int(i64::from(*self))
            }
        }
    )*};
}
int_as_value_ref!(i8, i16, i32, i64, u8, u16, u32);

impl<T: AsValueRef> AsValueRef for Option<T> {
    #[inline]
    fn as_value_ref(&self) -> ValueRef<'_> {
        match self {
            Some(v) => v.as_value_ref(),
            None => ValueRef::Null,
        }
    }
}

/// Conversion from a column [`Value`] into a Rust type (the decode half of SQLAlchemy's
/// `TypeEngine.result_processor`).
pub trait FromValue: Sized {
    /// Converts `value`, returning a [`ValueError`] for a kind mismatch, an unexpected `NULL`
    /// or a value out of the target's range.
    fn from_value(value: Value) -> Result<Self, ValueError>;

    /// Converts a value the driver still holds ([`ValueRef`]): the same result as
    /// [`from_value`](FromValue::from_value) of its [`into_value`](ValueRef::into_value),
    /// which is what the default does. The standard types override it to read scalars and
    /// borrowed text directly (one allocation for a `String`, none for the others).
    #[inline]
    fn from_value_ref(value: ValueRef<'_>) -> Result<Self, ValueError> {
        Self::from_value(value.into_value())
    }
}

impl FromValue for Value {
    #[inline]
    fn from_value(value: Value) -> Result<Self, ValueError> {
        Ok(value)
    }
}

impl<T: FromValue> FromValue for Option<T> {
    #[inline]
    fn from_value(value: Value) -> Result<Self, ValueError> {
        if value.is_null() {
            value.discard();
            return Ok(None);
        }
        T::from_value(value).map(Some)
    }

    #[inline]
    fn from_value_ref(value: ValueRef<'_>) -> Result<Self, ValueError> {
        if value.is_null() {
            return Ok(None);
        }
        T::from_value_ref(value).map(Some)
    }
}

macro_rules! int_from_value {
    ($($t:ty),*) => {$(
        impl FromValue for $t {
            #[inline]
            fn from_value(value: Value) -> Result<Self, ValueError> {
                let out = match value {
                    Value::Int(i) => <$t>::try_from(i).map_err(|_| {
                        ValueError::out_of_range(
                            stringify!($t),
                            &value,
                            format!("{i} is out of range for {}", stringify!($t)),
                        )
                    }),
                    Value::Bool(b) => Ok(<$t>::from(b)),
                    ref other => Err(ValueError::mismatch(stringify!($t), other)),
                };
                value.discard();
                out
            }

            #[inline]
            fn from_value_ref(value: ValueRef<'_>) -> Result<Self, ValueError> {
                match value {
                    ValueRef::Int(i) => match <$t>::try_from(i) {
                        Ok(v) => Ok(v),
                        Err(_) => Self::from_value(Value::Int(i)),
                    },
                    other => Self::from_value(other.into_value()),
                }
            }
        }
        impl From<$t> for Value {
            fn from(v: $t) -> Value {
                Value::Int(i64::from(v))
            }
        }
    )*};
}
int_from_value!(i8, i16, i32, i64, u8, u16, u32);

impl FromValue for u64 {
    #[inline]
    fn from_value(value: Value) -> Result<Self, ValueError> {
        match value {
            Value::Int(i) => u64::try_from(i).map_err(|_| {
                ValueError::out_of_range("u64", &value, format!("{i} is out of range for u64"))
            }),
            other => Err(ValueError::mismatch("u64", &other)),
        }
    }
}

impl TryFrom<u64> for Value {
    type Error = ValueError;
    fn try_from(v: u64) -> Result<Value, ValueError> {
        i64::try_from(v).map(Value::Int).map_err(|_| ValueError {
            expected: "i64",
            found: "integer",
            detail: Some(format!("{v} does not fit a 64-bit signed SQL integer")),
        })
    }
}

impl FromValue for bool {
    #[inline]
    fn from_value(value: Value) -> Result<Self, ValueError> {
        match value {
            Value::Bool(b) => Ok(b),
            Value::Int(0) => Ok(false),
            Value::Int(1) => Ok(true),
            other => Err(ValueError::mismatch("bool", &other)),
        }
    }
}

impl FromValue for f64 {
    #[inline]
    fn from_value(value: Value) -> Result<Self, ValueError> {
        match value {
            Value::Float(f) => Ok(f),
            // SQLite stores whole REAL values as integers when asked to; widening is exact up to 2^53.
            Value::Int(i) => Ok(i as f64),
            Value::Numeric(ref s) => s.parse().map_err(|_| {
                ValueError::out_of_range("f64", &value, format!("{s:?} is not a number"))
            }),
            other => Err(ValueError::mismatch("f64", &other)),
        }
    }
    #[inline]
    fn from_value_ref(value: ValueRef<'_>) -> Result<Self, ValueError> {
        match value {
            ValueRef::Float(f) => Ok(f),
            ValueRef::Int(i) => Ok(i as f64),
            other => Self::from_value(other.into_value()),
        }
    }
}

impl FromValue for f32 {
    #[inline]
    fn from_value(value: Value) -> Result<Self, ValueError> {
        f64::from_value(value).map(|f| f as f32)
    }
}

impl FromValue for String {
    #[inline]
    fn from_value(value: Value) -> Result<Self, ValueError> {
        match value {
            Value::Text(s) | Value::Numeric(s) => Ok(s),
            other => Err(ValueError::mismatch("String", &other)),
        }
    }
    #[inline]
    fn from_value_ref(value: ValueRef<'_>) -> Result<Self, ValueError> {
        match value {
            ValueRef::Text(s) => Ok(s.to_owned()),
            other => Self::from_value(other.into_value()),
        }
    }
}

impl FromValue for Vec<u8> {
    #[inline]
    fn from_value(value: Value) -> Result<Self, ValueError> {
        match value {
            Value::Bytes(b) => Ok(b),
            other => Err(ValueError::mismatch("Vec<u8>", &other)),
        }
    }
    #[inline]
    fn from_value_ref(value: ValueRef<'_>) -> Result<Self, ValueError> {
        match value {
            ValueRef::Bytes(b) => Ok(b.to_vec()),
            other => Self::from_value(other.into_value()),
        }
    }
}

macro_rules! simple_from_value {
    ($($variant:ident($t:ty)),*) => {$(
        impl FromValue for $t {
            #[inline]
            fn from_value(value: Value) -> Result<Self, ValueError> {
                match value {
                    Value::$variant(v) => Ok(v),
                    other => Err(ValueError::mismatch(stringify!($t), &other)),
                }
            }
        }
        impl From<$t> for Value {
            fn from(v: $t) -> Value {
                Value::$variant(v)
            }
        }
    )*};
}
simple_from_value!(
    Date(chrono::NaiveDate),
    Time(chrono::NaiveTime),
    Timestamp(chrono::NaiveDateTime),
    TimestampTz(chrono::DateTime<chrono::Utc>),
    Uuid(uuid::Uuid),
    Json(serde_json::Value)
);

impl From<bool> for Value {
    fn from(v: bool) -> Value {
        Value::Bool(v)
    }
}
impl From<f64> for Value {
    fn from(v: f64) -> Value {
        Value::Float(v)
    }
}
impl From<f32> for Value {
    fn from(v: f32) -> Value {
        Value::Float(f64::from(v))
    }
}
impl From<String> for Value {
    fn from(v: String) -> Value {
        Value::Text(v)
    }
}
impl From<&str> for Value {
    fn from(v: &str) -> Value {
        Value::Text(v.to_owned())
    }
}
impl From<&String> for Value {
    fn from(v: &String) -> Value {
        Value::Text(v.clone())
    }
}
impl From<Vec<u8>> for Value {
    fn from(v: Vec<u8>) -> Value {
        Value::Bytes(v)
    }
}
impl From<&[u8]> for Value {
    fn from(v: &[u8]) -> Value {
        Value::Bytes(v.to_vec())
    }
}
impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Value {
        v.map_or_else(|| Value::Null, Into::into)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integer_overflow_is_a_typed_error() {
        let err = i32::from_value(Value::Int(i64::MAX)).unwrap_err();
        assert_eq!(err.expected(), "i32");
        assert!(err.to_string().contains("out of range for i32"), "{err}");
    }

    #[test]
    fn null_into_non_option_is_a_mismatch() {
        let err = String::from_value(Value::Null).unwrap_err();
        assert_eq!(err.found(), "NULL");
        assert_eq!(Option::<String>::from_value(Value::Null), Ok(None));
    }

    /// Each standard type lends the value its `Into<Value>` conversion gives.
    #[test]
    fn as_value_ref_matches_into_value() {
        fn same<T: AsValueRef + Clone + Into<Value>>(v: T) {
            assert_eq!(v.as_value_ref().into_value(), v.clone().into());
            assert_eq!(v.as_value_ref().to_value(), v.into());
        }
        same("x".to_owned());
        same(Some("x".to_owned()));
        same(None::<String>);
        same(vec![1u8, 2]);
        same(true);
        same(1.5f64);
        same(2.5f32);
        same(-3i8);
        same(-3i16);
        same(-3i32);
        same(i64::MIN);
        same(255u8);
        same(65_535u16);
        same(u32::MAX);
        same(Some(7i64));
        same(None::<i32>);
        same(Value::Uuid(uuid::Uuid::nil()));
        same(Some(Some(1i32)));
    }

    #[test]
    fn round_trips() {
        assert_eq!(i64::from_value(Value::from(7i64)), Ok(7));
        assert_eq!(String::from_value(Value::from("a'b")), Ok("a'b".to_owned()));
        assert_eq!(Value::from(None::<i32>), Value::Null);
        assert!(Value::try_from(u64::MAX).is_err());
    }
}
