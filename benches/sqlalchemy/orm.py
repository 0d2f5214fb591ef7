#!/usr/bin/env python3
"""SQLAlchemy 2.x on the ORM shapes of `benches/benches/orm.rs` (SQLAlchemy's own
`examples/performance` suite: bulk_inserts, short_selects, large_resultsets), same machine,
same run. Prints one line per figure and, with --json PATH, writes
{"python", "sqlalchemy", ..., "results": {id: {"ops", "median_s", "times_s"}}} with the ids of
orm.rs (`<workload>/<backend>/<variant>`).

  flush100k  100,000 new Customer objects without PK, add_all 1,000 + flush, x100, commit
             (SQLite file via pysqlite; PostgreSQL via psycopg, and via asyncpg inside one
             AsyncSession.run_sync) -- median of --flush-repeats (default 3)
  load10k    session.scalars(select(Customer)).all() of 10,000 rows, fresh session each time
  get_cold   10,000 session.get(Customer, id) in a fresh session (one SELECT each)
  get_hit    10,000 session.get of objects already in the identity map; on PostgreSQL also
             `await AsyncSession.get` (asyncpg) and Session.get inside one run_sync

  assoc.<s>  diesel's workload 4: users x posts x comments, 100 users (SQLite: 9) x 10 x 10,
             into [(user, [(post, [comment, ...]), ...]), ...], fresh session each time, with
             <s> = lazy (lazyload, every collection touched), selectin (selectinload(User.posts)
             .selectinload(Post.comments)), joined (joinedload(User.posts).selectinload(...))
  p1k.<s>    1,000 parents x 100 children, lazy / selectin / joined, same way
             (--rel-repeats, default 5; --lazy-repeats for p1k.lazy, default 3)

  large500k.<s>  500,000 Customer rows (seeded untimed), SQLAlchemy's large_resultsets.py
             (--large-repeats, default 3), fresh Session / connection each time:
             orm             session.scalars(select(Customer)).all() (PostgreSQL: also via
                             asyncpg inside one AsyncSession.run_sync)
             orm_yield_per   the same with execution_options(yield_per=1000), read by
                             partitions() (1,000 objects per chunk)
             core            conn.execute(select(id, name, description)).all(), every row
                             unpacked
             core_yield_per  the same with execution_options(yield_per=1000) (a server-side
                             cursor on psycopg), read by partitions()

PostgreSQL runs when CALCINE_BENCH_POSTGRES_URL (postgres://user@host:port/db) is set.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import tempfile
import time

import sqlalchemy
from sqlalchemy import ForeignKey, Identity, Integer, String, Text, create_engine, select
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
from sqlalchemy.orm import (DeclarativeBase, Mapped, Session, joinedload, lazyload,
                            mapped_column, relationship, selectinload)

FLUSH_N = 100_000
CHUNK = 1_000
LOAD_N = 10_000
GET_N = 10_000
LARGE_N = 500_000
STREAM_CHUNK = 1_000


class Base(DeclarativeBase):
    pass


class Customer(Base):
    __tablename__ = "customer"
    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(String(255))


class RelBase(DeclarativeBase):
    pass


class User(RelBase):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    hair_color: Mapped[str | None] = mapped_column(Text)
    posts: Mapped[list["Post"]] = relationship()


class Post(RelBase):
    __tablename__ = "posts"
    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    title: Mapped[str] = mapped_column(Text)
    body: Mapped[str | None] = mapped_column(Text)
    comments: Mapped[list["Comment"]] = relationship()


class Comment(RelBase):
    __tablename__ = "comments"
    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("posts.id"), index=True)
    text: Mapped[str] = mapped_column(Text)


class Parent(RelBase):
    __tablename__ = "parent"
    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    children: Mapped[list["Child"]] = relationship()


class Child(RelBase):
    __tablename__ = "child"
    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    parent_id: Mapped[int] = mapped_column(ForeignKey("parent.id"), index=True)
    name: Mapped[str] = mapped_column(Text)


POSTS_PER_USER = 10
COMMENTS_PER_POST = 10
PARENTS = 1_000
CHILDREN_PER_PARENT = 100

RESULTS: dict[str, dict] = {}


def record(key: str, ops: int, times: list[float]) -> None:
    med = statistics.median(times)
    RESULTS[key] = {"ops": ops, "median_s": med, "times_s": times}
    print(f"{key:<48} median {med * 1e3:10.2f} ms ({med / ops * 1e9:10.1f} ns/op)  "
          f"min {min(times) * 1e3:.2f} ms  max {max(times) * 1e3:.2f} ms  reps {len(times)}",
          flush=True)


def flush_body(session: Session) -> None:
    for chunk in range(0, FLUSH_N, CHUNK):
        session.add_all([
            Customer(name=f"customer name {i}", description=f"customer description {i}")
            for i in range(chunk, chunk + CHUNK)
        ])
        session.flush()
    session.commit()


def reset(engine) -> None:
    Base.metadata.drop_all(engine)
    Base.metadata.create_all(engine)


def seed(engine, n: int) -> None:
    reset(engine)
    with engine.begin() as conn:
        conn.execute(Customer.__table__.insert(), [
            {"name": f"customer name {i}", "description": f"customer description {i}"}
            for i in range(n)
        ])


def timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def bench_sync(backend: str, variant: str, make_engine, args) -> None:
    """flush100k, load10k, get_cold, get_hit on a synchronous engine."""
    times = []
    for _ in range(args.flush_repeats):
        engine = make_engine()
        reset(engine)
        times.append(timed(lambda: flush_body(Session(engine))))
        engine.dispose()
    record(f"flush100k/{backend}/{variant}", FLUSH_N, times)

    engine = make_engine()
    seed(engine, LOAD_N)

    def load():
        with Session(engine) as s:
            objs = s.scalars(select(Customer)).all()
            assert len(objs) == LOAD_N

    record(f"load10k/{backend}/{variant}", LOAD_N, [timed(load) for _ in range(args.repeats)])

    def cold():
        with Session(engine) as s:
            keep = [s.get(Customer, i) for i in range(1, GET_N + 1)]
            assert keep[-1] is not None

    record(f"get_cold/{backend}/{variant}", GET_N,
           [timed(cold) for _ in range(args.cold_repeats)])

    with Session(engine) as s:
        objs = s.scalars(select(Customer)).all()
        get = s.get

        def hit():
            for i in range(1, GET_N + 1):
                get(Customer, i)

        record(f"get_hit/{backend}/{variant}", GET_N, [timed(hit) for _ in range(args.repeats)])
        del objs
    engine.dispose()


async def bench_asyncpg(url: str, args) -> None:
    times = []
    for _ in range(args.flush_repeats):
        engine = create_async_engine(url)
        async with engine.begin() as conn:
            await conn.run_sync(Base.metadata.drop_all)
            await conn.run_sync(Base.metadata.create_all)
        async with AsyncSession(engine) as s:
            t = time.perf_counter()
            await s.run_sync(flush_body)
            times.append(time.perf_counter() - t)
        await engine.dispose()
    record("flush100k/postgres/sqlalchemy_asyncpg_run_sync", FLUSH_N, times)

    engine = create_async_engine(url)
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.drop_all)
        await conn.run_sync(Base.metadata.create_all)
        await conn.execute(Customer.__table__.insert(), [
            {"name": f"customer name {i}", "description": f"customer description {i}"}
            for i in range(LOAD_N)
        ])

    times = []
    for _ in range(args.repeats):
        t = time.perf_counter()
        async with AsyncSession(engine) as s:
            objs = await s.run_sync(lambda ss: ss.scalars(select(Customer)).all())
            assert len(objs) == LOAD_N
        times.append(time.perf_counter() - t)
    record("load10k/postgres/sqlalchemy_asyncpg_run_sync", LOAD_N, times)

    async with AsyncSession(engine) as s:
        objs = (await s.scalars(select(Customer))).all()
        times = []
        for _ in range(args.repeats):
            t = time.perf_counter()
            for i in range(1, GET_N + 1):
                await s.get(Customer, i)
            times.append(time.perf_counter() - t)
        record("get_hit/postgres/sqlalchemy_asyncpg_async", GET_N, times)

        def hit(ss: Session) -> list[float]:
            out = []
            for _ in range(args.repeats):
                t = time.perf_counter()
                for i in range(1, GET_N + 1):
                    ss.get(Customer, i)
                out.append(time.perf_counter() - t)
            return out

        record("get_hit/postgres/sqlalchemy_asyncpg_run_sync", GET_N, await s.run_sync(hit))
        del objs
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.drop_all)
    await engine.dispose()


def large_seed_sql(dialect: str) -> str:
    """INSERTs LARGE_N customers server-side (the same values as orm.rs's seed)."""
    if dialect == "postgresql":
        rows = f"generate_series(0, {LARGE_N - 1}) AS s(i)"
        prefix = ""
    else:
        rows = "s"
        prefix = (f"WITH RECURSIVE s(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM s "
                  f"WHERE i < {LARGE_N - 1}) ")
    return (f"{prefix}INSERT INTO customer (name, description) "
            f"SELECT 'customer name ' || i, 'customer description ' || i FROM {rows}")


def large_stmt():
    t = Customer.__table__
    return select(t.c.id, t.c.name, t.c.description)


def bench_large(backend: str, variant: str, make_engine, args) -> None:
    """large500k.*: 500,000 rows as ORM objects and as Core rows, all at once and streamed."""
    engine = make_engine()
    reset(engine)
    with engine.begin() as conn:
        conn.exec_driver_sql(large_seed_sql(engine.dialect.name))
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE customer")

    def orm():
        with Session(engine) as s:
            objs = s.scalars(select(Customer)).all()
            assert len(objs) == LARGE_N

    def orm_yield_per():
        with Session(engine) as s:
            n = 0
            stmt = select(Customer).execution_options(yield_per=STREAM_CHUNK)
            for part in s.scalars(stmt).partitions():
                n += len(part)
            assert n == LARGE_N

    def core():
        with engine.connect() as conn:
            rows = conn.execute(large_stmt()).all()
            for _id, _name, _description in rows:
                pass
            assert len(rows) == LARGE_N

    def core_yield_per():
        with engine.connect() as conn:
            result = conn.execution_options(yield_per=STREAM_CHUNK).execute(large_stmt())
            n = 0
            for part in result.partitions():
                for _id, _name, _description in part:
                    pass
                n += len(part)
            assert n == LARGE_N

    for shape, fn in [("orm", orm), ("orm_yield_per", orm_yield_per), ("core", core),
                      ("core_yield_per", core_yield_per)]:
        record(f"large500k.{shape}/{backend}/{variant}", LARGE_N,
               [timed(fn) for _ in range(args.large_repeats)])
    Base.metadata.drop_all(engine)
    engine.dispose()


async def bench_large_asyncpg(url: str, args) -> None:
    engine = create_async_engine(url)
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.drop_all)
        await conn.run_sync(Base.metadata.create_all)
        await conn.exec_driver_sql(large_seed_sql("postgresql"))
    async with engine.connect() as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.exec_driver_sql("VACUUM ANALYZE customer")
    times = []
    for _ in range(args.large_repeats):
        t = time.perf_counter()
        async with AsyncSession(engine) as s:
            objs = await s.run_sync(lambda ss: ss.scalars(select(Customer)).all())
            assert len(objs) == LARGE_N
            del objs
        times.append(time.perf_counter() - t)
    record("large500k.orm/postgres/sqlalchemy_asyncpg_run_sync", LARGE_N, times)
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.drop_all)
    await engine.dispose()


def rel_seed(engine, users: int) -> None:
    if engine.dialect.name == "postgresql":  # leftovers of orm.rs or core.rs (other schemas)
        with engine.begin() as conn:
            conn.exec_driver_sql("DROP TABLE IF EXISTS comments, posts, users, child, parent "
                                 "CASCADE")
    RelBase.metadata.drop_all(engine)
    RelBase.metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(User.__table__.insert(), [
            {"name": f"User {i}", "hair_color": "black" if i % 2 == 0 else "brown"}
            for i in range(users)])
        uids = conn.scalars(select(User.id).order_by(User.id)).all()
        conn.execute(Post.__table__.insert(), [
            {"user_id": u, "title": f"Post {j} by user {u}", "body": "body"}
            for u in uids for j in range(POSTS_PER_USER)])
        pids = conn.scalars(select(Post.id).order_by(Post.id)).all()
        conn.execute(Comment.__table__.insert(), [
            {"post_id": p, "text": f"Comment {k} on post {p}"}
            for p in pids for k in range(COMMENTS_PER_POST)])
        conn.execute(Parent.__table__.insert(), [{"name": f"parent {i}"} for i in range(PARENTS)])
        parent_ids = conn.scalars(select(Parent.id).order_by(Parent.id)).all()
        conn.execute(Child.__table__.insert(), [
            {"parent_id": p, "name": f"child {j} of parent {p}"}
            for p in parent_ids for j in range(CHILDREN_PER_PARENT)])


ASSOC_OPTIONS = {
    "lazy": lambda: lazyload(User.posts).lazyload(Post.comments),
    "selectin": lambda: selectinload(User.posts).selectinload(Post.comments),
    "joined": lambda: joinedload(User.posts).selectinload(Post.comments),
}
P1K_OPTIONS = {
    "lazy": lambda: lazyload(Parent.children),
    "selectin": lambda: selectinload(Parent.children),
    "joined": lambda: joinedload(Parent.children),
}


def bench_relationships(backend: str, variant: str, engine, users: int, args) -> None:
    """assoc.* and p1k.*: the object graph loaded and every collection touched."""
    rel_seed(engine, users)
    for name, opt in ASSOC_OPTIONS.items():
        def assoc():
            with Session(engine) as s:
                us = s.scalars(select(User).options(opt())).unique().all()
                graph = [(u, [(p, list(p.comments)) for p in u.posts]) for u in us]
                assert sum(len(c) for _, ps in graph for _, c in ps) == \
                    users * POSTS_PER_USER * COMMENTS_PER_POST

        record(f"assoc.{name}/{backend}/{variant}", users * POSTS_PER_USER * COMMENTS_PER_POST,
               [timed(assoc) for _ in range(args.rel_repeats)])
    for name, opt in P1K_OPTIONS.items():
        def p1k():
            with Session(engine) as s:
                ps = s.scalars(select(Parent).options(opt())).unique().all()
                fams = [(p, list(p.children)) for p in ps]
                assert len(fams) == PARENTS
                assert all(len(c) == CHILDREN_PER_PARENT for _, c in fams)

        reps = args.lazy_repeats if name == "lazy" else args.rel_repeats
        record(f"p1k.{name}/{backend}/{variant}", PARENTS * CHILDREN_PER_PARENT,
               [timed(p1k) for _ in range(reps)])
    RelBase.metadata.drop_all(engine)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--flush-repeats", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--cold-repeats", type=int, default=1)
    ap.add_argument("--rel-repeats", type=int, default=5)
    ap.add_argument("--lazy-repeats", type=int, default=3)
    ap.add_argument("--large-repeats", type=int, default=3)
    ap.add_argument("--only-relationships", action="store_true",
                    help="run assoc.* and p1k.* only")
    ap.add_argument("--only-large", action="store_true", help="run large500k.* only")
    ap.add_argument("--json")
    args = ap.parse_args()
    run_basic = not (args.only_relationships or args.only_large)
    run_rel = not args.only_large
    run_large = not args.only_relationships

    with tempfile.TemporaryDirectory() as d:
        counter = iter(range(1000))
        if run_basic:
            bench_sync("sqlite", "sqlalchemy",
                       lambda: create_engine(f"sqlite:///{d}/sa{next(counter)}.db"), args)
        if run_rel:
            engine = create_engine(f"sqlite:///{d}/relationships.db")
            bench_relationships("sqlite", "sqlalchemy", engine, 9, args)
            engine.dispose()
        if run_large:
            bench_large("sqlite", "sqlalchemy",
                        lambda: create_engine(f"sqlite:///{d}/large.db"), args)

    pg = os.environ.get("CALCINE_BENCH_POSTGRES_URL", "")
    versions = {}
    if pg:
        rest = pg.split("://", 1)[1]
        if run_basic:
            bench_sync("postgres", "sqlalchemy_psycopg",
                       lambda: create_engine(f"postgresql+psycopg://{rest}"), args)
            asyncio.run(bench_asyncpg(f"postgresql+asyncpg://{rest}", args))
        if run_rel:
            engine = create_engine(f"postgresql+psycopg://{rest}")
            bench_relationships("postgres", "sqlalchemy_psycopg", engine, 100, args)
            engine.dispose()
        if run_large:
            bench_large("postgres", "sqlalchemy_psycopg",
                        lambda: create_engine(f"postgresql+psycopg://{rest}"), args)
            asyncio.run(bench_large_asyncpg(f"postgresql+asyncpg://{rest}", args))
        import asyncpg
        import psycopg
        versions = {"psycopg": psycopg.__version__, "asyncpg": asyncpg.__version__}
    else:
        print("orm.py: CALCINE_BENCH_POSTGRES_URL not set; PostgreSQL skipped", file=sys.stderr)

    import greenlet
    doc = {
        "python": platform.python_version(),
        "sqlalchemy": sqlalchemy.__version__,
        "greenlet": greenlet.__version__,
        "sqlite": __import__("sqlite3").sqlite_version,
        **versions,
        "results": RESULTS,
    }
    if args.json:
        with open(args.json, "w") as f:
            json.dump(doc, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
