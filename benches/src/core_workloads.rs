//! diesel's workloads 1-3 through calcine Core and the raw drivers (`rusqlite`,
//! `tokio-postgres`): the structs, statements and decoding shared by `benches/core.rs` and
//! `benches/peers.rs`.

use std::hint::black_box;

use calcine::{Column, Connection, MetaData, SqlType, Table, insert, select};

/// diesel's `User`.
#[derive(Debug, Clone, PartialEq)]
pub struct User {
    pub id: i32,
    pub name: String,
    pub hair_color: Option<String>,
}

/// diesel's `Post`.
#[derive(Debug, Clone, PartialEq)]
pub struct Post {
    pub id: i32,
    pub user_id: i32,
    pub title: String,
    pub body: Option<String>,
}

pub struct Schema {
    pub users: Table,
    pub posts: Table,
}

pub fn schema() -> Schema {
    let mut md = MetaData::new();
    let users = md
        .add(
            Table::new("users")
                .column(Column::new("id", SqlType::Integer).primary_key())
                .column(Column::new("name", SqlType::Text).not_null())
                .column(Column::new("hair_color", SqlType::Text)),
        )
        .expect("users");
    let posts = md
        .add(
            Table::new("posts")
                .column(Column::new("id", SqlType::Integer).primary_key())
                .column(Column::new("user_id", SqlType::Integer).not_null())
                .column(Column::new("title", SqlType::Text).not_null())
                .column(Column::new("body", SqlType::Text)),
        )
        .expect("posts");
    Schema { users, posts }
}

pub const TRIVIAL_SQLITE: &str = "SELECT users.id, users.name, users.hair_color FROM users";
pub const MEDIUM_SQLITE: &str = "SELECT users.id, users.name, users.hair_color, posts.id, posts.user_id, \
     posts.title, posts.body FROM users LEFT OUTER JOIN posts ON users.id = posts.user_id \
     WHERE users.hair_color = ?1";
pub const MEDIUM_PG: &str = "SELECT users.id, users.name, users.hair_color, posts.id, posts.user_id, \
     posts.title, posts.body FROM users LEFT OUTER JOIN posts ON users.id = posts.user_id \
     WHERE users.hair_color = $1";

/// `INSERT INTO users (name, hair_color) VALUES (?, ?), ...` with `n` rows, for the raw drivers.
pub fn multi_insert_sql(n: usize, pg: bool) -> String {
    let mut s = String::from("INSERT INTO users (name, hair_color) VALUES ");
    for i in 0..n {
        if i > 0 {
            s.push_str(", ");
        }
        if pg {
            s.push_str(&format!("(${}, ${})", 2 * i + 1, 2 * i + 2));
        } else {
            s.push_str(&format!("(?{}, ?{})", 2 * i + 1, 2 * i + 2));
        }
    }
    s
}

pub fn calcine_trivial(conn: &mut Connection, s: &Schema) -> Vec<User> {
    let u = &s.users;
    let stmt = select((
        u.c("id").unwrap(),
        u.c("name").unwrap(),
        u.c("hair_color").unwrap(),
    ));
    conn.execute(&stmt).unwrap().tuples::<User>().all().unwrap()
}

/// calcine Core's typed rows: each value moved out of the fetched chunk and decoded once.
impl calcine::FromRow for User {
    fn from_row(row: &mut calcine::engine::RowRef<'_>) -> calcine::Result<Self> {
        Ok(User {
            id: row.take(0)?,
            name: row.take(1)?,
            hair_color: row.take(2)?,
        })
    }
}

/// One row of the medium query, a user and its post if any.
struct UserPost(User, Option<Post>);

impl calcine::FromRow for UserPost {
    fn from_row(row: &mut calcine::engine::RowRef<'_>) -> calcine::Result<Self> {
        let user = User::from_row(row)?;
        let post = match row.take::<Option<i32>>(3)? {
            Some(id) => Some(Post {
                id,
                user_id: row.take(4)?,
                title: row.take(5)?,
                body: row.take(6)?,
            }),
            None => None,
        };
        Ok(UserPost(user, post))
    }
}

pub fn medium_stmt(s: &Schema) -> calcine::sql::Select {
    let (u, p) = (&s.users, &s.posts);
    select((
        u.c("id").unwrap(),
        u.c("name").unwrap(),
        u.c("hair_color").unwrap(),
        p.c("id").unwrap(),
        p.c("user_id").unwrap(),
        p.c("title").unwrap(),
        p.c("body").unwrap(),
    ))
    .outerjoin(p, u.c("id").unwrap().eq(p.c("user_id").unwrap()))
    .unwrap()
    .where_(u.c("hair_color").unwrap().eq("black"))
}

pub fn calcine_medium(conn: &mut Connection, s: &Schema) -> Vec<(User, Option<Post>)> {
    let stmt = medium_stmt(s);
    conn.execute(&stmt)
        .unwrap()
        .tuples::<UserPost>()
        .map(|r| {
            let UserPost(user, post) = r.unwrap();
            (user, post)
        })
        .collect()
}

pub fn calcine_insert(conn: &mut Connection, s: &Schema, rows: &[(String, Option<String>)]) {
    let stmt = insert(&s.users)
        .values_many(rows.iter().map(|(name, hair)| {
            [
                ("name", calcine::Value::from(name.as_str())),
                ("hair_color", calcine::Value::from(hair.clone())),
            ]
        }))
        .unwrap();
    // By value: the statement's values move into the parameters (what a one-off INSERT does).
    let n = conn.execute(stmt).unwrap().rows_affected();
    debug_assert_eq!(n, Some(rows.len() as u64));
    black_box(n);
}

pub fn rusqlite_user(row: &rusqlite::Row<'_>) -> rusqlite::Result<User> {
    Ok(User {
        id: row.get(0)?,
        name: row.get(1)?,
        hair_color: row.get(2)?,
    })
}

pub fn pg_user(row: &tokio_postgres::Row) -> User {
    User {
        id: row.get(0),
        name: row.get(1),
        hair_color: row.get(2),
    }
}

/// The least an ORM with an identity map must add to a raw driver per loaded object, measured
/// as a reference floor (`identity_floor`, not a library): a shared handle per object (one
/// `Arc` holding the struct behind a lock and its state behind another, as `Obj<T>` does), a
/// weak entry in a hash map keyed by the primary key (what makes a second load of the same row
/// return the same object), and tearing that map down when the unit of work ends. Nothing else
/// calcine does (`Value` rows, change tracking, relationships, the session) is in it, so the
/// ratio of this floor to diesel bounds from below what *any* identity-mapped ORM can reach.
pub mod floor {
    use std::sync::{Arc, Mutex, RwLock, Weak};

    use rustc_hash::FxHashMap;

    use super::User;

    /// Per-object state an identity-mapped ORM keeps (key, session back-reference, flags).
    pub struct State {
        pub key: i64,
        pub session: Weak<()>,
        pub expired: bool,
    }

    /// One tracked object.
    pub struct Tracked {
        pub data: RwLock<User>,
        pub state: Mutex<State>,
    }

    /// Wraps `users` as tracked objects through an identity map that lives as long as the call
    /// (one unit of work), returning the handles.
    pub fn track(users: impl Iterator<Item = User>) -> Vec<Arc<Tracked>> {
        let session = Arc::new(());
        let (lo, _) = users.size_hint();
        let mut map: FxHashMap<i64, Weak<Tracked>> = FxHashMap::default();
        map.reserve(lo);
        let mut out = Vec::with_capacity(lo);
        for u in users {
            let key = i64::from(u.id);
            let obj = match map.get(&key).and_then(Weak::upgrade) {
                Some(o) => o,
                None => {
                    let o = Arc::new(Tracked {
                        data: RwLock::new(u),
                        state: Mutex::new(State {
                            key,
                            session: Arc::downgrade(&session),
                            expired: false,
                        }),
                    });
                    map.insert(key, Arc::downgrade(&o));
                    o
                }
            };
            out.push(obj);
        }
        drop(map);
        out
    }
}
