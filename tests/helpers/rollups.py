"""What the rollups should hold, computed from the executions table alone, to compare with."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select

from celery_ops.core.clock import to_storage
from celery_ops.core.rollups import (
    COUNTED_STATES,
    DAY,
    GRAINS,
    MINUTE,
    RELATIVE_ERROR,
    RUNTIME,
    WAIT,
    percentile,
)
from celery_ops.store import Store
from celery_ops.store.models import executions, rollups

FRACTIONS = (0.5, 0.95, 0.99)


@dataclass
class Truth:
    """Counts and durations as the executions table has them."""

    #: (minute, task, queue, state) -> executions resting in that state, reached that minute
    counts: Counter[tuple[datetime, str, str, str]]
    #: task -> runtimes (ms) of the executions resting in a counted state
    runtimes: dict[str, list[float]]
    #: task -> waits (ms) of the executions that started
    waits: dict[str, list[float]]


def truth(store: Store) -> Truth:
    t = executions.c
    counts: Counter[tuple[datetime, str, str, str]] = Counter()
    runtimes: dict[str, list[float]] = {}
    waits: dict[str, list[float]] = {}
    with store.engine.connect() as connection:
        query = select(
            t.task_name,
            t.queue,
            t.status,
            t.status_at,
            t.started_at,
            t.execution_time_ms,
            t.wait_time_ms,
        )
        for task, queue, status, at, started, runtime, wait in connection.execute(query):
            task, queue = task or "", queue or ""
            if status in COUNTED_STATES:
                minute = to_storage(at).replace(second=0, microsecond=0)
                counts[(minute, task, queue, status)] += 1
                if runtime is not None:
                    runtimes.setdefault(task, []).append(runtime)
            if wait is not None and started is not None:
                waits.setdefault(task, []).append(wait)
    return Truth(counts, runtimes, waits)


def rolled_counts(store: Store, grain: int) -> Counter[tuple[datetime, str, str, str]]:
    r = rollups.c
    found: Counter[tuple[datetime, str, str, str]] = Counter()
    with store.engine.connect() as connection:
        query = select(r.at, r.task_name, r.queue, r.measure, r["count"]).where(
            r.grain == grain, r.measure.in_(COUNTED_STATES)
        )
        for at, task, queue, measure, count in connection.execute(query):
            if count:
                found[(to_storage(at), task, queue, measure)] += count
    return found


def coarsen(
    counts: Counter[tuple[datetime, str, str, str]], grain: int
) -> Counter[tuple[datetime, str, str, str]]:
    coarse: Counter[tuple[datetime, str, str, str]] = Counter()
    for (minute, task, queue, state), count in counts.items():
        epoch = datetime(1970, 1, 1)
        start = epoch + timedelta(seconds=(minute - epoch).total_seconds() // grain * grain)
        coarse[(start, task, queue, state)] += count
    return coarse


def exact_percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[max(1, math.ceil(fraction * len(ordered))) - 1]


def histogram(store: Store, task: str, measure: str) -> dict[int, int]:
    buckets: dict[int, int] = {}
    for _, found, bucket, count in store.metrics.read(
        DAY, datetime(2000, 1, 1), datetime(2100, 1, 1), task_name=task
    ):
        if found == measure:
            buckets[bucket] = buckets.get(bucket, 0) + count
    return buckets


def percentile_errors(store: Store, facts: Truth) -> list[str]:
    """Every percentile of the rollups further from the exact one than the stated error."""
    wrong = []
    for measure, by_task in ((RUNTIME, facts.runtimes), (WAIT, facts.waits)):
        for task, values in by_task.items():
            buckets = histogram(store, task, measure)
            assert sum(buckets.values()) == len(values), (measure, task)
            for fraction in FRACTIONS:
                exact = exact_percentile(values, fraction) / 1000
                estimate = percentile(buckets, fraction)
                assert estimate is not None
                if abs(estimate - exact) > RELATIVE_ERROR * exact + 1e-6:
                    wrong.append(f"{measure} {task} p{fraction * 100:g}: {estimate} vs {exact}")
    return wrong


def assert_rollups_match(store: Store) -> None:
    """Every grain's counts equal the table's, and every percentile is within the error."""
    facts = truth(store)
    for grain in GRAINS:
        expected = facts.counts if grain == MINUTE else coarsen(facts.counts, grain)
        assert rolled_counts(store, grain) == +expected, f"grain {grain}"
    assert percentile_errors(store, facts) == []
