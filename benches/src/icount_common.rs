//! What the two `icount` binaries share (`src/bin/icount.rs`, calcine's side, and
//! `peers/src/bin/icount.rs`, diesel's), included by `#[path]` into each: the command line, the
//! seed sizes it implies, the allocator switch and the function `tools/icount.sh` counts
//! instructions in.

use super::schema::{ASSOC_USERS_PG, ASSOC_USERS_SQLITE, COMMENTS_PER_POST, POSTS_PER_USER};

/// `--features mimalloc`: every allocation of the process through mimalloc instead of glibc.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Runs `f` `iters` times: callgrind counts this function alone
/// (`--toggle-collect=icount::icount_common::measured*`), so setup and seeding stay out.
/// With `ICOUNT_TIME` set it times the loop natively instead (callgrind's own heap layout
/// differs from a native run's under glibc, so its glibc counts are not what a native run
/// executes): a warm-up of `iters` runs, then 11 batches of `iters`, the median batch's
/// nanoseconds per iteration printed.
#[inline(never)]
pub fn measured(iters: usize, mut f: impl FnMut()) {
    if std::env::var_os("ICOUNT_TIME").is_none() {
        for _ in 0..iters {
            f();
        }
        return;
    }
    for _ in 0..iters {
        f();
    }
    let mut batches: Vec<f64> = (0..11)
        .map(|_| {
            let t = std::time::Instant::now();
            for _ in 0..iters {
                f();
            }
            t.elapsed().as_nanos() as f64 / iters as f64
        })
        .collect();
    batches.sort_by(f64::total_cmp);
    println!(
        "{:.0} ns/iteration (median of 11 batches of {iters}; min {:.0}, max {:.0})",
        batches[5], batches[0], batches[10]
    );
}

/// `icount <workload> <n> <iters>` and what it seeds.
pub struct Args {
    pub wl: String,
    pub n: usize,
    pub iters: usize,
    /// `ICOUNT_PG`: run on this PostgreSQL instead of SQLite.
    pub pg: Option<String>,
    /// Rows of `users`, `posts` per user, `comments` per post to seed.
    users: usize,
    posts: usize,
    comments: usize,
}

impl Args {
    /// The seed's SQL, for PostgreSQL when `ICOUNT_PG` is set.
    pub fn seed(&self) -> String {
        super::schema::seed_sql(self.pg.is_some(), self.users, self.posts, self.comments)
    }
}

/// The command line; `assoc` names the associations workload (seeded with posts and
/// comments), inserts seed nothing.
pub fn args(assoc: &str) -> Args {
    let argv: Vec<String> = std::env::args().collect();
    let (wl, n, iters) = match argv.as_slice() {
        [_, wl, n, iters] => (
            wl.clone(),
            n.parse::<usize>().expect("n"),
            iters.parse::<usize>().expect("iters"),
        ),
        _ => panic!("usage: icount <workload> <n> <iters>"),
    };
    let pg = std::env::var("ICOUNT_PG").ok();
    let users = match (wl.as_str(), pg.is_some()) {
        (w, false) if w == assoc => ASSOC_USERS_SQLITE,
        (w, true) if w == assoc => ASSOC_USERS_PG,
        (w, _) if w.ends_with("insert") => 0,
        _ => n,
    };
    let (posts, comments) = if wl == assoc {
        (POSTS_PER_USER, COMMENTS_PER_POST)
    } else {
        (0, 0)
    };
    Args {
        wl,
        n,
        iters,
        pg,
        users,
        posts,
        comments,
    }
}

/// diesel's trivial query through rusqlite, prepared through its statement cache, into
/// `(id, name, hair_color)` tuples: the raw driver's side, the same code in both processes (in
/// the peers' binary it is the cross-process anchor).
pub fn rusqlite_trivial(raw: &rusqlite::Connection) -> Vec<(i32, String, Option<String>)> {
    let mut st = raw
        .prepare_cached("SELECT users.id, users.name, users.hair_color FROM users")
        .expect("prepare");
    st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .expect("query")
        .collect::<rusqlite::Result<_>>()
        .expect("rows")
}
