"""SQLAlchemy's greenlet bridge, measured the way `benches/bridge.rs` measures calcine's.

Everything runs inside one asyncio event loop (the default loop, as `asyncio.run` gives it).
Each figure is the median, over several repeats, of (time for a loop of n operations) / n,
timed with `timeit.default_timer` (`time.perf_counter`); n is calibrated so that one repeat
takes about `--target-seconds`.

Operations (names match the keys of the JSON output):
  plain_await_coro        `await noop_coro()`                    (no greenlet, baseline)
  plain_sleep0            `await asyncio.sleep(0)`               (one event-loop round trip)
  greenlet_spawn_noop     `await greenlet_spawn(noop)`           (calcine: round_trip/inline_spawn_pooled)
  await_coro              `await_(noop_coro())` inside one greenlet: one switch pair, the
                          coroutine completes without suspending (SQLAlchemy always switches)
  await_sleep0            `await_(asyncio.sleep(0))` inside one greenlet: switch pair plus one
                          event-loop round trip (calcine: switch/await_yield_once)

Usage: python bridge.py [--repeats 7] [--target-seconds 0.2] [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import statistics
import sys
import timeit

import greenlet
import sqlalchemy
from sqlalchemy.util import concurrency

greenlet_spawn = concurrency.greenlet_spawn
# SQLAlchemy 2.1 calls it `await_`; 2.0 only has `await_only`.
await_ = getattr(concurrency, "await_", None) or concurrency.await_only

timer = timeit.default_timer


def noop() -> int:
    return 1


async def noop_coro() -> int:
    return 1


async def plain_await_coro(n: int) -> float:
    t0 = timer()
    for _ in range(n):
        await noop_coro()
    return timer() - t0


async def plain_sleep0(n: int) -> float:
    t0 = timer()
    for _ in range(n):
        await asyncio.sleep(0)
    return timer() - t0


async def greenlet_spawn_noop(n: int) -> float:
    t0 = timer()
    for _ in range(n):
        await greenlet_spawn(noop)
    return timer() - t0


async def await_coro(n: int) -> float:
    def body() -> float:
        t0 = timer()
        for _ in range(n):
            await_(noop_coro())
        return timer() - t0

    return await greenlet_spawn(body)


async def await_sleep0(n: int) -> float:
    def body() -> float:
        t0 = timer()
        for _ in range(n):
            await_(asyncio.sleep(0))
        return timer() - t0

    return await greenlet_spawn(body)


BENCHES = {
    "plain_await_coro": plain_await_coro,
    "plain_sleep0": plain_sleep0,
    "greenlet_spawn_noop": greenlet_spawn_noop,
    "await_coro": await_coro,
    "await_sleep0": await_sleep0,
}


async def measure(fn, repeats: int, target_seconds: float) -> dict:
    # Warm up and calibrate: grow n until one loop takes a measurable time.
    n = 100
    while True:
        elapsed = await fn(n)
        if elapsed >= target_seconds / 10:
            break
        n *= 4
    n = max(1, int(n * target_seconds / elapsed))
    per_op = []
    for _ in range(repeats):
        per_op.append(await fn(n) / n * 1e9)
    return {
        "median_ns": statistics.median(per_op),
        "min_ns": min(per_op),
        "max_ns": max(per_op),
        "n": n,
        "repeats": repeats,
    }


async def main_async(args) -> dict:
    results = {}
    for name, fn in BENCHES.items():
        results[name] = await measure(fn, args.repeats, args.target_seconds)
        r = results[name]
        print(
            f"{name:<22} {r['median_ns']:>10.1f} ns/op  "
            f"(min {r['min_ns']:.1f}, max {r['max_ns']:.1f}, n={r['n']}, {r['repeats']} repeats)",
            flush=True,
        )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--target-seconds", type=float, default=0.2)
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()

    versions = {
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "sqlalchemy": sqlalchemy.__version__,
        "greenlet": greenlet.__version__,
    }
    print(
        f"Python {versions['python']} ({versions['python_implementation']}), "
        f"SQLAlchemy {versions['sqlalchemy']}, greenlet {versions['greenlet']}",
        flush=True,
    )
    results = asyncio.run(main_async(args))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"versions": versions, "results": results}, f, indent=2)
            f.write("\n")


if __name__ == "__main__":
    sys.exit(main())
