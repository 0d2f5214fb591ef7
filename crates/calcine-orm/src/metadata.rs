//! Schema helpers over mapped models (SQLAlchemy's `Base.metadata.create_all(engine)`).

use calcine_engine::{Connection, Engine, Result};
use calcine_sql::MetaData;

use crate::model::Mapper;

/// A [`MetaData`] holding the tables of `mappers`.
///
/// # Errors
/// Two mappers name the same table differently (a table definition conflict).
pub fn metadata_for(mappers: &[&Mapper]) -> Result<MetaData> {
    let mut md = MetaData::new();
    for m in mappers {
        if md.table(m.table().name()).is_none() {
            md.add(m.table().clone())?;
        }
    }
    Ok(md)
}

/// Creates the tables of `mappers` that don't exist yet, in foreign-key order, in one
/// transaction (`Base.metadata.create_all(engine)`).
///
/// # Errors
/// The database's error.
pub fn create_all(engine: &Engine, mappers: &[&Mapper]) -> Result<()> {
    engine.begin(|conn: &mut Connection| create_all_in(conn, mappers))
}

/// Creates the tables of `mappers` that don't exist yet on `conn`, in its transaction
/// (`conn.run_sync(Base.metadata.create_all)` in async code).
///
/// # Errors
/// The database's error.
pub fn create_all_in(conn: &mut Connection, mappers: &[&Mapper]) -> Result<()> {
    let md = metadata_for(mappers)?;
    for ddl in md.create_all_statements(conn.dialect(), true)? {
        conn.execute(&ddl)?;
    }
    Ok(())
}

/// Drops the tables of `mappers` that exist, children first, in one transaction.
///
/// # Errors
/// The database's error.
pub fn drop_all(engine: &Engine, mappers: &[&Mapper]) -> Result<()> {
    let md = metadata_for(mappers)?;
    engine.begin(|conn: &mut Connection| {
        for ddl in md.drop_all_statements(conn.dialect(), true)? {
            conn.execute(&ddl)?;
        }
        Ok(())
    })
}
