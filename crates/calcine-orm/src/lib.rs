//! calcine's ORM (SQLAlchemy `orm`): structs mapped to tables ([`Model`]), shared instance
//! handles ([`Obj`]), and the [`Session`]: identity map plus unit of work.
//!
//! The session is synchronous; async programs reach it through `AsyncSession::run_sync`, which
//! runs the same code inside a greenlet.

mod identity_map;
mod instance;
mod key;
mod loading;
mod metadata;
mod model;
mod query;
mod relationship;
mod session;
mod unit_of_work;

/// `#[derive(Model)]`: see [`calcine_macros::Model`].
pub use calcine_macros::Model;
pub use instance::{Obj, Status};
pub use key::{Key, KeyPart};
pub use metadata::{create_all, create_all_in, drop_all, metadata_for};
pub use model::{Col, Mapper, Model};
pub use query::{Load, LoadPath, ModelSelect, joinedload, lazyload, select, selectinload};
pub use relationship::{
    Cascade, Lazy, Many, ModelRef, One, Rel, RelationMut, RelationRef, RelationshipDef,
};
pub use session::{Session, SessionMaker};

/// What `#[derive(Model)]` expands to refers to these; not a public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::model::column_probe::{CloneInto, ColumnProbe, LendRef};
    pub use calcine_sql::ValueRef;
    pub use calcine_sql::{
        Column, ForeignKey, FromValue, ReferentialAction, SqlType, Table, Value, ValueError,
    };
    pub use std::sync::OnceLock;
}
