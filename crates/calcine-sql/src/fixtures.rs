//! Test fixtures: a small schema and helpers to compile statements.

use crate::compiled::{Compiled, Dialect, Executable, StatementCache};
use crate::schema::{Column, ForeignKey, MetaData, ReferentialAction, Table};
use crate::sql_type::SqlType;

pub(crate) struct Schema {
    pub(crate) md: MetaData,
    pub(crate) users: Table,
    pub(crate) posts: Table,
}

pub(crate) fn schema() -> Schema {
    let mut md = MetaData::new();
    let users = md
        .add(
            Table::new("users")
                .column(Column::new("id", SqlType::Integer).primary_key())
                .column(Column::new("name", SqlType::Varchar(50)).not_null())
                .column(Column::new("email", SqlType::Text).unique()),
        )
        .unwrap();
    let posts = md
        .add(
            Table::new("posts")
                .column(Column::new("id", SqlType::Integer).primary_key())
                .column(
                    Column::new("user_id", SqlType::Integer)
                        .not_null()
                        .foreign_key(
                            ForeignKey::new("users", "id").on_delete(ReferentialAction::Cascade),
                        ),
                )
                .column(Column::new("title", SqlType::Text).not_null())
                .column(Column::new("score", SqlType::Integer).default(0)),
        )
        .unwrap();
    Schema { md, users, posts }
}

/// Compiles with a fresh cache and checks the placeholder count matches the parameters.
pub(crate) fn compile<E: Executable>(stmt: &E, dialect: Dialect) -> Compiled {
    let c = stmt.compile(dialect, &StatementCache::new(0));
    let mark = if dialect == Dialect::Sqlite {
        b'?'
    } else {
        b'$'
    };
    let n = c
        .sql
        .as_bytes()
        .windows(2)
        .filter(|w| w[0] == mark && w[1].is_ascii_digit())
        .count();
    assert_eq!(n, c.params.len(), "placeholders vs params in {}", c.sql);
    c
}

/// The SQL text for `dialect`.
pub(crate) fn sql<E: Executable>(stmt: &E, dialect: Dialect) -> String {
    compile(stmt, dialect).sql.to_string()
}

/// `(sqlite, postgresql)` SQL texts.
pub(crate) fn both<E: Executable>(stmt: &E) -> (String, String) {
    (sql(stmt, Dialect::Sqlite), sql(stmt, Dialect::Postgresql))
}
