//! Schema metadata (SQLAlchemy's `MetaData`, `Table`, `Column` and constraints).

mod column;
pub(crate) mod constraint;
mod metadata;
mod table;

pub use column::Column;
pub use constraint::{CheckConstraint, ForeignKey, ForeignKeyConstraint, Index, ReferentialAction};
pub use metadata::MetaData;
pub use table::Table;
