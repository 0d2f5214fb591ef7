//! diesel's benchmark schema as calcine ORM models (`#[derive(Model)]`, `Many` relationships)
//! and the ORM bodies of diesel's workloads 1-4, shared by `benches/peers.rs` (fresh `Session`,
//! `run_sync`) and `benches/concurrency.rs` (64 tasks, pool of 4). Bench code: panics on setup
//! errors.

use calcine::orm::{Many, Model, Obj, Session, joinedload, select as mselect, selectinload};

use crate::diesel_schema::{COMMENTS_PER_POST, POSTS_PER_USER};

// ---- ORM models (diesel's schema; ids are `int4` on PostgreSQL) ----

/// diesel's `users`.
#[derive(Model, Debug)]
#[calcine(table = "users")]
pub struct UserM {
    #[calcine(primary_key)]
    pub id: Option<i32>,
    pub name: String,
    pub hair_color: Option<String>,
    #[calcine(relationship)]
    pub posts: Many<PostM>,
}

/// diesel's `posts`.
#[derive(Model, Debug)]
#[calcine(table = "posts")]
pub struct PostM {
    #[calcine(primary_key)]
    pub id: Option<i32>,
    #[calcine(foreign_key = "users.id")]
    pub user_id: i32,
    pub title: String,
    pub body: Option<String>,
    #[calcine(relationship)]
    pub comments: Many<CommentM>,
}

/// diesel's `comments`.
#[derive(Model, Debug)]
#[calcine(table = "comments")]
pub struct CommentM {
    #[calcine(primary_key)]
    pub id: Option<i32>,
    #[calcine(foreign_key = "posts.id")]
    pub post_id: i32,
    pub text: String,
}

pub type Rows = [(String, Option<String>)];
pub type Medium = Vec<(Obj<UserM>, Option<Obj<PostM>>)>;
pub type Graph = Vec<(Obj<UserM>, Vec<(Obj<PostM>, Vec<Obj<CommentM>>)>)>;

// ---- calcine ORM bodies (plain `Session` code: run as is, or inside `run_sync`) ----

pub fn orm_trivial(s: &mut Session) -> calcine::Result<Vec<Obj<UserM>>> {
    s.scalars(&mselect::<UserM>())
}

pub fn orm_medium(s: &mut Session) -> calcine::Result<Medium> {
    let hair = UserM::mapper()
        .table()
        .c("hair_color")
        .expect("users.hair_color");
    let users = s.scalars(
        &mselect::<UserM>()
            .where_(hair.eq("black"))
            .options(joinedload(UserM::POSTS)),
    )?;
    let mut out = Vec::with_capacity(users.len());
    for u in users {
        let posts = u.read()?.posts.load()?;
        if posts.is_empty() {
            out.push((u, None));
        } else {
            for p in posts {
                out.push((u.clone(), Some(p)));
            }
        }
    }
    Ok(out)
}

pub fn orm_insert(s: &mut Session, rows: &Rows) -> calcine::Result<()> {
    s.add_all(rows.iter().map(|(name, hair)| UserM {
        id: None,
        name: name.clone(),
        hair_color: hair.clone(),
        posts: Many::new(),
    }));
    s.commit()
}

pub fn orm_assoc(s: &mut Session) -> calcine::Result<Graph> {
    let users = s.scalars(
        &mselect::<UserM>().options(selectinload(UserM::POSTS).selectinload(PostM::COMMENTS)),
    )?;
    users
        .into_iter()
        .map(|u| {
            let posts = u.read()?.posts.load()?;
            let posts = posts
                .into_iter()
                .map(|p| {
                    let comments = p.read()?.comments.load()?;
                    Ok((p, comments))
                })
                .collect::<calcine::Result<Vec<_>>>()?;
            Ok((u, posts))
        })
        .collect()
}

pub fn check_graph(g: &Graph, users: usize) {
    assert_eq!(g.len(), users);
    for (_, posts) in g {
        assert_eq!(posts.len(), POSTS_PER_USER);
        for (_, c) in posts {
            assert_eq!(c.len(), COMMENTS_PER_POST);
        }
    }
}
