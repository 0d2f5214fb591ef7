//! diesel's benchmark schema and data (`shared/benchmarks.md` §1), as SQL text shared by both
//! sides of the peer comparison: `benches/benches/peers.rs` (calcine, in this crate) and
//! `benches/peers/` (diesel, diesel-async, sqlx, sea-orm; its own workspace, which includes this
//! file with `#[path]`). Plain `std`, no dependencies.

/// Users per iteration of workloads 1 and 2.
pub const QUERY_SIZES: [usize; 5] = [1, 10, 100, 1_000, 10_000];
/// Rows per multi-row `INSERT` of workload 3.
pub const INSERT_SIZES: [usize; 5] = [1, 10, 25, 50, 100];
/// Workload 4: users (SQLite 9, PostgreSQL 100, as diesel) × 10 posts × 10 comments.
pub const ASSOC_USERS_SQLITE: usize = 9;
pub const ASSOC_USERS_PG: usize = 100;
pub const POSTS_PER_USER: usize = 10;
pub const COMMENTS_PER_POST: usize = 10;

/// SQLite schema (foreign keys indexed, as diesel's benchmark migrations).
pub const SQLITE_DDL: &str = "DROP TABLE IF EXISTS comments; DROP TABLE IF EXISTS posts; DROP TABLE IF EXISTS users;
CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL, hair_color TEXT);
CREATE TABLE posts (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL, title TEXT NOT NULL, body TEXT);
CREATE TABLE comments (id INTEGER PRIMARY KEY, post_id INTEGER NOT NULL, text TEXT NOT NULL);
CREATE INDEX posts_user_id ON posts (user_id);
CREATE INDEX comments_post_id ON comments (post_id);";

/// PostgreSQL schema (`SERIAL` = `int4`, decoded as `i32` by every peer).
pub const PG_DDL: &str = "DROP TABLE IF EXISTS comments; DROP TABLE IF EXISTS posts; DROP TABLE IF EXISTS users;
CREATE TABLE users (id SERIAL PRIMARY KEY, name TEXT NOT NULL, hair_color TEXT);
CREATE TABLE posts (id SERIAL PRIMARY KEY, user_id INTEGER NOT NULL, title TEXT NOT NULL, body TEXT);
CREATE TABLE comments (id SERIAL PRIMARY KEY, post_id INTEGER NOT NULL, text TEXT NOT NULL);
CREATE INDEX posts_user_id ON posts (user_id);
CREATE INDEX comments_post_id ON comments (post_id);";

/// Even ids are black (workload 2 selects half of the users).
// `is_multiple_of` needs Rust 1.87; this file also builds in the MSRV-1.86 workspace.
#[allow(clippy::manual_is_multiple_of)]
pub fn hair(i: usize) -> &'static str {
    if i % 2 == 0 { "black" } else { "brown" }
}

/// The rows of one workload-3 iteration: `("User i", Some(hair))`.
pub fn insert_rows(n: usize) -> Vec<(String, Option<String>)> {
    (0..n)
        .map(|i| (format!("User {i}"), Some(hair(i).to_owned())))
        .collect()
}

/// Empties the tables and fills them with `users` users, each with `posts` posts, each with
/// `comments` comments (ids from 1, dense). One batch of statements; `pg` picks the dialect.
pub fn seed_sql(pg: bool, users: usize, posts: usize, comments: usize) -> String {
    let np = users * posts;
    if pg {
        format!(
            "TRUNCATE comments, posts, users RESTART IDENTITY;
INSERT INTO users (id, name, hair_color) SELECT i, 'User ' || i, CASE WHEN i % 2 = 0 THEN 'black' ELSE 'brown' END FROM generate_series(1, {users}) AS i;
INSERT INTO posts (id, user_id, title, body) SELECT (u - 1) * {posts} + j, u, 'Post ' || j || ' by user ' || u, 'Body of post ' || j FROM generate_series(1, {users}) AS u, generate_series(1, {posts}) AS j;
INSERT INTO comments (id, post_id, text) SELECT (p - 1) * {comments} + k, p, 'Comment ' || k || ' on post ' || p FROM generate_series(1, {np}) AS p, generate_series(1, {comments}) AS k;
SELECT setval('users_id_seq', GREATEST({users}, 1)); SELECT setval('posts_id_seq', GREATEST({np}, 1));
ANALYZE users; ANALYZE posts; ANALYZE comments;"
        )
    } else {
        let ser = |name: &str, n: usize| {
            format!(
                "WITH RECURSIVE {name}(i) AS (SELECT 1 WHERE {n} > 0 UNION ALL SELECT i + 1 FROM {name} WHERE i < {n})"
            )
        };
        format!(
            "DELETE FROM comments; DELETE FROM posts; DELETE FROM users;
{su} INSERT INTO users (id, name, hair_color) SELECT i, 'User ' || i, CASE WHEN i % 2 = 0 THEN 'black' ELSE 'brown' END FROM s;
{sp}, u(i) AS (SELECT 1 WHERE {users} > 0 UNION ALL SELECT i + 1 FROM u WHERE i < {users}) INSERT INTO posts (id, user_id, title, body) SELECT (u.i - 1) * {posts} + j.i, u.i, 'Post ' || j.i || ' by user ' || u.i, 'Body of post ' || j.i FROM u, j;
{sc}, p(i) AS (SELECT 1 WHERE {np} > 0 UNION ALL SELECT i + 1 FROM p WHERE i < {np}) INSERT INTO comments (id, post_id, text) SELECT (p.i - 1) * {comments} + k.i, p.i, 'Comment ' || k.i || ' on post ' || p.i FROM p, k;
ANALYZE;",
            su = ser("s", users),
            sp = ser("j", posts),
            sc = ser("k", comments),
        )
    }
}

/// `stmts` split on `;` (for drivers without a multi-statement batch call).
pub fn statements(stmts: &str) -> impl Iterator<Item = &str> {
    stmts.split(';').map(str::trim).filter(|s| !s.is_empty())
}
