//! diesel's workloads 1-4 written with each peer library (diesel sync, diesel-async, sqlx,
//! sea-orm), shared by the bench targets `benches/peers.rs` (one connection, criterion) and
//! `benches/concurrency.rs` (64 tasks, pools of 4). Bench code: panics on errors.

use std::time::Duration;

use crate::{Comment, Graph, NewUser, Post, User, group_by_fk};

/// The rows of one workload-3 iteration.
pub type Rows = [(String, Option<String>)];

// ---- diesel (sync) and diesel-async ----

macro_rules! diesel_sync {
    ($m:ident, $conn:ty) => {
        pub mod $m {
            use super::*;
            use crate::tables::{comments, posts, users};
            use diesel::prelude::*;

            pub fn trivial(c: &mut $conn) -> Vec<User> {
                users::table.load::<User>(c).unwrap()
            }

            pub fn medium(c: &mut $conn) -> Vec<(User, Option<Post>)> {
                users::table
                    .left_outer_join(posts::table)
                    .filter(users::hair_color.eq("black"))
                    .load::<(User, Option<Post>)>(c)
                    .unwrap()
            }

            pub fn insert(c: &mut $conn, rows: &Rows) -> usize {
                let new: Vec<NewUser<'_>> = rows
                    .iter()
                    .map(|(name, hair)| NewUser {
                        name,
                        hair_color: hair.as_deref(),
                    })
                    .collect();
                diesel::insert_into(users::table)
                    .values(&new)
                    .execute(c)
                    .unwrap()
            }

            pub fn assoc(c: &mut $conn) -> Graph {
                let us = users::table.load::<User>(c).unwrap();
                let ps = Post::belonging_to(&us).load::<Post>(c).unwrap();
                let cs = Comment::belonging_to(&ps).load::<Comment>(c).unwrap();
                let cs = cs.grouped_by(&ps);
                let pcs = ps.into_iter().zip(cs).grouped_by(&us);
                us.into_iter().zip(pcs).collect()
            }

            #[allow(dead_code)]
            pub fn _unused(_: &comments::table) {}
        }
    };
}

diesel_sync!(diesel_sqlite, diesel::SqliteConnection);
diesel_sync!(diesel_pg, diesel::PgConnection);

pub mod diesel_async_pg {
    use super::*;
    use crate::tables::{posts, users};
    use diesel::prelude::{BelongingToDsl, ExpressionMethods, GroupedBy, QueryDsl};
    use diesel_async::{AsyncPgConnection, RunQueryDsl};

    pub async fn trivial(c: &mut AsyncPgConnection) -> Vec<User> {
        users::table.load::<User>(c).await.unwrap()
    }

    pub async fn medium(c: &mut AsyncPgConnection) -> Vec<(User, Option<Post>)> {
        users::table
            .left_outer_join(posts::table)
            .filter(users::hair_color.eq("black"))
            .load::<(User, Option<Post>)>(c)
            .await
            .unwrap()
    }

    pub async fn insert(c: &mut AsyncPgConnection, rows: &Rows) -> usize {
        let new: Vec<NewUser<'_>> = rows
            .iter()
            .map(|(name, hair)| NewUser {
                name,
                hair_color: hair.as_deref(),
            })
            .collect();
        diesel::insert_into(users::table)
            .values(&new)
            .execute(c)
            .await
            .unwrap()
    }

    pub async fn assoc(c: &mut AsyncPgConnection) -> Graph {
        let us = users::table.load::<User>(c).await.unwrap();
        let ps = Post::belonging_to(&us).load::<Post>(c).await.unwrap();
        let cs = Comment::belonging_to(&ps).load::<Comment>(c).await.unwrap();
        let cs = cs.grouped_by(&ps);
        let pcs = ps.into_iter().zip(cs).grouped_by(&us);
        us.into_iter().zip(pcs).collect()
    }
}

// ---- sqlx (query_as + FromRow, no compile-time macros) ----

pub type MediumRow = (
    i32,
    String,
    Option<String>,
    Option<i32>,
    Option<i32>,
    Option<String>,
    Option<String>,
);

pub fn medium_from_row(r: MediumRow) -> (User, Option<Post>) {
    let (id, name, hair_color, pid, user_id, title, body) = r;
    let post = pid.map(|id| Post {
        id,
        user_id: user_id.expect("posts.user_id"),
        title: title.expect("posts.title"),
        body,
    });
    (
        User {
            id,
            name,
            hair_color,
        },
        post,
    )
}

macro_rules! sqlx_workloads {
    ($m:ident, $db:ty, $conn:ty, $medium:expr) => {
        pub mod $m {
            use super::*;

            pub async fn trivial(c: &mut $conn) -> Vec<User> {
                sqlx::query_as::<_, User>("SELECT id, name, hair_color FROM users")
                    .fetch_all(&mut *c)
                    .await
                    .unwrap()
            }

            pub async fn medium(c: &mut $conn) -> Vec<(User, Option<Post>)> {
                sqlx::query_as::<_, MediumRow>($medium)
                    .bind("black")
                    .fetch_all(&mut *c)
                    .await
                    .unwrap()
                    .into_iter()
                    .map(medium_from_row)
                    .collect()
            }

            pub async fn insert(c: &mut $conn, rows: &Rows) -> u64 {
                let mut qb =
                    sqlx::QueryBuilder::<$db>::new("INSERT INTO users (name, hair_color) ");
                qb.push_values(rows, |mut b, (name, hair)| {
                    b.push_bind(name.as_str()).push_bind(hair.as_deref());
                });
                qb.build().execute(&mut *c).await.unwrap().rows_affected()
            }

            pub async fn assoc(c: &mut $conn) -> Graph {
                let us = trivial(c).await;
                let mut qb = sqlx::QueryBuilder::<$db>::new(
                    "SELECT id, user_id, title, body FROM posts WHERE user_id IN (",
                );
                let mut sep = qb.separated(", ");
                for u in &us {
                    sep.push_bind(u.id);
                }
                sep.push_unseparated(")");
                let ps: Vec<Post> = qb.build_query_as().fetch_all(&mut *c).await.unwrap();
                let mut qb = sqlx::QueryBuilder::<$db>::new(
                    "SELECT id, post_id, text FROM comments WHERE post_id IN (",
                );
                let mut sep = qb.separated(", ");
                for p in &ps {
                    sep.push_bind(p.id);
                }
                sep.push_unseparated(")");
                let cs: Vec<Comment> = qb.build_query_as().fetch_all(&mut *c).await.unwrap();
                let post_ids: Vec<i32> = ps.iter().map(|p| p.id).collect();
                let user_ids: Vec<i32> = us.iter().map(|u| u.id).collect();
                let cs = group_by_fk(&post_ids, cs, |c| c.post_id);
                let pcs = group_by_fk(&user_ids, ps.into_iter().zip(cs).collect(), |(p, _)| {
                    p.user_id
                });
                us.into_iter().zip(pcs).collect()
            }
        }
    };
}

sqlx_workloads!(
    sqlx_sqlite,
    sqlx::Sqlite,
    sqlx::SqliteConnection,
    "SELECT users.id, users.name, users.hair_color, posts.id, posts.user_id, posts.title, \
     posts.body FROM users LEFT OUTER JOIN posts ON users.id = posts.user_id \
     WHERE users.hair_color = ?"
);
sqlx_workloads!(
    sqlx_pg,
    sqlx::Postgres,
    sqlx::PgConnection,
    "SELECT users.id, users.name, users.hair_color, posts.id, posts.user_id, posts.title, \
     posts.body FROM users LEFT OUTER JOIN posts ON users.id = posts.user_id \
     WHERE users.hair_color = $1"
);

// ---- sea-orm (one module: `DatabaseConnection` covers both backends) ----

pub mod sea {
    use super::*;
    use crate::sea::{comment, post, user};
    use sea_orm::ActiveValue::{NotSet, Set};
    use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, LoaderTrait, QueryFilter};

    pub type SeaGraph = Vec<(user::Model, Vec<(post::Model, Vec<comment::Model>)>)>;

    pub async fn connect(url: &str) -> DatabaseConnection {
        let mut opt = sea_orm::ConnectOptions::new(url.to_owned());
        opt.max_connections(1)
            .min_connections(1)
            .idle_timeout(Duration::from_secs(3600))
            .sqlx_logging(false);
        sea_orm::Database::connect(opt).await.unwrap()
    }

    pub async fn trivial(db: &DatabaseConnection) -> Vec<user::Model> {
        user::Entity::find().all(db).await.unwrap()
    }

    pub async fn medium(db: &DatabaseConnection) -> Vec<(user::Model, Option<post::Model>)> {
        user::Entity::find()
            .find_also_related(post::Entity)
            .filter(user::Column::HairColor.eq("black"))
            .all(db)
            .await
            .unwrap()
    }

    pub async fn insert(db: &DatabaseConnection, rows: &Rows) {
        user::Entity::insert_many(rows.iter().map(|(name, hair)| user::ActiveModel {
            id: NotSet,
            name: Set(name.clone()),
            hair_color: Set(hair.clone()),
        }))
        .exec_without_returning(db)
        .await
        .unwrap();
    }

    pub async fn assoc(db: &DatabaseConnection) -> SeaGraph {
        let us = user::Entity::find().all(db).await.unwrap();
        let ps = us.load_many(post::Entity, db).await.unwrap();
        let counts: Vec<usize> = ps.iter().map(Vec::len).collect();
        let flat: Vec<post::Model> = ps.into_iter().flatten().collect();
        let cs = flat.load_many(comment::Entity, db).await.unwrap();
        let mut pcs = flat.into_iter().zip(cs);
        us.into_iter()
            .zip(counts)
            .map(|(u, n)| (u, pcs.by_ref().take(n).collect()))
            .collect()
    }

    pub async fn exec(db: &DatabaseConnection, sql: &str) {
        use sea_orm::ConnectionTrait;
        for s in crate::schema::statements(sql) {
            db.execute_unprepared(s).await.unwrap();
        }
    }
}
