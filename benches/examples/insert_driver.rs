//! A small driver for callgrind A/B runs of the ORM insert path (not a benchmark):
//! * `insert_driver N REPS`: diesel's insert workload (fresh `Session`, `add_all(N)`, `commit`)
//!   REPS times on an in-memory SQLite database;
//! * `insert_driver flush TOTAL CHUNK`: the `orm` bench's flush (`add` CHUNK `Customer`s +
//!   `flush`, TOTAL objects in all, `commit`) on an in-memory SQLite database.
use calcine::create_engine;
use calcine::orm::{Model, Session};
use calcine_benches::diesel_models::orm_insert;
use calcine_benches::diesel_schema::{SQLITE_DDL, insert_rows, statements};

#[derive(Model, Debug, Clone)]
#[calcine(table = "customer")]
pub struct Customer {
    #[calcine(primary_key)]
    pub id: Option<i64>,
    #[calcine(sql_type = "varchar(255)")]
    pub name: String,
    #[calcine(sql_type = "varchar(255)")]
    pub description: String,
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let num = |i: usize, d: usize| args.get(i).and_then(|a| a.parse().ok()).unwrap_or(d);
    let engine = create_engine("sqlite://").unwrap();
    if args.first().map(String::as_str) == Some("flush") {
        calcine::orm::create_all(&engine, &[Customer::mapper()]).unwrap();
        let (total, chunk) = (num(1, 10_000), num(2, 1_000));
        let mut s = Session::new(&engine);
        for c in 0..total / chunk {
            for j in 0..chunk {
                let i = c * chunk + j;
                s.add(Customer {
                    id: None,
                    name: format!("customer name {i}"),
                    description: format!("customer description {i}"),
                });
            }
            s.flush().unwrap();
        }
        s.commit().unwrap();
        return;
    }
    let mut conn = engine.connect().unwrap();
    for st in statements(SQLITE_DDL) {
        conn.exec_driver_sql(st, &[]).unwrap();
    }
    conn.commit().unwrap();
    drop(conn);
    let (n, reps) = (num(0, 100), num(1, 100));
    let rows = insert_rows(n);
    for _ in 0..reps {
        let mut s = Session::new(&engine);
        orm_insert(&mut s, &rows).unwrap();
    }
}
