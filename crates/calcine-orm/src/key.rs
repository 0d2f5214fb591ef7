//! [`Key`]: a row's identity (SQLAlchemy's identity key, without the class, which the identity
//! map keeps per model type).

use calcine_sql::Value;

/// One primary-key value. Floats, JSON and NULL cannot be part of an identity.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum KeyPart {
    /// An integer key.
    Int(i64),
    /// A text key.
    Text(String),
    /// A binary key.
    Bytes(Vec<u8>),
    /// A UUID key.
    Uuid(uuid::Uuid),
    /// A boolean key part (composite keys).
    Bool(bool),
    /// Any other exact value (dates, numerics), by its canonical text.
    Other(String),
}

/// The primary key of one row: one part per primary-key column.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Key {
    /// A single-column key (the common case, no allocation for integers).
    Single(KeyPart),
    /// A composite key, in primary-key column order.
    Composite(Box<[KeyPart]>),
}

impl KeyPart {
    /// The key part of `value`, or `None` for NULL and values that cannot identify a row.
    #[inline]
    pub fn from_value(value: &Value) -> Option<KeyPart> {
        match value {
            Value::Int(i) => Some(KeyPart::Int(*i)),
            other => KeyPart::from_other(other),
        }
    }

    fn from_other(value: &Value) -> Option<KeyPart> {
        Some(match value {
            Value::Int(i) => KeyPart::Int(*i),
            Value::Text(s) => KeyPart::Text(s.clone()),
            Value::Bytes(b) => KeyPart::Bytes(b.clone()),
            Value::Uuid(u) => KeyPart::Uuid(*u),
            Value::Bool(b) => KeyPart::Bool(*b),
            Value::Numeric(n) => KeyPart::Other(n.clone()),
            Value::Date(d) => KeyPart::Other(d.to_string()),
            Value::Time(t) => KeyPart::Other(t.to_string()),
            Value::Timestamp(t) => KeyPart::Other(t.to_string()),
            Value::TimestampTz(t) => KeyPart::Other(t.to_rfc3339()),
            _ => return None,
        })
    }

    /// The part as a bindable value.
    pub fn to_value(&self) -> Value {
        match self {
            KeyPart::Int(i) => Value::Int(*i),
            KeyPart::Text(s) | KeyPart::Other(s) => Value::Text(s.clone()),
            KeyPart::Bytes(b) => Value::Bytes(b.clone()),
            KeyPart::Uuid(u) => Value::Uuid(*u),
            KeyPart::Bool(b) => Value::Bool(*b),
        }
    }
}

impl Key {
    /// The key from the primary-key column values, or `None` if one is NULL (not yet assigned).
    pub fn from_values(values: &[Value]) -> Option<Key> {
        match values {
            [one] => KeyPart::from_value(one).map(Key::Single),
            many => many
                .iter()
                .map(KeyPart::from_value)
                .collect::<Option<Vec<_>>>()
                .map(|parts| Key::Composite(parts.into())),
        }
    }

    /// The key made of `values[cols]` (no intermediate copy), or `None` if one is NULL.
    #[inline]
    pub fn from_columns(values: &[Value], cols: &[usize]) -> Option<Key> {
        match cols {
            [one] => values
                .get(*one)
                .and_then(KeyPart::from_value)
                .map(Key::Single),
            many => many
                .iter()
                .map(|&c| values.get(c).and_then(KeyPart::from_value))
                .collect::<Option<Vec<_>>>()
                .map(|parts| Key::Composite(parts.into())),
        }
    }

    /// The parts, in primary-key column order.
    pub fn parts(&self) -> &[KeyPart] {
        match self {
            Key::Single(p) => std::slice::from_ref(p),
            Key::Composite(ps) => ps,
        }
    }
}

impl std::fmt::Display for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let show = |p: &KeyPart| match p {
            KeyPart::Int(i) => i.to_string(),
            KeyPart::Text(s) | KeyPart::Other(s) => format!("{s:?}"),
            KeyPart::Bytes(b) => format!("{b:?}"),
            KeyPart::Uuid(u) => u.to_string(),
            KeyPart::Bool(b) => b.to_string(),
        };
        match self {
            Key::Single(p) => f.write_str(&show(p)),
            Key::Composite(ps) => {
                let parts: Vec<String> = ps.iter().map(show).collect();
                write!(f, "({})", parts.join(", "))
            }
        }
    }
}

macro_rules! int_key {
    ($($t:ty),*) => {$(
        impl From<$t> for Key {
            fn from(v: $t) -> Key {
                Key::Single(KeyPart::Int(i64::from(v)))
            }
        }
    )*};
}
int_key!(i8, i16, i32, i64, u8, u16, u32);

impl From<&str> for Key {
    fn from(v: &str) -> Key {
        Key::Single(KeyPart::Text(v.to_owned()))
    }
}
impl From<String> for Key {
    fn from(v: String) -> Key {
        Key::Single(KeyPart::Text(v))
    }
}
impl From<uuid::Uuid> for Key {
    fn from(v: uuid::Uuid) -> Key {
        Key::Single(KeyPart::Uuid(v))
    }
}
impl<A: Into<Key>, B: Into<Key>> From<(A, B)> for Key {
    fn from((a, b): (A, B)) -> Key {
        let mut parts = a.into().parts().to_vec();
        parts.extend_from_slice(b.into().parts());
        Key::Composite(parts.into())
    }
}
