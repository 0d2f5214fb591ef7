//! Values, results and errors (acceptance D48, D49; results and streaming).

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

#[path = "support/backends.rs"]
mod support;

use calcine_engine::{ErrorKind, create_engine};
use calcine_sql::Value;

fn sample_values() -> Vec<(&'static str, &'static str, &'static str, Value)> {
    // (column, SQLite type, PostgreSQL type, value)
    let ts = chrono::NaiveDate::from_ymd_opt(2024, 2, 29)
        .unwrap()
        .and_hms_micro_opt(23, 59, 58, 123_456)
        .unwrap();
    vec![
        ("b", "BOOLEAN", "BOOLEAN", Value::Bool(true)),
        ("i_min", "BIGINT", "BIGINT", Value::Int(i64::MIN)),
        ("i_max", "BIGINT", "BIGINT", Value::Int(i64::MAX)),
        (
            "f",
            "DOUBLE PRECISION",
            "DOUBLE PRECISION",
            Value::Float(-1.5e-300),
        ),
        (
            "n",
            "NUMERIC_TEXT",
            "NUMERIC(30, 10)",
            Value::Numeric("12345678901234567890.0123456789".into()),
        ),
        ("d", "DATE", "DATE", Value::Date(ts.date())),
        ("t", "TIME", "TIME", Value::Time(ts.time())),
        ("ts", "TIMESTAMP", "TIMESTAMP", Value::Timestamp(ts)),
        (
            "tz",
            "TIMESTAMP WITH TIME ZONE",
            "TIMESTAMPTZ",
            Value::TimestampTz(ts.and_utc()),
        ),
        (
            "u",
            "UUID",
            "UUID",
            Value::Uuid(uuid::Uuid::from_u128(
                0x0123_4567_89ab_cdef_fedc_ba98_7654_3210,
            )),
        ),
        (
            "j",
            "JSON",
            "JSONB",
            Value::Json(serde_json::json!({"a": [1, "two", null], "q": "it's \"x\""})),
        ),
        (
            "bytes",
            "BLOB",
            "BYTEA",
            Value::Bytes(vec![0, 1, 2, 0, 255]),
        ),
        ("nul", "TEXT", "TEXT", Value::Null),
    ]
}

/// Creates table `t` with a column per [`sample_values`] kind; returns the INSERT of one row
/// of them and its parameters.
fn sample_table(
    db: &support::Db,
    conn: &mut calcine_engine::Connection,
    t: &str,
) -> (String, Vec<Value>) {
    let vals = sample_values();
    let cols: Vec<String> = vals
        .iter()
        .map(|(c, st, pt, _)| {
            // SQLite's NUMERIC affinity would turn the exact text into a REAL; a declared type
            // containing neither NUMERIC/DECIMAL keeps it TEXT.
            let st = if *st == "NUMERIC_TEXT" {
                "DECIMAL_TEXT"
            } else {
                st
            };
            format!("{c} {}", if db.pg { pt } else { st })
        })
        .collect();
    conn.exec_driver_sql(&format!("CREATE TABLE {t} ({})", cols.join(", ")), &[])
        .unwrap();
    let marks = vec!["?"; vals.len()].join(", ");
    let insert = db.sql(&format!("INSERT INTO {t} VALUES ({marks})"));
    (insert, vals.into_iter().map(|v| v.3).collect())
}

#[test]
fn every_value_kind_round_trips() {
    for db in support::all() {
        let engine = db.engine();
        let t = db.table("vals");
        let vals = sample_values();
        let mut conn = engine.connect().unwrap();
        let (insert, params) = sample_table(&db, &mut conn, &t);
        conn.exec_driver_sql(&insert, &params).unwrap();
        let row = conn
            .exec_driver_sql(&format!("SELECT * FROM {t}"), &[])
            .unwrap()
            .one()
            .unwrap();
        for (c, _, _, v) in &vals {
            let got = row.value(*c).unwrap();
            assert_eq!(got, v, "{}: column {c}", db.name);
        }
        assert_eq!(row.get::<Option<String>>("nul").unwrap(), None);
        assert_eq!(
            row.get::<chrono::NaiveDateTime>("ts")
                .unwrap()
                .and_utc()
                .timestamp_subsec_micros(),
            123_456
        );
        assert!(row.get::<bool>("b").unwrap());
    }
}

/// Rows after the first are read in place from the driver's row (no `Value` buffered in
/// between): every value kind decodes as through the buffer, typed takes read scalars and
/// borrowed text directly, a column taken twice reads `NULL` the second time, decode errors
/// name their column, and rows wider than 64 columns (read through the buffer) agree.
#[test]
fn rows_read_in_place_match_buffered_rows() {
    use calcine_engine::{FromRow, RowRef};

    struct Twice(Option<String>, Option<String>);
    impl FromRow for Twice {
        fn from_row(row: &mut RowRef<'_>) -> calcine_engine::Result<Self> {
            Ok(Twice(row.take(0)?, row.take(0)?))
        }
    }

    for db in support::all() {
        let engine = db.engine();
        let t = db.table("inplace");
        let vals = sample_values();
        let mut conn = engine.connect().unwrap();
        let (insert, params) = sample_table(&db, &mut conn, &t);
        for _ in 0..3 {
            conn.exec_driver_sql(&insert, &params).unwrap();
        }
        let all = format!("SELECT * FROM {t}");
        // The first row is read when the statement runs (buffered); the others in place.
        let rows = conn.exec_driver_sql(&all, &[]).unwrap().all().unwrap();
        assert_eq!(rows.len(), 3);
        let expected: Vec<Value> = vals.iter().map(|v| v.3.clone()).collect();
        for row in &rows {
            assert_eq!(row.values(), expected.as_slice(), "{}", db.name);
        }
        let flat: Vec<Vec<Value>> = conn
            .exec_driver_sql(&all, &[])
            .unwrap()
            .yield_per(2)
            .all_values()
            .unwrap();
        assert_eq!(flat, vec![expected.clone(); 3], "{}", db.name);

        // Typed takes of each kind, straight from the driver's row.
        let typed = format!("SELECT b, i_min, f, n, bytes, nul, u FROM {t}");
        type Typed = (bool, i64, f64, String, Vec<u8>, Option<String>, uuid::Uuid);
        let got: Vec<Typed> = conn
            .exec_driver_sql(&typed, &[])
            .unwrap()
            .tuples()
            .all()
            .unwrap();
        assert_eq!(got.len(), 3);
        for r in &got {
            assert!(r.0);
            assert_eq!(r.1, i64::MIN);
            assert_eq!(r.2, -1.5e-300);
            assert_eq!(r.3, "12345678901234567890.0123456789", "{}", db.name);
            assert_eq!(r.4, vec![0, 1, 2, 0, 255]);
            assert_eq!(r.5, None);
            assert_eq!(
                r.6,
                uuid::Uuid::from_u128(0x0123_4567_89ab_cdef_fedc_ba98_7654_3210)
            );
        }

        // A column taken twice: the value, then NULL (as from a buffer).
        let twice: Vec<Twice> = conn
            .exec_driver_sql(&format!("SELECT n FROM {t}"), &[])
            .unwrap()
            .tuples()
            .all()
            .unwrap();
        for Twice(first, second) in &twice {
            assert_eq!(first.as_deref(), Some("12345678901234567890.0123456789"));
            assert_eq!(second, &None, "{}", db.name);
        }

        // A value that does not decode: the error names the column, on an in-place row too.
        let err = conn
            .exec_driver_sql(&format!("SELECT i_max, bytes FROM {t}"), &[])
            .unwrap()
            .tuples::<(i32, Vec<u8>)>()
            .nth(1)
            .unwrap()
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Decode, "{}: {err}", db.name);
        assert!(err.to_string().contains("i_max"), "{err}");

        if !db.pg {
            // Stored text that is not UTF-8, on the second row: a Data error naming the column,
            // and the rows before it were read.
            let mut res = conn
                .exec_driver_sql(
                    "SELECT CAST(x'6f6b' AS TEXT) AS s UNION ALL SELECT CAST(x'ff' AS TEXT)",
                    &[],
                )
                .unwrap()
                .tuples::<(String,)>();
            assert_eq!(res.next().unwrap().unwrap().0, "ok");
            let err = res.next().unwrap().unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Data, "{err}");
            assert!(err.to_string().contains("\"s\""), "{err}");
        }

        // 70 columns: wider than the in-place limit, read through the buffer.
        let wide: Vec<String> = (0..70).map(|i| format!("i_min + {i} AS c{i}")).collect();
        let wide_sql = format!("SELECT {} FROM {t}", wide.join(", "));
        let rows = conn.exec_driver_sql(&wide_sql, &[]).unwrap().all().unwrap();
        assert_eq!(rows.len(), 3);
        for row in &rows {
            assert_eq!(row.len(), 70);
            assert_eq!(row.get::<i64>("c69").unwrap(), i64::MIN + 69, "{}", db.name);
        }
    }
}

/// A statement given to `execute` by value runs as the same statement given by reference: a
/// multi-row INSERT (which moves its values into the parameters), with RETURNING, and a SELECT.
#[test]
fn statements_execute_by_value_as_by_reference() {
    use calcine_sql::{Column, MetaData, SqlType, Table, insert, select};
    for db in support::all() {
        let engine = db.engine();
        let name = db.table("byval");
        let mut md = MetaData::new();
        let t = md
            .add(
                Table::new(name.as_str())
                    .column(Column::new("id", SqlType::Integer).primary_key())
                    .column(Column::new("name", SqlType::Text).not_null())
                    .column(Column::new("note", SqlType::Text)),
            )
            .unwrap();
        let mut conn = engine.connect().unwrap();
        conn.exec_driver_sql(
            &format!("CREATE TABLE {name} (id INTEGER PRIMARY KEY, name TEXT NOT NULL, note TEXT)"),
            &[],
        )
        .unwrap();
        let rows = |from: i64| {
            (from..from + 3).map(|i| {
                [
                    ("id", Value::from(i)),
                    ("name", Value::from(format!("n{i}"))),
                    ("note", Value::from((i % 2 == 0).then(|| "it's".to_owned()))),
                ]
            })
        };
        let by_ref = insert(&t).values_many(rows(1)).unwrap();
        assert_eq!(conn.execute(&by_ref).unwrap().rows_affected(), Some(3));
        let by_value = insert(&t).values_many(rows(4)).unwrap();
        assert_eq!(conn.execute(by_value).unwrap().rows_affected(), Some(3));
        let returning = insert(&t)
            .values_many(rows(7))
            .unwrap()
            .returning([t.c("id").unwrap()]);
        let ids: Vec<i64> = conn.execute(returning).unwrap().scalars().all().unwrap();
        assert_eq!(ids.len(), 3, "{}", db.name);
        let all = select((
            t.c("id").unwrap(),
            t.c("name").unwrap(),
            t.c("note").unwrap(),
        ))
        .order_by([t.c("id").unwrap()]);
        let got: Vec<(i64, String, Option<String>)> =
            conn.execute(all).unwrap().tuples().all().unwrap();
        let expected: Vec<(i64, String, Option<String>)> = (1..=9)
            .map(|i| (i, format!("n{i}"), (i % 2 == 0).then(|| "it's".to_owned())))
            .collect();
        assert_eq!(got, expected, "{}", db.name);
    }
}

#[test]
fn hostile_text_round_trips_as_data() {
    let nasty = [
        "O'Brien said \"hi\"",
        "'; DROP TABLE users; --",
        "Robert'); DELETE FROM x WHERE ('1'='1",
        "\\ backslash \\' and $1 and ? and %s and :name",
        "unicode: żółć 日本語 עברית 🦀 e\u{301}",
        "",
        "   ",
    ];
    let big = "x'y\"z".repeat(1 << 18); // ~1.25 MB
    for db in support::all() {
        let engine = db.engine();
        let t = db.table("d48");
        let mut conn = engine.connect().unwrap();
        conn.exec_driver_sql(&format!("CREATE TABLE {t} (id INTEGER, s TEXT)"), &[])
            .unwrap();
        let ins = db.sql(&format!("INSERT INTO {t} (id, s) VALUES (?, ?)"));
        let mut all: Vec<String> = nasty.iter().map(|s| s.to_string()).collect();
        all.push(big.clone());
        for (i, s) in all.iter().enumerate() {
            conn.exec_driver_sql(&ins, &[(i as i64).into(), s.into()])
                .unwrap();
        }
        let got: Vec<String> = conn
            .exec_driver_sql(&format!("SELECT s FROM {t} ORDER BY id"), &[])
            .unwrap()
            .scalars()
            .all()
            .unwrap();
        assert_eq!(got, all, "{}", db.name);
        // Looked up by a bound parameter, the fragment matches itself and nothing else.
        let n: i64 = conn
            .exec_driver_sql(
                &db.sql(&format!("SELECT count(*) FROM {t} WHERE s = ?")),
                &[nasty[1].into()],
            )
            .unwrap()
            .scalar()
            .unwrap();
        assert_eq!(n, 1);
        // A NUL inside text: SQLite stores it; PostgreSQL refuses it with a typed DataError.
        let with_nul = "a\0b";
        let r = conn.exec_driver_sql(&ins, &[100.into(), with_nul.into()]);
        if db.pg {
            let e = r.unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Data, "{e:?}");
            conn.rollback().unwrap();
        } else {
            r.unwrap();
            let s: String = conn
                .exec_driver_sql(
                    &db.sql(&format!("SELECT s FROM {t} WHERE id = ?")),
                    &[100.into()],
                )
                .unwrap()
                .scalar()
                .unwrap();
            assert_eq!(s, with_nul);
        }
        // Bytes with NULs round-trip everywhere.
        let blob_t = db.table("blob");
        let blob_type = if db.pg { "BYTEA" } else { "BLOB" };
        conn.exec_driver_sql(&format!("CREATE TABLE {blob_t} (b {blob_type})"), &[])
            .unwrap();
        let bytes: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
        conn.exec_driver_sql(
            &db.sql(&format!("INSERT INTO {blob_t} VALUES (?)")),
            &[bytes.clone().into()],
        )
        .unwrap();
        let back: Vec<u8> = conn
            .exec_driver_sql(&format!("SELECT b FROM {blob_t}"), &[])
            .unwrap()
            .scalar()
            .unwrap();
        assert_eq!(back, bytes);
    }
}

#[test]
fn wrong_types_overflow_and_unknown_columns_are_typed_errors_naming_the_column() {
    for db in support::all() {
        let engine = db.engine();
        let mut conn = engine.connect().unwrap();
        let row = conn
            .exec_driver_sql(
                if db.pg {
                    "SELECT 'abc'::text AS name, 4000000000::int8 AS big, NULL::int4 AS nada"
                } else {
                    "SELECT 'abc' AS name, 4000000000 AS big, NULL AS nada"
                },
                &[],
            )
            .unwrap()
            .one()
            .unwrap();
        let e = row.get::<i64>("name").unwrap_err();
        assert_eq!(
            (e.kind(), e.column()),
            (ErrorKind::Decode, Some("name")),
            "{e:?}"
        );
        assert!(e.to_string().contains("\"name\""), "{e}");
        let e = row.get::<i32>("big").unwrap_err();
        assert_eq!(e.column(), Some("big"));
        assert!(e.to_string().contains("out of range for i32"), "{e}");
        assert_eq!(row.get::<i64>("big").unwrap(), 4_000_000_000);
        let e = row.get::<i64>("nada").unwrap_err();
        assert!(e.is_decode() && e.column() == Some("nada"), "{e:?}");
        assert_eq!(row.get::<Option<i64>>("nada").unwrap(), None);
        let e = row.get::<i64>("missing").unwrap_err();
        assert!(
            e.is_invalid_request() && e.to_string().contains("\"missing\""),
            "{e}"
        );
        let e = row.get::<i64>(17).unwrap_err();
        assert!(e.is_invalid_request(), "{e}");
    }
    // SQLite lets a column hold a value of another type; reading it as the declared type is a
    // decode error naming the column, and the rest of the row stays readable.
    let engine = create_engine("sqlite://").unwrap();
    let mut conn = engine.connect().unwrap();
    conn.exec_driver_sql("CREATE TABLE t (n INTEGER, d DATE, ok TEXT)", &[])
        .unwrap();
    conn.exec_driver_sql(
        "INSERT INTO t VALUES ('not a number', 'not a date', 'fine')",
        &[],
    )
    .unwrap();
    let row = conn
        .exec_driver_sql("SELECT * FROM t", &[])
        .unwrap()
        .one()
        .unwrap();
    let e = row.get::<i64>("n").unwrap_err();
    assert_eq!(e.column(), Some("n"));
    let e = row.get::<chrono::NaiveDate>("d").unwrap_err();
    assert_eq!(e.column(), Some("d"));
    assert_eq!(row.get::<String>("ok").unwrap(), "fine");
}

#[test]
fn malformed_urls_and_unknown_dialects_are_typed_errors() {
    for url in [
        "",
        "sqlite:/missing-slash.db",
        "mysql://localhost/db",
        "oracle+cx://scott:tiger@h/db",
        "postgresql://u:pw@host:notaport/db",
        "postgresql://host/db?no_such_option=1",
        "sqlite:///x.db?timeout=soon",
        "sqlite://somehost/x.db",
    ] {
        let e = create_engine(url).unwrap_err();
        assert!(e.is_invalid_request(), "{url:?}: {e:?}");
        assert!(!e.message().is_empty());
    }
    let e = create_engine("postgresql://h/db?sslmode=require").unwrap_err();
    assert!(e.is_not_supported(), "{e:?}");
    let e = calcine_engine::Engine::builder("sqlite://")
        .pool_size(0)
        .build()
        .unwrap_err();
    assert!(e.is_invalid_request());
    // A file in a directory that does not exist: the error surfaces at connect, typed.
    let e = create_engine("sqlite:////nonexistent-dir-calcine/x.db")
        .unwrap()
        .connect()
        .unwrap_err();
    assert!(
        e.is_operational() && e.to_string().contains("unable to open"),
        "{e}"
    );
}

#[test]
fn database_errors_carry_kind_statement_params_sqlstate_and_constraint() {
    for db in support::all() {
        let engine = db.engine();
        let t = db.table("uniq");
        let mut conn = engine.connect().unwrap();
        conn.exec_driver_sql(
            &format!("CREATE TABLE {t} (id INTEGER, email TEXT CONSTRAINT {t}_email UNIQUE)"),
            &[],
        )
        .unwrap();
        let ins = db.sql(&format!("INSERT INTO {t} VALUES (?, ?)"));
        conn.exec_driver_sql(&ins, &[1.into(), "a@x".into()])
            .unwrap();
        let e = conn
            .exec_driver_sql(&ins, &[2.into(), "a@x".into()])
            .unwrap_err();
        assert!(e.is_integrity(), "{}: {e:?}", db.name);
        assert_eq!(e.statement(), Some(ins.as_str()));
        assert_eq!(e.params().unwrap()[1], Value::from("a@x"));
        assert!(e.to_string().contains("[SQL: INSERT INTO"), "{e}");
        if db.pg {
            assert_eq!(e.sqlstate(), Some("23505"));
            assert_eq!(e.constraint(), Some(format!("{t}_email").as_str()));
            conn.rollback().unwrap();
        } else {
            assert_eq!(e.sqlstate(), Some("SQLITE_CONSTRAINT_UNIQUE"));
            assert_eq!(e.constraint(), Some(format!("{t}.email").as_str()));
        }
        // Wrong number of parameters, and SQL errors.
        let e = conn.exec_driver_sql(&ins, &[1.into()]).unwrap_err();
        assert!(e.is_programming(), "{}: {e:?}", db.name);
        let e = conn.exec_driver_sql("SELEC 1", &[]).unwrap_err();
        if db.pg {
            assert_eq!(
                (e.kind(), e.sqlstate()),
                (ErrorKind::Programming, Some("42601"))
            );
            conn.rollback().unwrap();
        } else {
            // pysqlite's classification: SQLITE_ERROR is an OperationalError.
            assert_eq!(
                (e.kind(), e.sqlstate()),
                (ErrorKind::Operational, Some("SQLITE_ERROR"))
            );
        }
        // The connection is still usable.
        assert_eq!(
            conn.exec_driver_sql("SELECT 1", &[])
                .unwrap()
                .scalar::<i32>()
                .unwrap(),
            1
        );
    }
}

#[test]
fn result_consumers() {
    for db in support::all() {
        let engine = db.engine();
        let t = db.table("res");
        let mut conn = engine.connect().unwrap();
        conn.exec_driver_sql(
            &format!("CREATE TABLE {t} (id {}, name TEXT)", db.id_type()),
            &[],
        )
        .unwrap();
        let ins = db.sql(&format!("INSERT INTO {t} (name) VALUES (?)"));
        let r = conn.exec_driver_sql(&ins, &["ann".into()]).unwrap();
        assert_eq!(r.rows_affected(), Some(1));
        assert!(!r.returns_rows());
        drop(r);
        if !db.pg {
            assert_eq!(conn.last_insert_id(), Some(1));
        }
        conn.exec_driver_sql(&ins, &["bob".into()]).unwrap();
        let sel = format!("SELECT id, name FROM {t} ORDER BY id");
        let r = conn.exec_driver_sql(&sel, &[]).unwrap();
        assert_eq!(r.columns(), ["id", "name"]);
        let rows = r.all().unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].get::<String>("name").unwrap(), "ann");
        assert_eq!(rows[1].get::<i64>(0).unwrap(), 2);
        let first = conn
            .exec_driver_sql(&sel, &[])
            .unwrap()
            .first()
            .unwrap()
            .unwrap();
        assert_eq!(first.get::<String>(1).unwrap(), "ann");
        let e = conn.exec_driver_sql(&sel, &[]).unwrap().one().unwrap_err();
        assert!(e.is_multiple_results_found(), "{e:?}");
        let e = conn
            .exec_driver_sql(&sel, &[])
            .unwrap()
            .one_or_none()
            .unwrap_err();
        assert!(e.is_multiple_results_found());
        let none = format!("SELECT id FROM {t} WHERE id > 100");
        let e = conn.exec_driver_sql(&none, &[]).unwrap().one().unwrap_err();
        assert!(e.is_no_result_found(), "{e:?}");
        assert!(
            conn.exec_driver_sql(&none, &[])
                .unwrap()
                .one_or_none()
                .unwrap()
                .is_none()
        );
        assert!(
            conn.exec_driver_sql(&none, &[])
                .unwrap()
                .first()
                .unwrap()
                .is_none()
        );
        assert_eq!(
            conn.exec_driver_sql(&none, &[])
                .unwrap()
                .scalar::<Option<i64>>()
                .unwrap(),
            None
        );
        assert!(
            conn.exec_driver_sql(&none, &[])
                .unwrap()
                .scalar::<i64>()
                .unwrap_err()
                .is_no_result_found()
        );
        let names: Vec<String> = conn
            .exec_driver_sql(&format!("SELECT name FROM {t} ORDER BY id"), &[])
            .unwrap()
            .scalars()
            .all()
            .unwrap();
        assert_eq!(names, ["ann", "bob"]);
        let maps = conn
            .exec_driver_sql(&sel, &[])
            .unwrap()
            .mappings()
            .all()
            .unwrap();
        assert_eq!(maps[1].get("name"), Some(&Value::from("bob")));
        assert_eq!(maps[1].keys().collect::<Vec<_>>(), ["id", "name"]);
        let upd = db.sql(&format!("UPDATE {t} SET name = ? WHERE id > ?"));
        let r = conn.exec_driver_sql(&upd, &["z".into(), 0.into()]).unwrap();
        assert_eq!(r.rows_affected(), Some(2), "{}", db.name);
    }
}

#[test]
fn streaming_reads_a_large_result_in_bounded_chunks() {
    for db in support::all() {
        let engine = db.engine();
        let mut conn = engine.connect().unwrap();
        let n: i64 = if db.pg { 200_000 } else { 1_000_000 };
        let sql = if db.pg {
            "SELECT g AS n FROM generate_series(1, $1::int8) AS g".to_owned()
        } else {
            "WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < ?) SELECT n FROM c".to_owned()
        };
        let mut expected = 1i64;
        let mut parts = 0;
        for part in conn
            .exec_driver_sql(&sql, &[n.into()])
            .unwrap()
            .partitions(5000)
        {
            let part = part.unwrap();
            assert!(part.len() <= 5000 && !part.is_empty());
            for row in part {
                assert_eq!(
                    row.get::<i64>(0).unwrap(),
                    expected,
                    "{}: rows in order, none skipped",
                    db.name
                );
                expected += 1;
            }
            parts += 1;
        }
        assert_eq!(expected, n + 1, "{}", db.name);
        assert_eq!(parts, ((n + 4999) / 5000) as usize);
        // yield_per + iterator; dropping the result early leaves the connection usable.
        let mut it = conn
            .exec_driver_sql(&sql, &[n.into()])
            .unwrap()
            .yield_per(100);
        for i in 1..=250i64 {
            assert_eq!(it.next().unwrap().unwrap().get::<i64>(0).unwrap(), i);
        }
        drop(it);
        assert_eq!(
            conn.exec_driver_sql("SELECT 5", &[])
                .unwrap()
                .scalar::<i64>()
                .unwrap(),
            5
        );
        // The same statement re-executed from the start after an early drop.
        let first: i64 = conn
            .exec_driver_sql(&sql, &[n.into()])
            .unwrap()
            .scalar()
            .unwrap();
        assert_eq!(first, 1, "{}", db.name);
    }
}

/// `column.in_(values)` on every backend: the right rows for every list length, `NOT IN` too.
/// On PostgreSQL the list is one array parameter (`= ANY($1)` / `<> ALL($1)`), so all lengths
/// share one prepared statement (counted in `pg_prepared_statements`), and a value that does
/// not fit the column's type is a typed error, not a panic.
#[test]
fn in_lists_of_every_length() {
    use calcine_sql::{Column, SqlType, Table, select};
    for db in support::all() {
        let engine = db.engine();
        let t = db.table("in_any");
        let mut conn = engine.connect().unwrap();
        conn.exec_driver_sql(&format!("CREATE TABLE {t} (id INTEGER, name TEXT)"), &[])
            .unwrap();
        for i in 1..=30i64 {
            conn.exec_driver_sql(
                &db.sql(&format!("INSERT INTO {t} VALUES (?, ?)")),
                &[i.into(), format!("n{i}").into()],
            )
            .unwrap();
        }
        let table = Table::new(t.clone())
            .column(Column::new("id", SqlType::Integer))
            .column(Column::new("name", SqlType::Text));
        let id = table.c("id").unwrap();
        let name = table.c("name").unwrap();
        for n in 1..=20i64 {
            let ids: Vec<i64> = conn
                .execute(select(id.clone()).where_(id.clone().in_(1..=n)))
                .unwrap()
                .scalars::<i64>()
                .all()
                .unwrap();
            assert_eq!(ids.len() as i64, n, "{}: IN of {n}", db.name);
            let others = conn
                .execute(select(id.clone()).where_(id.clone().not_in(1..=n)))
                .unwrap()
                .all()
                .unwrap();
            assert_eq!(others.len() as i64, 30 - n, "{}: NOT IN of {n}", db.name);
        }
        let names: Vec<String> = conn
            .execute(
                select(name.clone())
                    .where_(name.clone().in_(["n3", "n7", "nope"]))
                    .order_by([name.clone()]),
            )
            .unwrap()
            .scalars::<String>()
            .all()
            .unwrap();
        assert_eq!(names, ["n3", "n7"], "{}", db.name);
        if db.pg {
            let shared: i64 = conn
                .exec_driver_sql(
                    &format!(
                        "SELECT count(*) FROM pg_prepared_statements \
                         WHERE statement LIKE '%{t}%' AND statement LIKE '%.id = ANY(%' \
                         AND statement NOT LIKE '%pg_prepared_statements%'"
                    ),
                    &[],
                )
                .unwrap()
                .scalar()
                .unwrap();
            assert_eq!(shared, 1, "one statement for every length of the IN list");
            let err = conn
                .execute(select(id.clone()).where_(id.clone().in_([1, 1i64 << 40])))
                .unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Data, "{err}");
            assert!(err.to_string().contains("out of range"), "{err}");
        } else {
            // SQLite has no arrays: binding one is a typed error naming the kind.
            let err = conn
                .exec_driver_sql("SELECT ?", &[Value::Array(vec![1.into()])])
                .unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Programming, "{err}");
            assert!(err.to_string().contains("kind array"), "{err}");
        }
    }
}

/// `tuples::<T>()` reads rows into typed tuples or any `FromRow` type, across chunk boundaries
/// (values come out of one flat buffer per chunk), with typed errors for a tuple of the wrong
/// width and for a value that does not decode (naming its column); `fetch_values` hands out
/// the same rows flat; `Row`, `scalars` and the tuples agree.
#[test]
fn typed_tuples_read_rows_across_chunks() {
    use calcine_engine::{FromRow, RowRef};

    #[derive(Debug, PartialEq)]
    struct Item {
        id: i64,
        name: Option<String>,
    }
    impl FromRow for Item {
        fn from_row(row: &mut RowRef<'_>) -> calcine_engine::Result<Self> {
            Ok(Item {
                id: row.take("id")?,
                name: row.take("name")?,
            })
        }
    }

    for db in support::all() {
        let engine = db.engine();
        let t = db.table("tuples");
        let mut conn = engine.connect().unwrap();
        conn.exec_driver_sql(&format!("CREATE TABLE {t} (id INTEGER, name TEXT)"), &[])
            .unwrap();
        for i in 1..=25i64 {
            let name = (i % 3 != 0).then(|| format!("n{i}"));
            conn.exec_driver_sql(
                &db.sql(&format!("INSERT INTO {t} VALUES (?, ?)")),
                &[i.into(), name.into()],
            )
            .unwrap();
        }
        let sel = format!("SELECT id, name FROM {t} ORDER BY id");
        let expected: Vec<(i64, Option<String>)> = (1..=25i64)
            .map(|i| (i, (i % 3 != 0).then(|| format!("n{i}"))))
            .collect();

        // Chunks of 4 rows: 25 rows span 7 chunks, the last one partial.
        let tuples: Vec<(i64, Option<String>)> = conn
            .exec_driver_sql(&sel, &[])
            .unwrap()
            .yield_per(4)
            .tuples()
            .collect::<calcine_engine::Result<_>>()
            .unwrap();
        assert_eq!(tuples, expected, "{}", db.name);

        let items = conn
            .exec_driver_sql(&sel, &[])
            .unwrap()
            .yield_per(7)
            .tuples::<Item>()
            .all()
            .unwrap();
        assert_eq!(items.len(), 25);
        assert_eq!(
            items[2],
            Item { id: 3, name: None },
            "{}: a custom FromRow reads columns by name",
            db.name
        );

        // Rows, tuples and scalars see the same values.
        let rows = conn.exec_driver_sql(&sel, &[]).unwrap().all().unwrap();
        for (row, (id, name)) in rows.iter().zip(&expected) {
            assert_eq!(row.get::<i64>("id").unwrap(), *id);
            assert_eq!(&row.get::<Option<String>>(1).unwrap(), name);
        }
        let ids: Vec<i64> = conn
            .exec_driver_sql(&sel, &[])
            .unwrap()
            .yield_per(3)
            .scalars()
            .all()
            .unwrap();
        assert_eq!(ids, (1..=25).collect::<Vec<_>>(), "{}", db.name);

        // Flat values: two per row, row after row, after one row was read as a Row.
        let mut result = conn.exec_driver_sql(&sel, &[]).unwrap().yield_per(10);
        let first = result.next_row().unwrap().unwrap();
        assert_eq!(first.get::<i64>(0).unwrap(), 1);
        let mut flat = Vec::new();
        assert_eq!(result.fetch_values(15, &mut flat).unwrap(), 15);
        assert_eq!(flat.len(), 30);
        assert_eq!(flat[0], Value::Int(2));
        assert_eq!(flat[28], Value::Int(16));
        assert_eq!(result.fetch_values(100, &mut flat).unwrap(), 9);
        assert_eq!(flat.len(), 48);
        assert_eq!(flat[46], Value::Int(25));
        assert_eq!(result.fetch_values(100, &mut flat).unwrap(), 0);
        drop(result);

        // one / one_or_none / first on typed rows.
        let one = db.sql(&format!("SELECT id, name FROM {t} WHERE id = ?"));
        let (id, name) = conn
            .exec_driver_sql(&one, &[2.into()])
            .unwrap()
            .tuples::<(i64, String)>()
            .one()
            .unwrap();
        assert_eq!((id, name.as_str()), (2, "n2"));
        let none = conn
            .exec_driver_sql(&one, &[99.into()])
            .unwrap()
            .tuples::<(i64, String)>()
            .one_or_none()
            .unwrap();
        assert_eq!(none, None);
        let err = conn
            .exec_driver_sql(&sel, &[])
            .unwrap()
            .tuples::<(i64, Option<String>)>()
            .one()
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::MultipleResultsFound, "{}", db.name);
        let first = conn
            .exec_driver_sql(&sel, &[])
            .unwrap()
            .tuples::<(i64, Option<String>)>()
            .first()
            .unwrap();
        assert_eq!(first, Some((1, Some("n1".to_owned()))));

        // Wrong width, wrong type: typed errors, and the connection stays usable.
        let err = conn
            .exec_driver_sql(&sel, &[])
            .unwrap()
            .tuples::<(i64,)>()
            .all()
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidRequest, "{}: {err}", db.name);
        assert!(err.to_string().contains("2 columns"), "{err}");
        let err = conn
            .exec_driver_sql(&sel, &[])
            .unwrap()
            .tuples::<(i64, String)>()
            .all()
            .unwrap_err();
        assert_eq!(
            err.kind(),
            ErrorKind::Decode,
            "{}: NULL into String",
            db.name
        );
        assert!(err.to_string().contains("name"), "names the column: {err}");
        assert_eq!(
            conn.exec_driver_sql(&format!("SELECT count(*) FROM {t}"), &[])
                .unwrap()
                .scalar::<i64>()
                .unwrap(),
            25
        );
    }
}

/// Another connection changes the schema under a statement this connection has cached: the next
/// run reads the new columns by their new names (SQLite re-prepares the statement; the driver's
/// column metadata follows), on the very first run after the change and on later ones.
#[test]
fn a_schema_change_by_another_connection_is_seen_by_cached_statements() {
    let path = std::env::temp_dir().join(format!("calcine-schema-{}.db", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let engine = create_engine(format!("sqlite:///{}", path.display())).unwrap();
    let mut a = engine.connect().unwrap();
    a.exec_driver_sql("CREATE TABLE t (x INTEGER, y TEXT)", &[])
        .unwrap();
    a.exec_driver_sql("INSERT INTO t VALUES (1, 'one')", &[])
        .unwrap();
    a.commit().unwrap();
    let read = |c: &mut calcine_engine::Connection| -> (Vec<String>, Vec<Vec<Value>>) {
        let r = c.exec_driver_sql("SELECT * FROM t", &[]).unwrap();
        let cols = r.columns().to_vec();
        let rows = r.all_values().unwrap();
        c.commit().unwrap();
        (cols, rows)
    };
    for _ in 0..3 {
        assert_eq!(read(&mut a).0, ["x", "y"]);
    }
    let other = rusqlite::Connection::open(&path).unwrap();
    other
        .execute_batch("ALTER TABLE t ADD COLUMN z INTEGER DEFAULT 7")
        .unwrap();
    for _ in 0..3 {
        let (cols, rows) = read(&mut a);
        assert_eq!(cols, ["x", "y", "z"]);
        assert_eq!(
            rows,
            [vec![Value::Int(1), Value::from("one"), Value::Int(7)]]
        );
    }
    // No rows: the column names still follow a rename.
    a.exec_driver_sql("CREATE TABLE u (p INTEGER, q TEXT)", &[])
        .unwrap();
    a.commit().unwrap();
    let names = |c: &mut calcine_engine::Connection| -> Vec<String> {
        let r = c.exec_driver_sql("SELECT * FROM u", &[]).unwrap();
        let cols = r.columns().to_vec();
        assert!(r.all_values().unwrap().is_empty());
        c.commit().unwrap();
        cols
    };
    assert_eq!(names(&mut a), ["p", "q"]);
    assert_eq!(names(&mut a), ["p", "q"]);
    other
        .execute_batch("ALTER TABLE u RENAME COLUMN q TO r")
        .unwrap();
    assert_eq!(names(&mut a), ["p", "r"]);
    assert_eq!(names(&mut a), ["p", "r"]);
    drop((a, other, engine));
    let _ = std::fs::remove_file(&path);
}
