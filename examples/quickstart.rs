//! calcine quickstart: SQLite in memory, no services needed.
//!
//! ```sh
//! cargo run --example quickstart
//! ```
//!
//! Creates two tables, inserts rows with bound parameters, queries with a join and an
//! aggregate, and shows a transaction rolling back.

use calcine::{
    Column, ForeignKey, MetaData, ReferentialAction, SqlType, Table, Value, create_engine, desc,
    func, insert, select,
};

fn main() -> calcine::Result<()> {
    // Schema (SQLAlchemy: MetaData + Table + Column).
    let mut metadata = MetaData::new();
    let users = metadata.add(
        Table::new("users")
            .column(Column::new("id", SqlType::Integer).primary_key())
            .column(Column::new("name", SqlType::Varchar(50)).not_null())
            .column(Column::new("fullname", SqlType::Text)),
    )?;
    let addresses = metadata.add(
        Table::new("addresses")
            .column(Column::new("id", SqlType::Integer).primary_key())
            .column(
                Column::new("user_id", SqlType::Integer)
                    .not_null()
                    .foreign_key(
                        ForeignKey::new("users", "id").on_delete(ReferentialAction::Cascade),
                    ),
            )
            .column(Column::new("email", SqlType::Text).not_null()),
    )?;

    // `echo(true)` would log every statement through `tracing`.
    let engine = create_engine("sqlite://")?;

    // DDL in foreign-key order, in one transaction that commits when the closure returns Ok.
    engine.begin(|conn| {
        for ddl in metadata.create_all_statements(engine.dialect(), true)? {
            conn.execute(&ddl)?;
        }
        Ok::<_, calcine::Error>(())
    })?;

    engine.begin(|conn| {
        conn.execute(&insert(&users).values_many([
            [
                ("name", Value::from("spongebob")),
                ("fullname", "Spongebob Squarepants".into()),
            ],
            [
                ("name", "sandy".into()),
                ("fullname", "Sandy Cheeks".into()),
            ],
            [("name", "patrick".into()), ("fullname", Value::Null)],
        ])?)?;
        conn.execute(&insert(&addresses).values_many([
            [
                ("user_id", Value::from(1)),
                ("email", "spongebob@sqlalchemy.org".into()),
            ],
            [
                ("user_id", 2.into()),
                ("email", "sandy@sqlalchemy.org".into()),
            ],
            [
                ("user_id", 2.into()),
                ("email", "sandy@squirrelpower.org".into()),
            ],
        ])?)?;
        Ok::<_, calcine::Error>(())
    })?;

    let mut conn = engine.connect()?;

    // A join with bound parameters, ordered.
    let query = select((users.c("name")?, addresses.c("email")?))
        .select_from(&users)
        .join_fk(&addresses)?
        .where_(users.c("name")?.in_(["sandy", "spongebob"]))
        .order_by([addresses.c("email")?]);
    println!("users and their addresses:");
    for row in conn.execute(&query)? {
        let row = row?;
        println!(
            "  {:<10} {}",
            row.get::<String>("name")?,
            row.get::<String>("email")?
        );
    }

    // An aggregate over an outer join: users with their address count, most first.
    let n = func::count(addresses.c("id")?).label("n");
    let query = select((users.c("name")?, users.c("fullname")?, n.clone()))
        .select_from(&users)
        .outerjoin_fk(&addresses)?
        .group_by([users.c("name")?, users.c("fullname")?])
        .order_by([desc(n), users.c("name")?.into()]);
    println!("address counts:");
    for row in conn.execute(&query)? {
        let row = row?;
        let fullname: Option<String> = row.get("fullname")?;
        println!(
            "  {:<10} {:<22} {}",
            row.get::<String>("name")?,
            fullname.as_deref().unwrap_or("(no full name)"),
            row.get::<i64>("n")?
        );
    }

    // Statements autobegin a transaction (SQLAlchemy 2.0); end it before an explicit begin().
    conn.commit()?;

    // A transaction that rolls back when its guard is dropped without commit.
    {
        let mut tx = conn.begin()?;
        tx.exec_driver_sql("INSERT INTO users (name) VALUES (?)", &["gary".into()])?;
        println!("inserted gary inside a transaction; dropping it without commit");
    }
    let count: i64 = conn.scalar(&select(func::count_star()).select_from(&users))?;
    println!("users after the rolled-back insert: {count}");
    Ok(())
}
