#!/usr/bin/env python
"""What a cluster-wide limit costs a task, and what every other task pays for limits existing.

    .venv/bin/python bench/limit_admission.py [--admissions 2000] [--rounds 5]

* **limited**: the admission a limited task makes in its pool process before it starts, for
  a rate limit, a concurrency limit, and both; limits high enough that every task is admitted
  (the cost of a task that runs, not of one held back). In direct mode one transaction on
  PostgreSQL (lock the limit's gate row, count, record the start or slot); in relay mode on a
  Redis broker one Lua script on Redis. Concurrency slots are given back in the batch write
  (the recorder's, or the ingester's), so their cost there is per batch, not timed.
* **unlimited**: what a task of a type without a limit pays: the lookup of its limit and the
  wrapped ``run`` (a thread-local read), against calling ``run`` directly; in-process.

Rounds interleave the kinds; medians over rounds. The machine is shared: read them as orders
of magnitude.
"""

from __future__ import annotations

import argparse
import statistics
import time
import timeit
import uuid
from datetime import datetime, timezone
from typing import Any

from celery import Celery

import celery_ops
from celery_ops.core.limits import TaskLimit, parse_rate
from celery_ops.recording.flow import RedisFlowState, StoreFlowState
from celery_ops.signals.limits import Limiter, hold_back_when_asked
from celery_ops.store.limits import RATE, SLOT, Gate


def admissions(flow: Any, give_back: Any, gates: list[Gate], count: int) -> float:
    """µs per admission through ``gates``; each run's slot is given back (untimed) before
    the next, as the end of a run does."""
    spent = 0.0
    for _ in range(count):
        task_id = uuid.uuid4().hex
        started = time.perf_counter()
        flow.admit(task_id, gates, datetime.now(timezone.utc))
        spent += time.perf_counter() - started
        give_back(task_id)
    return spent / count * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--admissions", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--database-url", default="postgresql+psycopg://postgres@127.0.0.1/test")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/14")
    options = parser.parse_args()
    app = Celery("limit_bench", broker="memory://", set_as_current=False)
    ops = celery_ops.init_app(app, database_url=options.database_url)
    ops.store.upgrade()
    name = f"bench.limited.{uuid.uuid4().hex[:6]}"
    rate = Gate(name, "", RATE, 1_000_000, 1.0)
    slot = Gate(name, "", SLOT, 1_000_000, 3600.0)
    gate_sets = {"rate": [rate], "concurrency": [slot], "both": [rate, slot]}
    redis_flow = RedisFlowState(options.redis, f"limit-bench-{uuid.uuid4().hex[:6]}")
    places = {
        "postgresql": (StoreFlowState(ops.store), ops.store.limits.release),
        "redis": (redis_flow, lambda task_id: redis_flow.free_slots([task_id])),
    }
    kinds = [(place, gates) for place in places for gates in gate_sets]
    found: dict[tuple[str, str], list[float]] = {kind: [] for kind in kinds}
    for flow, give_back in places.values():
        admissions(flow, give_back, [rate], 100)  # connections, scripts loaded
    for index in range(options.rounds):
        order = kinds[index % len(kinds) :] + kinds[: index % len(kinds)]
        for place, gates in order:
            flow, give_back = places[place]
            figure = admissions(flow, give_back, gate_sets[gates], options.admissions)
            found[(place, gates)].append(figure)
        print(
            "round",
            index + 1,
            "  ".join(f"{p}/{g} {found[(p, g)][-1]:.0f} µs" for p, g in kinds),
            flush=True,
        )

    @app.task(name="bench.noop")
    def noop() -> None:
        return None

    limiter = Limiter(ops)
    limiter._limits = {name: TaskLimit(name, rate=parse_rate("10/s"))}  # another task's
    limiter._pid = __import__("os").getpid()  # no watcher thread in this measurement
    plain_run = noop.run
    hold_back_when_asked(noop, limiter)
    wrapped = noop.run
    calls = 200_000
    plain = min(timeit.repeat(plain_run, number=calls, repeat=5)) / calls * 1e9
    limited = (
        min(
            timeit.repeat(
                lambda: (limiter.limit_of("bench.noop"), wrapped()), number=calls, repeat=5
            )
        )
        / calls
        * 1e9
    )
    print("\nadmission of a limited task, µs, median of rounds:")
    for (place, gates), figures in found.items():
        print(f"  {place:<11} {gates:<12} {statistics.median(figures):8.0f}")
    print("a task without a limit, ns per call (in-process):")
    print(f"  run called directly            {plain:8.0f}")
    print(f"  limit lookup + wrapped run     {limited:8.0f}   (+{limited - plain:.0f} ns)")
    ops.recorder.close(timeout=5)


if __name__ == "__main__":
    main()
