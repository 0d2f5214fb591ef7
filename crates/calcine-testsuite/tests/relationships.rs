//! Relationships, loader strategies and awaitable attributes (acceptance C29, C31, C32, C36,
//! C37, and issue 6's cascades) on every backend, sync and through `run_sync`. Statement
//! counts come from an execution hook, never from timing.

#![allow(clippy::unwrap_used, missing_docs, dead_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use calcine_asyncio::{AsyncEngine, AsyncSession, AwaitableAttrs};
use calcine_engine::{Engine, ErrorKind, ExecutePhase, Result};
use calcine_orm::{Many, Model, Obj, One, Session, Status, joinedload, select, selectinload};
use calcine_testsuite::{Db, each_backend};

#[derive(Model, Debug)]
#[calcine(table = "authors", crate = "calcine_orm")]
struct Author {
    #[calcine(primary_key)]
    id: Option<i64>,
    name: String,
    #[calcine(relationship(
        back_populates = "author",
        order_by = "id",
        cascade = "all, delete-orphan"
    ))]
    posts: Many<Post>,
}

#[derive(Model, Debug)]
#[calcine(table = "articles", crate = "calcine_orm")]
struct Post {
    #[calcine(primary_key)]
    id: Option<i64>,
    #[calcine(foreign_key = "authors.id")]
    author_id: Option<i64>,
    title: String,
    #[calcine(relationship(back_populates = "posts"))]
    author: One<Author>,
    #[calcine(relationship(order_by = "id", cascade = "all"))]
    comments: Many<Comment>,
}

#[derive(Model, Debug)]
#[calcine(table = "remarks", crate = "calcine_orm")]
struct Comment {
    #[calcine(primary_key)]
    id: Option<i64>,
    #[calcine(foreign_key = "articles.id")]
    post_id: Option<i64>,
    text: String,
}

#[derive(Model, Debug)]
#[calcine(table = "vaults", crate = "calcine_orm")]
struct Vault {
    #[calcine(primary_key)]
    id: Option<i64>,
    #[calcine(relationship(lazy = "raise"))]
    items: Many<Item>,
}

#[derive(Model, Debug)]
#[calcine(table = "vault_items", crate = "calcine_orm")]
struct Item {
    #[calcine(primary_key)]
    id: Option<i64>,
    #[calcine(foreign_key = "vaults.id")]
    vault_id: Option<i64>,
}

#[derive(Model, Debug)]
#[calcine(table = "students", crate = "calcine_orm")]
struct Student {
    #[calcine(primary_key)]
    id: Option<i64>,
    name: String,
    #[calcine(relationship(secondary = Enrollment, order_by = "id"))]
    courses: Many<Course>,
}

#[derive(Model, Debug)]
#[calcine(table = "courses", crate = "calcine_orm")]
struct Course {
    #[calcine(primary_key)]
    id: Option<i64>,
    title: String,
}

#[derive(Model, Debug)]
#[calcine(table = "enrollments", crate = "calcine_orm")]
struct Enrollment {
    #[calcine(primary_key, foreign_key = "students.id")]
    student_id: i64,
    #[calcine(primary_key, foreign_key = "courses.id")]
    course_id: i64,
}

#[derive(Model, Debug)]
#[calcine(table = "tree_nodes", crate = "calcine_orm")]
struct Node {
    #[calcine(primary_key)]
    id: Option<i64>,
    #[calcine(foreign_key = "tree_nodes.id")]
    parent_id: Option<i64>,
    name: String,
    #[calcine(relationship(back_populates = "parent", order_by = "id"))]
    children: Many<Node>,
    #[calcine(relationship(back_populates = "children"))]
    parent: One<Node>,
}

#[derive(Model, Debug)]
#[calcine(table = "accounts", crate = "calcine_orm")]
struct Account {
    #[calcine(primary_key)]
    id: Option<i64>,
    login: String,
    #[calcine(relationship(back_populates = "account"))]
    profile: One<Profile>,
}

#[derive(Model, Debug)]
#[calcine(table = "profiles", crate = "calcine_orm")]
struct Profile {
    #[calcine(primary_key)]
    id: Option<i64>,
    #[calcine(foreign_key = "accounts.id", unique)]
    account_id: Option<i64>,
    bio: String,
    #[calcine(relationship(back_populates = "profile"))]
    account: One<Account>,
}

#[derive(Model, Debug)]
#[calcine(table = "folders", crate = "calcine_orm")]
struct Folder {
    #[calcine(primary_key)]
    id: Option<i64>,
    #[calcine(relationship(lazy = "noload"))]
    files: Many<File>,
    #[calcine(relationship(cascade = "all", passive_deletes))]
    docs: Many<Doc>,
}

#[derive(Model, Debug)]
#[calcine(table = "files", crate = "calcine_orm")]
struct File {
    #[calcine(primary_key)]
    id: Option<i64>,
    #[calcine(foreign_key = "folders.id")]
    folder_id: Option<i64>,
}

#[derive(Model, Debug)]
#[calcine(table = "docs", crate = "calcine_orm")]
struct Doc {
    #[calcine(primary_key)]
    id: Option<i64>,
    #[calcine(foreign_key = "folders.id", on_delete = "cascade")]
    folder_id: Option<i64>,
}

fn author(name: &str) -> Author {
    Author {
        id: None,
        name: name.into(),
        posts: Many::new(),
    }
}

fn post(title: &str) -> Post {
    Post {
        id: None,
        author_id: None,
        title: title.into(),
        author: One::new(),
        comments: Many::new(),
    }
}

fn comment(text: &str) -> Comment {
    Comment {
        id: None,
        post_id: None,
        text: text.into(),
    }
}

struct Ctx {
    engine: Engine,
    count: Arc<AtomicUsize>,
}

impl Ctx {
    fn new(db: &Db) -> Ctx {
        let engine = db.engine();
        calcine_orm::create_all(
            &engine,
            &[
                Author::mapper(),
                Post::mapper(),
                Comment::mapper(),
                Vault::mapper(),
                Item::mapper(),
                Student::mapper(),
                Course::mapper(),
                Enrollment::mapper(),
                Node::mapper(),
                Account::mapper(),
                Profile::mapper(),
                Folder::mapper(),
                File::mapper(),
                Doc::mapper(),
            ],
        )
        .unwrap();
        let count = Arc::new(AtomicUsize::new(0));
        let c = count.clone();
        engine.on_execute(move |ev| {
            if ev.phase == ExecutePhase::Before {
                c.fetch_add(1, Ordering::SeqCst);
            }
        });
        Ctx { engine, count }
    }

    fn counting<R>(&self, f: impl FnOnce() -> R) -> (R, usize) {
        let before = self.count.load(Ordering::SeqCst);
        let r = f();
        (r, self.count.load(Ordering::SeqCst) - before)
    }
}

type Body = fn(&Ctx, &mut Session) -> Result<()>;

fn parity(body: Body) {
    each_backend(|db| {
        let ctx = Ctx::new(db);
        let mut s = Session::new(&ctx.engine);
        body(&ctx, &mut s).unwrap_or_else(|e| panic!("sync on {}: {e}", db.name));
        drop(s);
        let db2 = match db.name {
            "sqlite-memory" => calcine_testsuite::sqlite_memory(),
            "sqlite-file" => calcine_testsuite::sqlite_file(),
            _ => calcine_testsuite::postgres().unwrap(),
        };
        let ctx = Ctx::new(&db2);
        let engine = AsyncEngine::from_engine(ctx.engine.clone()).unwrap();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let mut s = AsyncSession::new(&engine);
            s.run_sync(|s| body(&ctx, s))
                .await
                .unwrap_or_else(|e| panic!("run_sync on {}: {e}", db.name));
            s.close().await;
        });
    });
}

/// An author with `n` posts, each with `m` comments, committed; returns the author's id.
fn seed(s: &mut Session, name: &str, n: usize, m: usize) -> Result<i64> {
    let a = s.add(author(name));
    for i in 0..n {
        let p = Obj::new(post(&format!("{name} post {i}")));
        for j in 0..m {
            p.write()?
                .comments
                .push(Obj::new(comment(&format!("c{j}"))))?;
        }
        a.write()?.posts.push(p)?;
    }
    s.commit()?;
    Ok(a.read()?.id.unwrap())
}

fn lazy_loading(ctx: &Ctx, s: &mut Session) -> Result<()> {
    let id = seed(s, "ann", 3, 0)?;
    s.close();
    let a = s.get_one::<Author>(id)?;
    let (posts, n) = ctx.counting(|| a.read().and_then(|a| a.posts.load()));
    let posts = posts?;
    assert_eq!(posts.len(), 3);
    assert_eq!(n, 1, "one SELECT for the collection");
    let (again, n) = ctx.counting(|| a.read().and_then(|a| a.posts.load()));
    assert_eq!(again?.len(), 3);
    assert_eq!(n, 0, "loaded once");
    // Many-to-one to a loaded parent: the identity map, no SQL.
    let (parent, n) = ctx.counting(|| posts[0].read().and_then(|p| p.author.get()));
    assert!(parent?.unwrap() == a);
    assert_eq!(n, 0);
    // Ordered by id, foreign keys set by the flush.
    let ids: Vec<i64> = posts
        .iter()
        .map(|p| p.read().unwrap().id.unwrap())
        .collect();
    let mut sorted = ids.clone();
    sorted.sort_unstable();
    assert_eq!(ids, sorted);
    for p in &posts {
        assert_eq!(p.read()?.author_id, Some(id));
    }
    Ok(())
}

#[test]
fn lazy_one_to_many_and_many_to_one() {
    parity(lazy_loading);
}

fn many_to_one_cold(ctx: &Ctx, s: &mut Session) -> Result<()> {
    let id = seed(s, "bob", 1, 0)?;
    s.close();
    let posts = s.scalars(&select::<Post>())?;
    let (a, n) = ctx.counting(|| posts[0].read().and_then(|p| p.author.get()));
    assert_eq!(a?.unwrap().read()?.id, Some(id));
    assert_eq!(n, 1, "one SELECT by primary key");
    Ok(())
}

#[test]
fn many_to_one_loads_by_key() {
    parity(many_to_one_cold);
}

fn eager_loading(ctx: &Ctx, s: &mut Session) -> Result<()> {
    // 1,000 parents x 2 children x 1 grandchild.
    for i in 0..1000 {
        let a = s.add(author(&format!("a{i:04}")));
        for j in 0..2 {
            let p = Obj::new(post(&format!("p{j}")));
            p.write()?.comments.push(Obj::new(comment("c")))?;
            a.write()?.posts.push(p)?;
        }
    }
    s.commit()?;
    s.close();

    // selectin: 1 + ceil(1000 / 500) statements.
    let (authors, n) =
        ctx.counting(|| s.scalars(&select::<Author>().options(selectinload(Author::POSTS))));
    let authors = authors?;
    assert_eq!(authors.len(), 1000);
    assert_eq!(n, 1 + 2, "selectinload over 1,000 parents");
    let (total, n) = ctx.counting(|| {
        authors
            .iter()
            .map(|a| a.read().and_then(|a| a.posts.load()).map(|p| p.len()))
            .sum::<Result<usize>>()
    });
    assert_eq!(total?, 2000);
    assert_eq!(n, 0, "all collections were loaded");
    s.close();

    // joined: one statement, parents de-duplicated.
    let (authors, n) =
        ctx.counting(|| s.scalars(&select::<Author>().options(joinedload(Author::POSTS))));
    let authors = authors?;
    assert_eq!(authors.len(), 1000);
    assert_eq!(n, 1, "joinedload is one statement");
    let (total, n) = ctx.counting(|| {
        authors
            .iter()
            .map(|a| a.read().and_then(|a| a.posts.load()).map(|p| p.len()))
            .sum::<Result<usize>>()
    });
    assert_eq!(total?, 2000);
    assert_eq!(n, 0);
    s.close();

    // Nested: two levels, then no IO.
    nested_load(
        ctx,
        s,
        selectinload(Author::POSTS).selectinload(Post::COMMENTS),
        3,
        "parents, posts, comments",
    )?;
    s.close();

    // Joined first level, then selectin: parents+posts in one statement, comments in one more.
    nested_load(
        ctx,
        s,
        joinedload(Author::POSTS).selectinload(Post::COMMENTS),
        2,
        "joined parents and posts, then comments",
    )?;
    Ok(())
}

#[test]
fn c36_selectin_joined_nested() {
    parity(eager_loading);
}

/// A joined load whose base statement repeats each parent row (a cross join with two courses:
/// the parents come back interleaved, not one run each): every parent once, in order of first
/// appearance, and every child once in its parent's collection, in one statement.
fn joined_repeated_parents(ctx: &Ctx, s: &mut Session) -> Result<()> {
    seed(s, "ann", 3, 0)?;
    seed(s, "bob", 1, 0)?;
    seed(s, "cid", 0, 0)?;
    for title in ["algebra", "botany"] {
        s.add(Course {
            id: None,
            title: title.into(),
        });
    }
    s.commit()?;
    s.close();
    let q = select::<Author>()
        .join(Course::mapper().table(), calcine_sql::true_())?
        .options(joinedload(Author::POSTS));
    let (authors, n) = ctx.counting(|| s.scalars(&q));
    let authors = authors?;
    assert_eq!(n, 1, "one statement");
    let mut names: Vec<String> = authors
        .iter()
        .map(|a| a.read().map(|a| a.name.clone()))
        .collect::<Result<_>>()?;
    names.sort();
    assert_eq!(names, ["ann", "bob", "cid"], "each parent once");
    let (counts, n) = ctx.counting(|| -> Result<Vec<(String, Vec<String>)>> {
        let mut out = Vec::new();
        for a in &authors {
            let a = a.read()?;
            let mut titles: Vec<String> = a
                .posts
                .load()?
                .iter()
                .map(|p| p.read().map(|p| p.title.clone()))
                .collect::<Result<_>>()?;
            titles.sort();
            out.push((a.name.clone(), titles));
        }
        out.sort();
        Ok(out)
    });
    assert_eq!(n, 0, "every collection came with the join");
    assert_eq!(
        counts?,
        [
            (
                "ann".to_owned(),
                vec![
                    "ann post 0".to_owned(),
                    "ann post 1".to_owned(),
                    "ann post 2".to_owned()
                ]
            ),
            ("bob".to_owned(), vec!["bob post 0".to_owned()]),
            ("cid".to_owned(), vec![]),
        ],
        "each child once, the childless parent loaded empty"
    );
    Ok(())
}

#[test]
fn joined_load_deduplicates_repeated_parent_rows() {
    parity(joined_repeated_parents);
}

/// `get` by a composite key (its SQL is compiled once per mapper and dialect, the key's values
/// bound in key-column order): the right row for each key, `None` for a missing one, an error
/// for a key of the wrong length.
fn get_composite(_ctx: &Ctx, s: &mut Session) -> Result<()> {
    let ann = s.add(Student {
        id: None,
        name: "ann".into(),
        courses: Many::new(),
    });
    let c1 = s.add(Course {
        id: None,
        title: "algebra".into(),
    });
    let c2 = s.add(Course {
        id: None,
        title: "botany".into(),
    });
    s.flush()?;
    let (sid, id1, id2) = (
        ann.read()?.id.unwrap(),
        c1.read()?.id.unwrap(),
        c2.read()?.id.unwrap(),
    );
    s.add(Enrollment {
        student_id: sid,
        course_id: id1,
    });
    s.commit()?;
    s.close();
    let key = |a: i64, b: i64| {
        calcine_orm::Key::Composite(
            vec![calcine_orm::KeyPart::Int(a), calcine_orm::KeyPart::Int(b)].into(),
        )
    };
    for _ in 0..2 {
        let e = s.get::<Enrollment>(key(sid, id1))?.expect("enrolled");
        assert_eq!((e.read()?.student_id, e.read()?.course_id), (sid, id1));
        assert!(
            s.get::<Enrollment>(key(sid, id2))?.is_none(),
            "not enrolled in botany"
        );
        assert!(
            s.get::<Enrollment>(key(id2 + 100, id1))?.is_none(),
            "no such student"
        );
        s.close();
    }
    let err = s.get::<Enrollment>(sid).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidRequest, "{err}");
    Ok(())
}

#[test]
fn get_by_composite_key() {
    parity(get_composite);
}

/// Loads the first 10 authors with `option`, checks it took `statements` statements, then walks
/// every post's comments (20 in all) without any more IO.
fn nested_load(
    ctx: &Ctx,
    s: &mut Session,
    option: impl Into<calcine_orm::LoadPath>,
    statements: usize,
    what: &str,
) -> Result<()> {
    let q = select::<Author>()
        .where_(Author::NAME.lt("a0010"))
        .options(option);
    let (authors, n) = ctx.counting(|| s.scalars(&q));
    let authors = authors?;
    assert_eq!(authors.len(), 10);
    assert_eq!(n, statements, "{what}");
    let (comments, n) = ctx.counting(|| -> Result<usize> {
        let mut c = 0;
        for a in &authors {
            for p in a.read()?.posts.load()? {
                c += p.read()?.comments.load()?.len();
            }
        }
        Ok(c)
    });
    assert_eq!(comments?, 20);
    assert_eq!(n, 0, "{what}: then no IO");
    Ok(())
}

fn raise_loading(_ctx: &Ctx, s: &mut Session) -> Result<()> {
    let v = s.add(Vault {
        id: None,
        items: Many::new(),
    });
    s.commit()?;
    let id = v.read()?.id.unwrap();
    s.close();
    let v = s.get_one::<Vault>(id)?;
    let err = v.read()?.items.load().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidRequest);
    assert!(err.to_string().contains("Vault.items"), "{err}");
    assert!(err.to_string().contains("lazy='raise'"), "{err}");
    // An eager option still loads it.
    s.close();
    let vs = s.scalars(&select::<Vault>().options(selectinload(Vault::ITEMS)))?;
    assert!(vs[0].read()?.items.load()?.is_empty());
    Ok(())
}

#[test]
fn c37_lazy_raise() {
    parity(raise_loading);
}

fn refresh_relationship(ctx: &Ctx, s: &mut Session) -> Result<()> {
    let id = seed(s, "cy", 2, 0)?;
    s.close();
    let a = s.get_one::<Author>(id)?;
    assert!(!a.read()?.posts.is_loaded());
    let (r, n) = ctx.counting(|| s.refresh_relationships(&a, &["posts"]));
    r?;
    assert_eq!(n, 1);
    assert!(a.read()?.posts.is_loaded());
    let (p, n) = ctx.counting(|| a.read().and_then(|a| a.posts.load()));
    assert_eq!(p?.len(), 2);
    assert_eq!(n, 0);
    let err = s.refresh_relationships(&a, &["nope"]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidRequest);
    Ok(())
}

#[test]
fn c32_refresh_named_relationship() {
    parity(refresh_relationship);
}

fn cascades(_ctx: &Ctx, s: &mut Session) -> Result<()> {
    let id = seed(s, "dee", 3, 1)?;
    s.close();
    let a = s.get_one::<Author>(id)?;
    let posts = a.read()?.posts.load()?;
    // delete-orphan: removing a post from the collection deletes it.
    a.write()?.posts.remove(&posts[0])?;
    s.flush()?;
    assert_eq!(posts[0].status(), Status::Deleted);
    let left: i64 = s.scalar(
        &calcine_sql::select(calcine_sql::func::count_star()).select_from(Post::mapper().table()),
    )?;
    assert_eq!(left, 2);
    // cascade delete: deleting the author deletes its posts and (cascade all) their comments.
    s.delete(&a)?;
    s.commit()?;
    for table in [Author::mapper(), Post::mapper(), Comment::mapper()] {
        let n: i64 = s.scalar(
            &calcine_sql::select(calcine_sql::func::count_star()).select_from(table.table()),
        )?;
        assert_eq!(n, 0, "{}", table.table().name());
    }
    Ok(())
}

#[test]
fn cascade_delete_and_delete_orphan() {
    parity(cascades);
}

fn many_to_many(ctx: &Ctx, s: &mut Session) -> Result<()> {
    let st = s.add(Student {
        id: None,
        name: "eve".into(),
        courses: Many::new(),
    });
    let math = Obj::new(Course {
        id: None,
        title: "math".into(),
    });
    let art = Obj::new(Course {
        id: None,
        title: "art".into(),
    });
    st.write()?.courses.push(math.clone())?;
    st.write()?.courses.push(art.clone())?;
    s.commit()?;
    let sid = st.read()?.id.unwrap();
    s.close();
    let st = s.get_one::<Student>(sid)?;
    let (courses, n) = ctx.counting(|| st.read().and_then(|s| s.courses.load()));
    let titles: Vec<String> = courses?
        .iter()
        .map(|c| c.read().unwrap().title.clone())
        .collect();
    assert_eq!(titles, ["math", "art"]);
    assert_eq!(n, 1);
    let first = st.read()?.courses.load()?[0].clone();
    st.write()?.courses.remove(&first)?;
    s.commit()?;
    s.close();
    let st = s.get_one::<Student>(sid)?;
    assert_eq!(st.read()?.courses.load()?.len(), 1);
    let rows: i64 = s.scalar(
        &calcine_sql::select(calcine_sql::func::count_star())
            .select_from(Enrollment::mapper().table()),
    )?;
    assert_eq!(rows, 1);
    Ok(())
}

#[test]
fn many_to_many_through_association() {
    parity(many_to_many);
}

fn self_referential(ctx: &Ctx, s: &mut Session) -> Result<()> {
    let root = s.add(Node {
        id: None,
        parent_id: None,
        name: "root".into(),
        children: Many::new(),
        parent: One::new(),
    });
    let child = Obj::new(Node {
        id: None,
        parent_id: None,
        name: "child".into(),
        children: Many::new(),
        parent: One::new(),
    });
    let grandchild = Obj::new(Node {
        id: None,
        parent_id: None,
        name: "grandchild".into(),
        children: Many::new(),
        parent: One::new(),
    });
    child.write()?.children.push(grandchild.clone())?;
    root.write()?.children.push(child.clone())?;
    s.commit()?;
    assert_eq!(child.read()?.parent_id, root.read()?.id);
    assert_eq!(grandchild.read()?.parent_id, child.read()?.id);
    let (p, n) = ctx.counting(|| grandchild.read().and_then(|g| g.parent.get()));
    assert!(p?.unwrap() == child);
    assert_eq!(n, 0, "the parent is in the identity map");
    Ok(())
}

#[test]
fn self_referential_adjacency_list() {
    parity(self_referential);
}

/// `Session::for_each_partition` (SQLAlchemy's `yield_per(n)` + `partitions()`): one statement
/// fetched n rows at a time, after an autoflush, each partition the session's own instances;
/// implicit IO inside the callback is refused while the connection streams; the callback's
/// error comes back as it is; loader options are refused; the session works afterwards.
fn partitions(ctx: &Ctx, s: &mut Session) -> Result<()> {
    for i in 0..25 {
        s.add(author(&format!("p{i:02}")));
    }
    s.flush()?;
    let q = select::<Author>().order_by([Author::NAME.asc()]);
    let mut sizes = Vec::new();
    let mut names = Vec::new();
    let mut first = None;
    let (streamed, n) = ctx.counting(|| {
        s.for_each_partition(&q, 10, |part| {
            sizes.push(part.len());
            for a in &part {
                names.push(a.read()?.name.clone());
            }
            let err = part[0].read()?.posts.load().unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidRequest, "{err}");
            first.get_or_insert_with(|| part[0].clone());
            Ok(())
        })
    });
    streamed?;
    assert_eq!(n, 1, "one statement, fetched in partitions");
    assert_eq!(sizes, [10, 10, 5]);
    let want: Vec<String> = (0..25).map(|i| format!("p{i:02}")).collect();
    assert_eq!(names, want);
    let first = first.unwrap();
    let id = first.read()?.id.unwrap();
    assert!(
        s.get::<Author>(id)?.unwrap() == first,
        "the session's own instance"
    );

    let err = s
        .for_each_partition(&q, 10, |_| {
            Err(calcine_engine::Error::invalid_request("stop here"))
        })
        .unwrap_err();
    assert!(err.to_string().contains("stop here"), "{err}");
    let err = s
        .for_each_partition(&q.clone().options(selectinload(Author::POSTS)), 10, |_| {
            Ok(())
        })
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidRequest, "{err}");

    s.commit()?;
    let mut total = 0;
    s.for_each_partition(&select::<Author>(), 7, |p| {
        total += p.len();
        Ok(())
    })?;
    assert_eq!(
        total, 25,
        "committed, and streamed again in a new transaction"
    );
    assert_eq!(
        first.read()?.posts.load()?.len(),
        0,
        "lazy loads work after the stream"
    );
    Ok(())
}

#[test]
fn for_each_partition_streams_the_sessions_instances() {
    parity(partitions);
}

/// Implicit IO while the session's connection streams results is refused, typed, instead of
/// running on a second connection outside the session's transaction: that connection did not
/// see what the session had flushed, and when the stream's connection came back it was dropped,
/// rolling the flushed work back (an object added before the stream vanished at commit). After
/// the stream, the session's connection is its own again: the commit keeps everything and lazy
/// loads work.
#[test]
fn implicit_io_inside_a_stream_is_refused_and_loses_nothing() {
    each_backend(|db| {
        let ctx = Ctx::new(db);
        let mut s = Session::new(&ctx.engine);
        seed(&mut s, "ann", 2, 0).unwrap();
        drop(s);
        let engine = AsyncEngine::from_engine(ctx.engine.clone()).unwrap();
        let rt = calcine_testsuite::runtime();
        rt.block_on(async {
            let mut s = AsyncSession::new(&engine);
            s.add(author("zed"));
            let q = select::<Author>().order_by([Author::ID.asc()]);
            let mut st = s.stream_scalars::<Author>(&q).await.unwrap();
            let mut streamed = Vec::new();
            while let Some(a) = st.next().await.unwrap() {
                let err = a.awaitable(|a| a.posts.load()).await.unwrap_err();
                assert_eq!(err.kind(), ErrorKind::InvalidRequest, "{}: {err}", db.name);
                assert!(err.to_string().contains("streaming"), "{err}");
                streamed.push(a);
            }
            drop(st);
            assert!(
                s.in_transaction(),
                "{}: the lent connection runs the transaction",
                db.name
            );
            assert_eq!(streamed.len(), 2, "{}: ann and the flushed zed", db.name);
            s.commit().await.unwrap();
            let posts = streamed[0].awaitable(|a| a.posts.load()).await.unwrap();
            assert_eq!(
                posts.len(),
                2,
                "{}: lazy loads work after the stream",
                db.name
            );
            s.close().await;
        });
        let mut s = Session::new(&ctx.engine);
        let names: Vec<String> = s
            .scalars(&select::<Author>().order_by([Author::ID.asc()]))
            .unwrap()
            .iter()
            .map(|a| a.read().unwrap().name.clone())
            .collect();
        assert_eq!(
            names,
            ["ann", "zed"],
            "{}: the flushed object was committed",
            db.name
        );
    });
}

// C29 (async half), C31: lazy access outside a greenlet is MissingGreenlet naming the
// attribute; inside run_sync it loads; an awaitable attribute loads with exactly one statement,
// none when eager-loaded, and gives [] for a pending object.
#[test]
fn c29_c31_async_lazy_loading_and_awaitable_attributes() {
    each_backend(|db| {
        let ctx = Ctx::new(db);
        let mut s = Session::new(&ctx.engine);
        let id = seed(&mut s, "fay", 2, 0).unwrap();
        drop(s);
        let engine = AsyncEngine::from_engine(ctx.engine.clone()).unwrap();
        let rt = calcine_testsuite::runtime();
        rt.block_on(async {
            let mut s = AsyncSession::new(&engine);
            let a = s.get_one::<Author>(id).await.unwrap();
            let err = a.read().unwrap().posts.load().unwrap_err();
            assert_eq!(err.kind(), ErrorKind::MissingGreenlet, "{err}");
            assert!(err.to_string().contains("Author.posts"), "{err}");

            let before = ctx.count.load(Ordering::SeqCst);
            let posts = a.awaitable(|a| a.posts.load()).await.unwrap();
            assert_eq!(posts.len(), 2);
            assert_eq!(
                ctx.count.load(Ordering::SeqCst) - before,
                1,
                "exactly one statement"
            );
            // Afterwards plain access does no IO, outside any greenlet.
            assert_eq!(a.read().unwrap().posts.load().unwrap().len(), 2);

            // Eager-loaded: the awaitable attribute does no IO.
            s.expunge_all();
            let authors = s
                .scalars(&select::<Author>().options(selectinload(Author::POSTS)))
                .await
                .unwrap();
            let before = ctx.count.load(Ordering::SeqCst);
            let posts = authors[0].awaitable(|a| a.posts.load()).await.unwrap();
            assert_eq!(posts.len(), 2);
            assert_eq!(ctx.count.load(Ordering::SeqCst) - before, 0);

            // Pending object: [] without IO.
            let pending = s.add(author("pending"));
            let before = ctx.count.load(Ordering::SeqCst);
            let posts = pending.awaitable(|a| a.posts.load()).await.unwrap();
            assert!(posts.is_empty());
            assert_eq!(ctx.count.load(Ordering::SeqCst) - before, 0);

            // Inside run_sync a lazy load just works.
            s.expunge_all();
            let a = s.get_one::<Author>(id).await.unwrap();
            let n = s
                .run_sync(|_| a.read().and_then(|a| a.posts.load()).map(|p| p.len()))
                .await
                .unwrap();
            assert_eq!(n, 2);
            s.rollback().await.unwrap();
            s.close().await;
        });
    });
}

// A detached parent cannot lazy-load.
#[test]
fn detached_instance_lazy_load_is_typed() {
    each_backend(|db| {
        let ctx = Ctx::new(db);
        let mut s = Session::new(&ctx.engine);
        let id = seed(&mut s, "gus", 1, 0).unwrap();
        s.close();
        let a = s.get_one::<Author>(id).unwrap();
        s.expunge(&a);
        let err = a.read().unwrap().posts.load().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::DetachedInstance, "{err}");
        assert!(err.to_string().contains("posts"), "{err}");
    });
}

fn back_populates_in_memory(ctx: &Ctx, s: &mut Session) -> Result<()> {
    let a = s.add(author("hal"));
    let p = Obj::new(post("first"));
    a.write()?.posts.push(p.clone())?;
    // The other side sees it before any flush, with no IO.
    let (back, n) = ctx.counting(|| p.read().and_then(|p| p.author.get()));
    assert!(back?.unwrap() == a);
    assert_eq!(n, 0);
    s.commit()?;
    let a = s.get_one::<Author>(a.read()?.id.unwrap())?;
    assert_eq!(a.read()?.posts.load()?.len(), 1);
    // Setting the many-to-one side appends to the loaded collection.
    let p2 = s.add(post("second"));
    p2.write()?.author.set(Some(&a));
    assert_eq!(a.read()?.posts.load()?.len(), 2);
    s.commit()?;
    assert_eq!(p2.read()?.author_id, a.read()?.id);
    Ok(())
}

#[test]
fn back_populates_both_sides() {
    parity(back_populates_in_memory);
}

fn one_to_one(ctx: &Ctx, s: &mut Session) -> Result<()> {
    let acc = s.add(Account {
        id: None,
        login: "ida".into(),
        profile: One::new(),
    });
    let prof = Obj::new(Profile {
        id: None,
        account_id: None,
        bio: "hello".into(),
        account: One::new(),
    });
    prof.write()?.account.set(Some(&acc));
    s.add_obj(&prof)?;
    s.commit()?;
    let aid = acc.read()?.id.unwrap();
    assert_eq!(prof.read()?.account_id, Some(aid));
    s.close();
    // The referenced side loads its scalar with one SELECT.
    let acc = s.get_one::<Account>(aid)?;
    let (p, n) = ctx.counting(|| acc.read().and_then(|a| a.profile.get()));
    assert_eq!(p?.unwrap().read()?.bio, "hello");
    assert_eq!(n, 1);
    Ok(())
}

#[test]
fn one_to_one_both_sides() {
    parity(one_to_one);
}

fn noload_passive_override(ctx: &Ctx, s: &mut Session) -> Result<()> {
    let f = s.add(Folder {
        id: None,
        files: Many::new(),
        docs: Many::new(),
    });
    s.flush()?;
    let fid = f.read()?.id.unwrap();
    s.add(File {
        id: None,
        folder_id: Some(fid),
    });
    s.add(Doc {
        id: None,
        folder_id: Some(fid),
    });
    s.commit()?;
    s.close();
    // noload: never loads, even though a row exists.
    let f = s.get_one::<Folder>(fid)?;
    let (files, n) = ctx.counting(|| f.read().and_then(|f| f.files.load()));
    assert!(files?.is_empty());
    assert_eq!(n, 0);
    // An explicit option overrides the relationship's default.
    s.close();
    let fs = s.scalars(&select::<Folder>().options(selectinload(Folder::FILES)))?;
    assert_eq!(fs[0].read()?.files.load()?.len(), 1);
    // passive_deletes: deleting the folder leaves its docs to ON DELETE CASCADE, no SELECT.
    let files: Vec<Obj<File>> = fs[0].read()?.files.load()?;
    s.delete(&files[0])?;
    s.flush()?;
    let before = ctx.count.load(Ordering::SeqCst);
    s.delete(&fs[0])?;
    s.flush()?;
    let stmts = ctx.count.load(Ordering::SeqCst) - before;
    assert_eq!(stmts, 1, "only the DELETE of the folder");
    s.commit()?;
    let docs: i64 = s.scalar(
        &calcine_sql::select(calcine_sql::func::count_star()).select_from(Doc::mapper().table()),
    )?;
    assert_eq!(docs, 0, "the database cascaded the delete");
    Ok(())
}

#[test]
fn noload_passive_deletes_and_option_override() {
    parity(noload_passive_override);
}

fn merge_cascade(_ctx: &Ctx, s: &mut Session) -> Result<()> {
    let id = seed(s, "jo", 2, 0)?;
    s.close();
    // A detached graph: the author and its loaded posts, changed while detached.
    let a = s.get_one::<Author>(id)?;
    let posts = a.read()?.posts.load()?;
    s.close();
    assert_eq!(a.status(), Status::Detached);
    posts[0].write()?.title = "edited while detached".into();
    a.write()?.name = "jo (merged)".into();
    let extra = Obj::new(post("added while detached"));
    a.write()?.posts.push(extra)?;

    let merged = s.merge_obj(&a)?;
    assert!(merged != a, "merge returns the session's own instance");
    s.commit()?;
    s.close();
    let a = s.get_one::<Author>(id)?;
    assert_eq!(a.read()?.name, "jo (merged)");
    let titles: Vec<String> = a
        .read()?
        .posts
        .load()?
        .iter()
        .map(|p| p.read().unwrap().title.clone())
        .collect();
    assert_eq!(titles.len(), 3, "{titles:?}");
    assert!(
        titles.contains(&"edited while detached".to_owned()),
        "{titles:?}"
    );
    assert!(
        titles.contains(&"added while detached".to_owned()),
        "{titles:?}"
    );
    Ok(())
}

#[test]
fn merge_cascades_into_relationships() {
    parity(merge_cascade);
}

// The flush skips the relationship bookkeeping of objects whose relationship fields hold no
// changes (never touched since they were added, loaded or last flushed); a change through any
// route still reaches it: a value built with its related objects, a write guard on a pending
// or persistent object, a merge.
fn relationship_changes_reach_the_flush(ctx: &Ctx, s: &mut Session) -> Result<()> {
    // Built with its children / its target, then added.
    let p1 = Obj::new(post("built with the author"));
    let a = s.add(Author {
        id: None,
        name: "built".into(),
        posts: Many::from_vec(vec![p1.clone()]),
    });
    let p2 = s.add(Post {
        author: One::to(&a),
        ..post("built pointing at it")
    });
    s.flush()?;
    let aid = a.read()?.id;
    assert!(aid.is_some());
    assert_eq!(p1.read()?.author_id, aid);
    assert_eq!(p2.read()?.author_id, aid);
    // Nothing changed since: the next flush has nothing to send.
    let (r, n) = ctx.counting(|| s.flush());
    r?;
    assert_eq!(n, 0);

    // Added untouched, then changed through a write guard before the first flush.
    let b = s.add(author("pending, then pushed"));
    let p3 = Obj::new(post("pushed while pending"));
    b.write()?.posts.push(p3.clone())?;
    // Persistent, changed through a write guard.
    let p4 = Obj::new(post("pushed while persistent"));
    a.write()?.posts.push(p4.clone())?;
    let (r, n) = ctx.counting(|| s.flush());
    r?;
    // PostgreSQL sends the two posts in one `INSERT ... RETURNING`.
    let pg = s.engine().dialect() == calcine_sql::Dialect::Postgresql;
    assert_eq!(n, if pg { 2 } else { 3 }, "the author and two posts");
    assert_eq!(p3.status(), Status::Persistent);
    assert_eq!(p3.read()?.author_id, b.read()?.id);
    assert_eq!(p4.read()?.author_id, aid);
    // The changes were written once: the next flush has nothing to send again.
    let (r, n) = ctx.counting(|| s.flush());
    r?;
    assert_eq!(n, 0);
    // An orphan removed through a write guard is deleted (`delete-orphan`).
    assert!(a.write()?.posts.remove(&p4)?);
    s.flush()?;
    assert_eq!(p4.status(), Status::Deleted);
    s.commit()?;

    // A fresh session: loaded objects carry no changes until written.
    s.close();
    let a = s.get_one::<Author>(aid.unwrap())?;
    assert_eq!(a.read()?.posts.load()?.len(), 2);
    let (r, n) = ctx.counting(|| s.flush());
    r?;
    assert_eq!(n, 0);
    let p5 = Obj::new(post("pushed after a load"));
    a.write()?.posts.push(p5.clone())?;
    s.commit()?;
    assert_eq!(p5.read()?.author_id, aid);
    Ok(())
}

#[test]
fn relationship_changes_reach_the_flush_by_every_route() {
    parity(relationship_changes_reach_the_flush);
}
