#!/usr/bin/env python
"""What a unique task costs its producer: ``.delay()`` of a plain task, of a unique task
(each call its own key: one claim inserted), and of a duplicate (the key held: nothing sent),
all with celery-ops on PostgreSQL and Redis.

    .venv/bin/python bench/unique_publish.py [--calls 2000] [--rounds 5] [--write-mode relay]

Rounds interleave the three kinds (in a rotating order) in one producer process; the table
gives the median µs per call over the rounds and each kind's paired ratio to the plain
publish of the same round. The machine is shared: read ratios, not absolute figures.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import uuid
from typing import Any

from celery import Celery

import celery_ops

KINDS = ("plain", "unique", "duplicate")


def build(database_url: str, broker: str, queue: str, write_mode: str) -> Any:
    app = Celery("unique_bench", broker=broker, set_as_current=False)
    app.conf.task_default_queue = queue
    celery_ops.init_app(
        app,
        database_url=database_url,
        flush_interval=0.5,
        write_mode=write_mode,
        relay_stream=f"{queue}-relay",
    )

    @app.task(name="bench.plain")
    def plain(n: int) -> int:
        return n

    @app.task(name="bench.unique", ops_unique_for=600, ops_unique_key=["n"])
    def unique(n: int) -> int:
        return n

    return app, plain, unique


def one_round(kind: str, calls: int, plain: Any, unique: Any) -> float:
    """µs per ``.delay()`` of ``kind``."""
    if kind == "duplicate":
        held = uuid.uuid4().int % 10**12
        unique.delay(held)  # the key every call of the round finds held
        started = time.perf_counter()
        for _ in range(calls):
            unique.delay(held)
    elif kind == "unique":
        base = uuid.uuid4().int % 10**12
        started = time.perf_counter()
        for n in range(calls):
            unique.delay(base + n)
    else:
        started = time.perf_counter()
        for n in range(calls):
            plain.delay(n)
    return (time.perf_counter() - started) / calls * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--database-url", default="postgresql+psycopg://postgres@127.0.0.1/test")
    parser.add_argument("--broker", default="redis://127.0.0.1:6379/14")
    parser.add_argument(
        "--write-mode",
        choices=("direct", "relay"),
        default="direct",
        help="relay: claims are taken on the Redis broker, not in the store",
    )
    parser.add_argument("--json", default=None, help="Also write the figures to this file.")
    options = parser.parse_args()
    queue = f"unique-bench-{uuid.uuid4().hex[:6]}"
    app, plain, unique = build(options.database_url, options.broker, queue, options.write_mode)
    ops = celery_ops.get_ops(app)
    ops.store.upgrade()
    one_round("plain", 200, plain, unique)  # connections, caches
    one_round("unique", 200, plain, unique)
    figures: dict[str, list[float]] = {kind: [] for kind in KINDS}
    ratios: dict[str, list[float]] = {kind: [] for kind in KINDS}
    for index in range(options.rounds):
        order = KINDS[index % 3 :] + KINDS[: index % 3]
        got = {kind: one_round(kind, options.calls, plain, unique) for kind in order}
        for kind in KINDS:
            figures[kind].append(got[kind])
            ratios[kind].append(got[kind] / got["plain"])
        print(
            f"round {index + 1}: " + "  ".join(f"{kind} {got[kind]:7.1f} µs" for kind in KINDS),
            flush=True,
        )
        with app.connection_for_write() as connection:
            connection.default_channel.queue_purge(queue)
    ops.recorder.flush(timeout=30)
    summary = {
        kind: {
            "median_us_per_call": round(statistics.median(figures[kind]), 1),
            "paired_ratio_to_plain": round(statistics.median(ratios[kind]), 2),
        }
        for kind in KINDS
    }
    print("\nkind        µs/call (median)   time vs plain (paired median)")
    for kind in KINDS:
        row = summary[kind]
        print(
            f"{kind:<10}  {row['median_us_per_call']:>10.1f}        "
            f"{row['paired_ratio_to_plain']:.2f}x"
        )
    if options.json:
        with open(options.json, "w") as out:
            json.dump({"calls": options.calls, "rounds": options.rounds, **summary}, out, indent=2)
    ops.recorder.close(timeout=10)
    if options.write_mode == "relay":  # nobody ingests this run's stream
        ops.relay_stream().client.delete(f"{queue}-relay")


if __name__ == "__main__":
    main()
