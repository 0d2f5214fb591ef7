//! [`SqlType`]: the column types calcine knows (SQLAlchemy's generic `types`), and how each
//! dialect spells them.

use crate::compiled::Dialect;
use crate::sink::{Kw, Sink};

/// A column type (SQLAlchemy's generic types: `Integer`, `String(n)`, `DateTime(timezone=True)`...).
///
/// | type | SQLite | PostgreSQL |
/// |---|---|---|
/// | `SmallInt` / `Integer` / `BigInt` | `SMALLINT` / `INTEGER` / `BIGINT` | same |
/// | `Float` / `Double` | `REAL` / `DOUBLE` | `REAL` / `DOUBLE PRECISION` |
/// | `Numeric(p, s)` | `NUMERIC(p, s)` | same |
/// | `Text` / `Varchar(n)` | `TEXT` / `VARCHAR(n)` | same |
/// | `Boolean` | `BOOLEAN` (stored as INTEGER 0/1) | `BOOLEAN` |
/// | `Bytes` | `BLOB` | `BYTEA` |
/// | `Date` / `Time` / `Timestamp` | `DATE` / `TIME` / `TIMESTAMP` (ISO-8601 text) | same |
/// | `TimestampTz` | `TIMESTAMPTZ` (ISO-8601 text, UTC) | `TIMESTAMP WITH TIME ZONE` |
/// | `Uuid` | `UUID` (stored as a 16-byte BLOB) | `UUID` |
/// | `Json` | `JSON` (text) | `JSONB` |
///
/// SQLite keeps the declared name so a driver can decode by declared type (`BOOLEAN` → bool,
/// `UUID` → uuid); its type affinity rules store the values as noted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SqlType {
    /// 16-bit integer.
    SmallInt,
    /// 32-bit integer.
    Integer,
    /// 64-bit integer.
    BigInt,
    /// Single-precision float.
    Float,
    /// Double-precision float.
    Double,
    /// Exact decimal with precision and scale.
    Numeric(u32, u32),
    /// Unbounded text.
    Text,
    /// Text of at most `n` characters.
    Varchar(u32),
    /// Boolean.
    Boolean,
    /// Binary data.
    Bytes,
    /// Calendar date.
    Date,
    /// Time of day without time zone.
    Time,
    /// Date and time without time zone.
    Timestamp,
    /// Date and time with time zone (an instant).
    TimestampTz,
    /// UUID.
    Uuid,
    /// JSON document.
    Json,
}

impl SqlType {
    /// Whether this is one of the integer types (candidates for autoincrement).
    pub fn is_integer(self) -> bool {
        matches!(self, SqlType::SmallInt | SqlType::Integer | SqlType::BigInt)
    }

    pub(crate) fn walk<S: Sink>(self, s: &mut S) {
        let pg = s.dialect() == Dialect::Postgresql;
        match self {
            SqlType::SmallInt => s.kw(Kw::TySmallInt),
            SqlType::Integer => s.kw(Kw::TyInteger),
            SqlType::BigInt => s.kw(Kw::TyBigInt),
            SqlType::Float => s.kw(Kw::TyReal),
            SqlType::Double if pg => s.kw(Kw::TyDoublePrecision),
            SqlType::Double => s.kw(Kw::TyDouble),
            SqlType::Numeric(p, sc) => {
                s.kw(Kw::TyNumeric);
                s.num(p.into());
                s.kw(Kw::Comma);
                s.num(sc.into());
                s.kw(Kw::Close);
            }
            SqlType::Text => s.kw(Kw::TyText),
            SqlType::Varchar(n) => {
                s.kw(Kw::TyVarchar);
                s.num(n.into());
                s.kw(Kw::Close);
            }
            SqlType::Boolean => s.kw(Kw::TyBoolean),
            SqlType::Bytes if pg => s.kw(Kw::TyBytea),
            SqlType::Bytes => s.kw(Kw::TyBlob),
            SqlType::Date => s.kw(Kw::TyDate),
            SqlType::Time => s.kw(Kw::TyTime),
            SqlType::Timestamp => s.kw(Kw::TyTimestamp),
            SqlType::TimestampTz if pg => s.kw(Kw::TyTimestampTz),
            SqlType::TimestampTz => s.kw(Kw::TySqliteTimestampTz),
            SqlType::Uuid => s.kw(Kw::TyUuid),
            SqlType::Json if pg => s.kw(Kw::TyJsonb),
            SqlType::Json => s.kw(Kw::TyJson),
        }
    }
}
