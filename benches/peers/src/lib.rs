//! Models of diesel's benchmark schema for each peer library: plain structs that diesel and
//! sqlx decode into (`Queryable`/`Selectable` and `sqlx::FromRow` on the same struct), and
//! hand-written sea-orm entities. The schema and seed data are `benches/src/diesel_schema.rs`,
//! shared with calcine's side.

#[path = "../../src/raw_sqlite.rs"]
mod raw_sqlite;
#[path = "../../src/diesel_schema.rs"]
pub mod schema;
pub mod workloads;

pub use raw_sqlite::raw_sqlite;

use diesel::prelude::*;

/// diesel's `table!` declarations.
pub mod tables {
    diesel::table! {
        users (id) {
            id -> Integer,
            name -> Text,
            hair_color -> Nullable<Text>,
        }
    }
    diesel::table! {
        posts (id) {
            id -> Integer,
            user_id -> Integer,
            title -> Text,
            body -> Nullable<Text>,
        }
    }
    diesel::table! {
        comments (id) {
            id -> Integer,
            post_id -> Integer,
            text -> Text,
        }
    }
    diesel::joinable!(posts -> users (user_id));
    diesel::joinable!(comments -> posts (post_id));
    diesel::allow_tables_to_appear_in_same_query!(users, posts, comments);
}

use tables::{comments, posts, users};

/// diesel's `User`.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Identifiable, sqlx::FromRow)]
#[diesel(table_name = users)]
pub struct User {
    pub id: i32,
    pub name: String,
    pub hair_color: Option<String>,
}

/// diesel's `Post`.
#[derive(
    Debug, Clone, PartialEq, Queryable, Selectable, Identifiable, Associations, sqlx::FromRow,
)]
#[diesel(table_name = posts, belongs_to(User))]
pub struct Post {
    pub id: i32,
    pub user_id: i32,
    pub title: String,
    pub body: Option<String>,
}

/// diesel's `Comment`.
#[derive(
    Debug, Clone, PartialEq, Queryable, Selectable, Identifiable, Associations, sqlx::FromRow,
)]
#[diesel(table_name = comments, belongs_to(Post))]
pub struct Comment {
    pub id: i32,
    pub post_id: i32,
    pub text: String,
}

/// diesel's `NewUser` (`None` binds NULL, so SQLite gets one multi-row `INSERT` too).
#[derive(Debug, Insertable)]
#[diesel(table_name = users, treat_none_as_default_value = false)]
pub struct NewUser<'a> {
    pub name: &'a str,
    pub hair_color: Option<&'a str>,
}

/// `Vec<(User, Vec<(Post, Vec<Comment>)>)>`: workload 4's result.
pub type Graph = Vec<(User, Vec<(Post, Vec<Comment>)>)>;

/// Workload 4's result with any model types (diesel/sqlx structs, sea-orm models).
pub type Nested<U, P, C> = [(U, Vec<(P, Vec<C>)>)];

/// Workload 4's shape check: every user with all posts, every post with all comments.
pub fn check_graph<U, P, C>(g: &Nested<U, P, C>, users: usize) {
    assert_eq!(g.len(), users);
    for (_, posts) in g {
        assert_eq!(posts.len(), schema::POSTS_PER_USER);
        for (_, c) in posts {
            assert_eq!(c.len(), schema::COMMENTS_PER_POST);
        }
    }
}

/// Groups `children` under `parent_ids` by foreign key (diesel's `grouped_by`), in parent order.
pub fn group_by_fk<C>(parent_ids: &[i32], children: Vec<C>, fk: impl Fn(&C) -> i32) -> Vec<Vec<C>> {
    let index: std::collections::HashMap<i32, usize> = parent_ids
        .iter()
        .enumerate()
        .map(|(i, id)| (*id, i))
        .collect();
    let mut out: Vec<Vec<C>> = parent_ids.iter().map(|_| Vec::new()).collect();
    for c in children {
        out[index[&fk(&c)]].push(c);
    }
    out
}

/// sea-orm entities, written by hand (no CLI).
pub mod sea {
    pub mod user {
        use sea_orm::entity::prelude::*;

        #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
        #[sea_orm(table_name = "users")]
        pub struct Model {
            #[sea_orm(primary_key)]
            pub id: i32,
            pub name: String,
            pub hair_color: Option<String>,
        }

        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub enum Relation {
            #[sea_orm(has_many = "super::post::Entity")]
            Post,
        }

        impl Related<super::post::Entity> for Entity {
            fn to() -> RelationDef {
                Relation::Post.def()
            }
        }

        impl ActiveModelBehavior for ActiveModel {}
    }

    pub mod post {
        use sea_orm::entity::prelude::*;

        #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
        #[sea_orm(table_name = "posts")]
        pub struct Model {
            #[sea_orm(primary_key)]
            pub id: i32,
            pub user_id: i32,
            pub title: String,
            pub body: Option<String>,
        }

        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub enum Relation {
            #[sea_orm(
                belongs_to = "super::user::Entity",
                from = "Column::UserId",
                to = "super::user::Column::Id"
            )]
            User,
            #[sea_orm(has_many = "super::comment::Entity")]
            Comment,
        }

        impl Related<super::user::Entity> for Entity {
            fn to() -> RelationDef {
                Relation::User.def()
            }
        }

        impl Related<super::comment::Entity> for Entity {
            fn to() -> RelationDef {
                Relation::Comment.def()
            }
        }

        impl ActiveModelBehavior for ActiveModel {}
    }

    pub mod comment {
        use sea_orm::entity::prelude::*;

        #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
        #[sea_orm(table_name = "comments")]
        pub struct Model {
            #[sea_orm(primary_key)]
            pub id: i32,
            pub post_id: i32,
            pub text: String,
        }

        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub enum Relation {
            #[sea_orm(
                belongs_to = "super::post::Entity",
                from = "Column::PostId",
                to = "super::post::Column::Id"
            )]
            Post,
        }

        impl Related<super::post::Entity> for Entity {
            fn to() -> RelationDef {
                Relation::Post.def()
            }
        }

        impl ActiveModelBehavior for ActiveModel {}
    }
}
