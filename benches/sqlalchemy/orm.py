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
from sqlalchemy import Identity, Integer, String, create_engine, select
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

FLUSH_N = 100_000
CHUNK = 1_000
LOAD_N = 10_000
GET_N = 10_000


class Base(DeclarativeBase):
    pass


class Customer(Base):
    __tablename__ = "customer"
    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(String(255))


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


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--flush-repeats", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--cold-repeats", type=int, default=1)
    ap.add_argument("--json")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as d:
        counter = iter(range(1000))
        bench_sync("sqlite", "sqlalchemy",
                   lambda: create_engine(f"sqlite:///{d}/sa{next(counter)}.db"), args)

    pg = os.environ.get("CALCINE_BENCH_POSTGRES_URL", "")
    versions = {}
    if pg:
        rest = pg.split("://", 1)[1]
        bench_sync("postgres", "sqlalchemy_psycopg",
                   lambda: create_engine(f"postgresql+psycopg://{rest}"), args)
        asyncio.run(bench_asyncpg(f"postgresql+asyncpg://{rest}", args))
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
