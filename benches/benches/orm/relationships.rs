//! Loading associations (`shared/benchmarks.md` §1 workload 4 and §2 "lazy vs selectin vs
//! joined"): calcine ORM relationships under each loader strategy, vs the raw driver running the
//! efficient statements (one `SELECT` per level, children by an `IN` list of the parents' keys)
//! and grouping the rows into plain structs (what diesel's `belonging_to` + `grouped_by` does).
//!
//! Workloads (`<workload>.<strategy>/<backend>/<variant>`, raw: `<workload>/<backend>/raw`):
//! * `assoc`: diesel's workload 4, `users` × `posts` × `comments`, 100 users (SQLite: 9, as
//!   diesel) × 10 posts × 10 comments, loaded into `Vec<(User, Vec<(Post, Vec<Comment>)>)>`:
//!   calcine builds `Vec<(Obj<User>, Vec<(Obj<Post>, Vec<Obj<Comment>>)>)>` by walking
//!   `User::posts` / `Post::comments` with `Many::load()`.
//!   * `lazy`: `select::<User>()`, every collection loads on first access
//!     (1 + users + posts statements);
//!   * `selectin`: `.options(selectinload(User::POSTS).selectinload(Post::COMMENTS))`
//!     (one statement per level and batch of 500 parents);
//!   * `joined`: `.options(joinedload(User::POSTS).selectinload(Post::COMMENTS))` (users LEFT
//!     OUTER JOIN posts, then comments by `IN`);
//!   * `raw`: 3 statements (users; posts `WHERE user_id IN (...)`; comments
//!     `WHERE post_id IN (...)`; on PostgreSQL `= ANY($1)` with one array parameter, as calcine
//!     and diesel send them), grouped by foreign key into plain structs.
//!
//!   Variants `calcine_sync` (fresh `Session` per repetition) and `calcine_run_sync` (the same
//!   inside one `AsyncSession::run_sync` on a current-thread runtime, lazy loads included).
//! * `p1k`: 1,000 parents × 100 children (100,000 rows), same strategies, `calcine_sync`, and
//!   `raw` (2 statements); SQLAlchemy runs the same shapes in `sqlalchemy/orm.py`.

use std::collections::HashMap;
use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use calcine::asyncio::{AsyncEngine, AsyncSession};
use calcine::engine::ExecutePhase;
use calcine::orm::{
    Many, Model, ModelSelect, Obj, Session, joinedload, lazyload, select, selectinload,
};
use calcine::{Engine, create_engine};

use super::{Harness, Pg, env_usize};
use calcine_benches::diesel_schema::{
    ASSOC_USERS_PG, ASSOC_USERS_SQLITE, COMMENTS_PER_POST, POSTS_PER_USER,
};

// ---- models ----

// Not `calcine_benches::diesel_models` (`UserM`, `PostM`, `CommentM`), on purpose: these ids are
// `i64` and the tables are made by `create_all` from these models (`BIGINT` keys on PostgreSQL,
// read as `i64` by the raw side below), while `diesel_models` mirrors diesel's `SERIAL` (`int4`,
// `i32`) schema of `diesel_schema::PG_DDL`. Sharing them would change what this benchmark measures.

/// diesel's `users`.
#[derive(Model, Debug)]
#[calcine(table = "users")]
pub struct User {
    #[calcine(primary_key)]
    pub id: Option<i64>,
    pub name: String,
    pub hair_color: Option<String>,
    #[calcine(relationship)]
    pub posts: Many<Post>,
}

/// diesel's `posts`.
#[derive(Model, Debug)]
#[calcine(table = "posts")]
pub struct Post {
    #[calcine(primary_key)]
    pub id: Option<i64>,
    #[calcine(foreign_key = "users.id")]
    pub user_id: i64,
    pub title: String,
    pub body: Option<String>,
    #[calcine(relationship)]
    pub comments: Many<Comment>,
}

/// diesel's `comments`.
#[derive(Model, Debug)]
#[calcine(table = "comments")]
pub struct Comment {
    #[calcine(primary_key)]
    pub id: Option<i64>,
    #[calcine(foreign_key = "posts.id")]
    pub post_id: i64,
    pub text: String,
}

/// SQLAlchemy's parent of "lazy vs selectin vs joined".
#[derive(Model, Debug)]
#[calcine(table = "parent")]
pub struct Parent {
    #[calcine(primary_key)]
    pub id: Option<i64>,
    pub name: String,
    #[calcine(relationship)]
    pub children: Many<Child>,
}

/// Its child.
#[derive(Model, Debug)]
#[calcine(table = "child")]
pub struct Child {
    #[calcine(primary_key)]
    pub id: Option<i64>,
    #[calcine(foreign_key = "parent.id")]
    pub parent_id: i64,
    pub name: String,
}

/// The same rows as plain structs, for the raw drivers (only `black_box` reads most fields).
#[allow(dead_code)]
#[derive(Debug)]
pub struct PlainUser {
    pub id: i64,
    pub name: String,
    pub hair_color: Option<String>,
}

#[allow(dead_code)]
#[derive(Debug)]
pub struct PlainPost {
    pub id: i64,
    pub user_id: i64,
    pub title: String,
    pub body: Option<String>,
}

#[allow(dead_code)]
#[derive(Debug)]
pub struct PlainComment {
    pub id: i64,
    pub post_id: i64,
    pub text: String,
}

#[allow(dead_code)]
#[derive(Debug)]
pub struct PlainParent {
    pub id: i64,
    pub name: String,
}

#[allow(dead_code)]
#[derive(Debug)]
pub struct PlainChild {
    pub id: i64,
    pub parent_id: i64,
    pub name: String,
}

const PARENTS: usize = 1_000;
const CHILDREN_PER_PARENT: usize = 100;

#[derive(Clone, Copy)]
enum Strategy {
    Lazy,
    Selectin,
    Joined,
}

const STRATEGIES: [(Strategy, &str); 3] = [
    (Strategy::Lazy, "lazy"),
    (Strategy::Selectin, "selectin"),
    (Strategy::Joined, "joined"),
];

fn mappers() -> [&'static calcine::orm::Mapper; 5] {
    [
        User::mapper(),
        Post::mapper(),
        Comment::mapper(),
        Parent::mapper(),
        Child::mapper(),
    ]
}

/// Foreign keys get an index (as `index=True` in `sqlalchemy/orm.py`): without one every lazy
/// load is a full scan of the child table and the benchmark measures the database.
const FK_INDEXES: &str = "CREATE INDEX ix_posts_user_id ON posts (user_id);
CREATE INDEX ix_comments_post_id ON comments (post_id);
CREATE INDEX ix_child_parent_id ON child (parent_id);";

fn create_schema(engine: &Engine) {
    calcine::orm::create_all(engine, &mappers()).unwrap();
    let mut conn = engine.connect().unwrap();
    for ddl in FK_INDEXES.lines() {
        conn.execute(calcine::text(ddl)).unwrap();
    }
    conn.commit().unwrap();
}

// ---- calcine ----

type Graph = Vec<(Obj<User>, Vec<(Obj<Post>, Vec<Obj<Comment>>)>)>;
type Families = Vec<(Obj<Parent>, Vec<Obj<Child>>)>;

fn assoc_query(strategy: Strategy) -> ModelSelect<User> {
    match strategy {
        // `Post::comments` is lazy by default (`Load` has no chained `.lazyload`).
        Strategy::Lazy => select::<User>().options(lazyload(User::POSTS)),
        Strategy::Selectin => {
            select::<User>().options(selectinload(User::POSTS).selectinload(Post::COMMENTS))
        }
        Strategy::Joined => {
            select::<User>().options(joinedload(User::POSTS).selectinload(Post::COMMENTS))
        }
    }
}

fn p1k_query(strategy: Strategy) -> ModelSelect<Parent> {
    match strategy {
        Strategy::Lazy => select::<Parent>().options(lazyload(Parent::CHILDREN)),
        Strategy::Selectin => select::<Parent>().options(selectinload(Parent::CHILDREN)),
        Strategy::Joined => select::<Parent>().options(joinedload(Parent::CHILDREN)),
    }
}

/// The query, then every collection touched (a lazy load for `Lazy`, no IO otherwise).
fn assoc_body(s: &mut Session, strategy: Strategy) -> calcine::Result<Graph> {
    let users = s.scalars(&assoc_query(strategy))?;
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

fn p1k_body(s: &mut Session, strategy: Strategy) -> calcine::Result<Families> {
    let parents = s.scalars(&p1k_query(strategy))?;
    parents
        .into_iter()
        .map(|p| {
            let children = p.read()?.children.load()?;
            Ok((p, children))
        })
        .collect()
}

fn check_graph(g: &Graph, users: usize) {
    assert_eq!(g.len(), users);
    let comments: usize = g
        .iter()
        .map(|(_, posts)| {
            assert_eq!(posts.len(), POSTS_PER_USER);
            posts.iter().map(|(_, c)| c.len()).sum::<usize>()
        })
        .sum();
    assert_eq!(comments, users * POSTS_PER_USER * COMMENTS_PER_POST);
}

fn check_families(f: &Families) {
    assert_eq!(f.len(), PARENTS);
    assert!(f.iter().all(|(_, c)| c.len() == CHILDREN_PER_PARENT));
}

fn calcine_assoc_sync(engine: &Engine, strategy: Strategy, users: usize) -> Duration {
    let t = Instant::now();
    let mut s = Session::new(engine);
    let g = assoc_body(&mut s, strategy).unwrap();
    check_graph(&g, users);
    black_box(&g);
    drop(g);
    drop(s);
    t.elapsed()
}

fn calcine_assoc_run_sync(
    rt: &tokio::runtime::Runtime,
    ae: &AsyncEngine,
    strategy: Strategy,
    users: usize,
) -> Duration {
    rt.block_on(async {
        let t = Instant::now();
        let mut s = AsyncSession::new(ae);
        let g = s.run_sync(|s| assoc_body(s, strategy)).await.unwrap();
        check_graph(&g, users);
        black_box(&g);
        drop(g);
        drop(s);
        t.elapsed()
    })
}

fn calcine_p1k_sync(engine: &Engine, strategy: Strategy) -> Duration {
    let t = Instant::now();
    let mut s = Session::new(engine);
    let f = p1k_body(&mut s, strategy).unwrap();
    check_families(&f);
    black_box(&f);
    drop(f);
    drop(s);
    t.elapsed()
}

fn reps(strategy: Strategy, eager: usize, lazy: usize) -> usize {
    match strategy {
        Strategy::Lazy => lazy,
        _ => eager,
    }
}

/// Statements each calcine strategy sends (untimed, on `counted`, a second engine with an
/// execution hook, so the timed engine carries no listener).
fn count_statements(h: &mut Harness, backend: &str, counted: &Engine, users: usize) {
    let n = Arc::new(AtomicUsize::new(0));
    let c = n.clone();
    counted.on_execute(move |ev| {
        if ev.phase == ExecutePhase::Before {
            c.fetch_add(1, Ordering::Relaxed);
        }
    });
    for (strategy, name) in STRATEGIES {
        let mut s = Session::new(counted);
        let before = n.load(Ordering::Relaxed);
        check_graph(&assoc_body(&mut s, strategy).unwrap(), users);
        h.statements(
            &format!("assoc.{name}/{backend}"),
            n.load(Ordering::Relaxed) - before,
        );
        drop(s);
        let mut s = Session::new(counted);
        let before = n.load(Ordering::Relaxed);
        check_families(&p1k_body(&mut s, strategy).unwrap());
        h.statements(
            &format!("p1k.{name}/{backend}"),
            n.load(Ordering::Relaxed) - before,
        );
    }
}

/// Every calcine variant of both workloads on `engine`.
fn bench_calcine(h: &mut Harness, backend: &str, engine: &Engine, users: usize) {
    let ae = AsyncEngine::from_engine(engine.clone()).unwrap();
    let rt = calcine_benches::current_thread();
    let assoc_reps = env_usize("ORM_ASSOC_REPS", 11);
    let ops = users * POSTS_PER_USER * COMMENTS_PER_POST;
    for (strategy, name) in STRATEGIES {
        h.run(
            &format!("assoc.{name}/{backend}/calcine_sync"),
            ops,
            assoc_reps,
            || calcine_assoc_sync(engine, strategy, users),
        );
        h.run(
            &format!("assoc.{name}/{backend}/calcine_run_sync"),
            ops,
            assoc_reps,
            || calcine_assoc_run_sync(&rt, &ae, strategy, users),
        );
    }
    let eager = env_usize("ORM_P1K_REPS", 5);
    let lazy = env_usize("ORM_P1K_LAZY_REPS", 3);
    for (strategy, name) in STRATEGIES {
        h.run(
            &format!("p1k.{name}/{backend}/calcine_sync"),
            PARENTS * CHILDREN_PER_PARENT,
            reps(strategy, eager, lazy),
            || calcine_p1k_sync(engine, strategy),
        );
    }
}

// ---- raw: grouping by foreign key (diesel's `grouped_by`) ----

fn group<C>(parent_ids: &[i64], children: Vec<C>, fk: impl Fn(&C) -> i64) -> Vec<Vec<C>> {
    let index: HashMap<i64, usize> = parent_ids
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

type PlainGraph = Vec<(PlainUser, Vec<(PlainPost, Vec<PlainComment>)>)>;
type PlainFamilies = Vec<(PlainParent, Vec<PlainChild>)>;

fn assemble(
    users: Vec<PlainUser>,
    posts: Vec<PlainPost>,
    comments: Vec<PlainComment>,
) -> PlainGraph {
    let post_ids: Vec<i64> = posts.iter().map(|p| p.id).collect();
    let user_ids: Vec<i64> = users.iter().map(|u| u.id).collect();
    let mut comments = group(&post_ids, comments, |c| c.post_id).into_iter();
    let posts_with: Vec<(PlainPost, Vec<PlainComment>)> = posts
        .into_iter()
        .map(|p| (p, comments.next().unwrap_or_default()))
        .collect();
    let grouped = group(&user_ids, posts_with, |(p, _)| p.user_id);
    users.into_iter().zip(grouped).collect()
}

fn check_plain(g: &PlainGraph, users: usize) {
    assert_eq!(g.len(), users);
    let n: usize = g
        .iter()
        .flat_map(|(_, posts)| posts.iter().map(|(_, c)| c.len()))
        .sum();
    assert_eq!(n, users * POSTS_PER_USER * COMMENTS_PER_POST);
}

fn in_list(prefix: &str, n: usize) -> String {
    let mut s = String::with_capacity(prefix.len() + n * 6 + 2);
    s.push_str(prefix);
    s.push_str(" IN (");
    for i in 0..n {
        if i > 0 {
            s.push_str(", ");
        }
        s.push('?');
    }
    s.push(')');
    s
}

const USERS_SQL: &str = "SELECT users.id, users.name, users.hair_color FROM users";
const POSTS_SQL: &str = "SELECT posts.id, posts.user_id, posts.title, posts.body FROM posts \
     WHERE posts.user_id";
const COMMENTS_SQL: &str = "SELECT comments.id, comments.post_id, comments.text FROM comments \
     WHERE comments.post_id";
const PARENTS_SQL: &str = "SELECT parent.id, parent.name FROM parent";
const CHILDREN_SQL: &str = "SELECT child.id, child.parent_id, child.name FROM child \
     WHERE child.parent_id";

// ---- SQLite ----

fn sqlite_seed(path: &Path, users: usize) {
    let c = rusqlite::Connection::open(path).unwrap();
    c.execute_batch("BEGIN").unwrap();
    {
        let mut u = c
            .prepare("INSERT INTO users (name, hair_color) VALUES (?1, ?2)")
            .unwrap();
        let mut p = c
            .prepare("INSERT INTO posts (user_id, title, body) VALUES (?1, ?2, ?3)")
            .unwrap();
        let mut cm = c
            .prepare("INSERT INTO comments (post_id, text) VALUES (?1, ?2)")
            .unwrap();
        for i in 0..users {
            let hair = if i % 2 == 0 { "black" } else { "brown" };
            u.execute((format!("User {i}"), hair)).unwrap();
            let uid = c.last_insert_rowid();
            for j in 0..POSTS_PER_USER {
                p.execute((uid, format!("Post {j} by user {i}"), "body"))
                    .unwrap();
                let pid = c.last_insert_rowid();
                for k in 0..COMMENTS_PER_POST {
                    cm.execute((pid, format!("Comment {k} on post {j} by user {i}")))
                        .unwrap();
                }
            }
        }
        let mut pa = c.prepare("INSERT INTO parent (name) VALUES (?1)").unwrap();
        let mut ch = c
            .prepare("INSERT INTO child (parent_id, name) VALUES (?1, ?2)")
            .unwrap();
        for i in 0..PARENTS {
            pa.execute([format!("parent {i}")]).unwrap();
            let id = c.last_insert_rowid();
            for j in 0..CHILDREN_PER_PARENT {
                ch.execute((id, format!("child {j} of parent {i}")))
                    .unwrap();
            }
        }
    }
    c.execute_batch("COMMIT").unwrap();
}

fn rusqlite_assoc(c: &rusqlite::Connection) -> PlainGraph {
    let users: Vec<PlainUser> = c
        .prepare_cached(USERS_SQL)
        .unwrap()
        .query_map([], |r| {
            Ok(PlainUser {
                id: r.get(0)?,
                name: r.get(1)?,
                hair_color: r.get(2)?,
            })
        })
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    let ids: Vec<i64> = users.iter().map(|u| u.id).collect();
    let posts: Vec<PlainPost> = c
        .prepare_cached(&in_list(POSTS_SQL, ids.len()))
        .unwrap()
        .query_map(rusqlite::params_from_iter(&ids), |r| {
            Ok(PlainPost {
                id: r.get(0)?,
                user_id: r.get(1)?,
                title: r.get(2)?,
                body: r.get(3)?,
            })
        })
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    let ids: Vec<i64> = posts.iter().map(|p| p.id).collect();
    let comments: Vec<PlainComment> = c
        .prepare_cached(&in_list(COMMENTS_SQL, ids.len()))
        .unwrap()
        .query_map(rusqlite::params_from_iter(&ids), |r| {
            Ok(PlainComment {
                id: r.get(0)?,
                post_id: r.get(1)?,
                text: r.get(2)?,
            })
        })
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    assemble(users, posts, comments)
}

fn rusqlite_p1k(c: &rusqlite::Connection) -> PlainFamilies {
    let parents: Vec<PlainParent> = c
        .prepare_cached(PARENTS_SQL)
        .unwrap()
        .query_map([], |r| {
            Ok(PlainParent {
                id: r.get(0)?,
                name: r.get(1)?,
            })
        })
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    let ids: Vec<i64> = parents.iter().map(|p| p.id).collect();
    let children: Vec<PlainChild> = c
        .prepare_cached(&in_list(CHILDREN_SQL, ids.len()))
        .unwrap()
        .query_map(rusqlite::params_from_iter(&ids), |r| {
            Ok(PlainChild {
                id: r.get(0)?,
                parent_id: r.get(1)?,
                name: r.get(2)?,
            })
        })
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    let grouped = group(&ids, children, |c| c.parent_id);
    parents.into_iter().zip(grouped).collect()
}

fn timed_raw<G>(reads: impl FnOnce() -> G, check: impl FnOnce(&G)) -> Duration {
    let t = Instant::now();
    let g = reads();
    check(&g);
    black_box(&g);
    drop(g);
    t.elapsed()
}

pub(crate) fn bench_sqlite(h: &mut Harness) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("relationships.db");
    let engine = create_engine(format!("sqlite:///{}", path.display()).as_str()).unwrap();
    create_schema(&engine);
    sqlite_seed(&path, ASSOC_USERS_SQLITE);
    let url = format!("sqlite:///{}", path.display());
    count_statements(
        h,
        "sqlite",
        &create_engine(url.as_str()).unwrap(),
        ASSOC_USERS_SQLITE,
    );
    bench_calcine(h, "sqlite", &engine, ASSOC_USERS_SQLITE);

    let raw = calcine_benches::raw_sqlite(Some(&path));
    let users = ASSOC_USERS_SQLITE;
    h.run(
        "assoc/sqlite/raw",
        users * POSTS_PER_USER * COMMENTS_PER_POST,
        env_usize("ORM_ASSOC_REPS", 11),
        || {
            timed_raw(
                || {
                    raw.execute_batch("BEGIN").unwrap();
                    let g = rusqlite_assoc(&raw);
                    raw.execute_batch("COMMIT").unwrap();
                    g
                },
                |g| check_plain(g, users),
            )
        },
    );
    h.run(
        "p1k/sqlite/raw",
        PARENTS * CHILDREN_PER_PARENT,
        env_usize("ORM_P1K_REPS", 5),
        || {
            timed_raw(
                || {
                    raw.execute_batch("BEGIN").unwrap();
                    let f = rusqlite_p1k(&raw);
                    raw.execute_batch("COMMIT").unwrap();
                    f
                },
                |f| {
                    assert_eq!(f.len(), PARENTS);
                    assert!(f.iter().all(|(_, c)| c.len() == CHILDREN_PER_PARENT));
                },
            )
        },
    );
}

// ---- PostgreSQL ----

const PG_DROP: &str = "DROP TABLE IF EXISTS comments, posts, users, child, parent CASCADE";

fn pg_seed(pg: &Pg, users: usize) {
    pg.batch(&format!(
        "INSERT INTO users (name, hair_color) \
           SELECT 'User ' || i, CASE WHEN i % 2 = 0 THEN 'black' ELSE 'brown' END \
           FROM generate_series(0, {last_user}) AS i ORDER BY i;
         INSERT INTO posts (user_id, title, body) \
           SELECT u.id, 'Post ' || j || ' by user ' || u.id, 'body' \
           FROM users u, generate_series(0, {last_post}) AS j ORDER BY u.id, j;
         INSERT INTO comments (post_id, text) \
           SELECT p.id, 'Comment ' || k || ' on post ' || p.id \
           FROM posts p, generate_series(0, {last_comment}) AS k ORDER BY p.id, k;
         INSERT INTO parent (name) SELECT 'parent ' || i FROM generate_series(0, {last_parent}) AS i \
           ORDER BY i;
         INSERT INTO child (parent_id, name) \
           SELECT p.id, 'child ' || j || ' of parent ' || p.id \
           FROM parent p, generate_series(0, {last_child}) AS j ORDER BY p.id, j;",
        last_user = users - 1,
        last_post = POSTS_PER_USER - 1,
        last_comment = COMMENTS_PER_POST - 1,
        last_parent = PARENTS - 1,
        last_child = CHILDREN_PER_PARENT - 1,
    ));
    // One statement per batch: VACUUM cannot run in the implicit transaction of a multi-statement
    // batch.
    for t in ["users", "posts", "comments", "parent", "child"] {
        pg.batch(&format!("VACUUM ANALYZE {t}"));
    }
}

/// Prepared statements of the raw PostgreSQL side, prepared untimed on first use (the IN
/// lists have a fixed length per workload).
#[derive(Default)]
struct PgStatements(HashMap<String, tokio_postgres::Statement>);

impl PgStatements {
    async fn get(
        &mut self,
        client: &tokio_postgres::Client,
        sql: String,
    ) -> tokio_postgres::Statement {
        if let Some(st) = self.0.get(&sql) {
            return st.clone();
        }
        let st = client.prepare(&sql).await.unwrap();
        self.0.insert(sql, st.clone());
        st
    }
}

async fn pg_assoc(client: &tokio_postgres::Client, st: &mut PgStatements) -> PlainGraph {
    let q = st.get(client, USERS_SQL.to_owned()).await;
    let users: Vec<PlainUser> = client
        .query(&q, &[])
        .await
        .unwrap()
        .iter()
        .map(|r| PlainUser {
            id: r.get(0),
            name: r.get(1),
            hair_color: r.get(2),
        })
        .collect();
    let ids: Vec<i64> = users.iter().map(|u| u.id).collect();
    let q = st.get(client, format!("{POSTS_SQL} = ANY($1)")).await;
    let posts: Vec<PlainPost> = client
        .query(&q, &[&ids])
        .await
        .unwrap()
        .iter()
        .map(|r| PlainPost {
            id: r.get(0),
            user_id: r.get(1),
            title: r.get(2),
            body: r.get(3),
        })
        .collect();
    let ids: Vec<i64> = posts.iter().map(|p| p.id).collect();
    let q = st.get(client, format!("{COMMENTS_SQL} = ANY($1)")).await;
    let comments: Vec<PlainComment> = client
        .query(&q, &[&ids])
        .await
        .unwrap()
        .iter()
        .map(|r| PlainComment {
            id: r.get(0),
            post_id: r.get(1),
            text: r.get(2),
        })
        .collect();
    assemble(users, posts, comments)
}

async fn pg_p1k(client: &tokio_postgres::Client, st: &mut PgStatements) -> PlainFamilies {
    let q = st.get(client, PARENTS_SQL.to_owned()).await;
    let parents: Vec<PlainParent> = client
        .query(&q, &[])
        .await
        .unwrap()
        .iter()
        .map(|r| PlainParent {
            id: r.get(0),
            name: r.get(1),
        })
        .collect();
    let ids: Vec<i64> = parents.iter().map(|p| p.id).collect();
    let q = st.get(client, format!("{CHILDREN_SQL} = ANY($1)")).await;
    let children: Vec<PlainChild> = client
        .query(&q, &[&ids])
        .await
        .unwrap()
        .iter()
        .map(|r| PlainChild {
            id: r.get(0),
            parent_id: r.get(1),
            name: r.get(2),
        })
        .collect();
    let grouped = group(&ids, children, |c| c.parent_id);
    parents.into_iter().zip(grouped).collect()
}

pub(crate) fn bench_postgres(h: &mut Harness, url: &str) {
    let pg = Pg::connect(url);
    pg.batch(PG_DROP);
    let engine = create_engine(url).unwrap();
    create_schema(&engine);
    pg_seed(&pg, ASSOC_USERS_PG);
    count_statements(h, "postgres", &create_engine(url).unwrap(), ASSOC_USERS_PG);
    bench_calcine(h, "postgres", &engine, ASSOC_USERS_PG);

    let mut st = PgStatements::default();
    // Prepare untimed (the first run of each closure below would otherwise pay for it).
    pg.rt.block_on(async {
        black_box(pg_assoc(&pg.client, &mut st).await);
        black_box(pg_p1k(&pg.client, &mut st).await);
    });
    let users = ASSOC_USERS_PG;
    h.run(
        "assoc/postgres/raw",
        users * POSTS_PER_USER * COMMENTS_PER_POST,
        env_usize("ORM_ASSOC_REPS", 11),
        || {
            pg.rt.block_on(async {
                let t = Instant::now();
                pg.client.batch_execute("BEGIN").await.unwrap();
                let g = pg_assoc(&pg.client, &mut st).await;
                pg.client.batch_execute("COMMIT").await.unwrap();
                check_plain(&g, users);
                black_box(&g);
                drop(g);
                t.elapsed()
            })
        },
    );
    h.run(
        "p1k/postgres/raw",
        PARENTS * CHILDREN_PER_PARENT,
        env_usize("ORM_P1K_REPS", 5),
        || {
            pg.rt.block_on(async {
                let t = Instant::now();
                pg.client.batch_execute("BEGIN").await.unwrap();
                let f = pg_p1k(&pg.client, &mut st).await;
                pg.client.batch_execute("COMMIT").await.unwrap();
                assert_eq!(f.len(), PARENTS);
                assert!(f.iter().all(|(_, c)| c.len() == CHILDREN_PER_PARENT));
                black_box(&f);
                drop(f);
                t.elapsed()
            })
        },
    );
    drop(engine);
    pg.batch(PG_DROP);
}
