"""Metric rollups: what each execution adds to the per-minute counts and histograms.

An execution contributes, by its task name and queue:

- one count to its final state, in the minute of that state (the terminal states, IGNORED and
  LOST: the states an execution can rest in);
- its runtime to the runtime histogram, in the same minute, once it rests in such a state;
- its wait (from being sent to starting) to the wait histogram, in the minute it started.

Rows change after they were counted (a LOST task comes back, a retry starts later, a queue
becomes known), so the write path never adds "what happened": it adds a row's contribution
after a write and takes away its contribution before it. The rollups then equal what the rows
say, exactly, whatever order the events came in.

Histograms use DDSketch's logarithmic buckets: bucket ``i`` holds the values in
``(MIN_MS * GAMMA**(i-1), MIN_MS * GAMMA**i]`` and reads back as the value that is at most
:data:`RELATIVE_ERROR` away from any of them. Buckets of any minutes, tasks and queues add up, so
a percentile over any range and grouping comes from sums, never from the executions.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from celery_ops.core.clock import from_storage
from celery_ops.core.lifecycle import IGNORED, LOST, TERMINAL_STATUSES

#: The states an execution can rest in, each counted in the minute it was reached.
COUNTED_STATES = tuple(sorted(TERMINAL_STATUSES | {IGNORED, LOST}))

RUNTIME = "runtime"
WAIT = "wait"
#: What a rollup row measures: a state's count, or one bucket of a histogram.
MEASURES = (*COUNTED_STATES, RUNTIME, WAIT)

#: Any percentile read from a histogram is within this fraction of the exact one.
RELATIVE_ERROR = 0.02
GAMMA = (1 + RELATIVE_ERROR) / (1 - RELATIVE_ERROR)
_LOG_GAMMA = math.log(GAMMA)
#: Values up to a microsecond share bucket 0 (read back as 0).
MIN_MS = 0.001
#: Values past about 115 days share the last bucket.
MAX_BUCKET = math.ceil(math.log(1e10 / MIN_MS) / _LOG_GAMMA)

MINUTE, HOUR, DAY = 60, 3600, 86_400
#: The grains rollups are kept at, finest first, in seconds.
GRAINS = (MINUTE, HOUR, DAY)


def bucket_of(milliseconds: float) -> int:
    """The histogram bucket of a duration (NaN and negatives count as zero)."""
    if not milliseconds > MIN_MS:
        return 0
    return min(MAX_BUCKET, math.ceil(math.log(milliseconds / MIN_MS) / _LOG_GAMMA))


def bucket_seconds(bucket: int) -> float:
    """The duration a bucket reads back as, in seconds."""
    if bucket <= 0:
        return 0.0
    return MIN_MS * 2 * GAMMA**bucket / (GAMMA + 1) / 1000


def percentile(buckets: Mapping[int, int], fraction: float) -> float | None:
    """The value at rank ``ceil(fraction * n)`` of the ``n`` durations counted in ``buckets``."""
    total = sum(count for count in buckets.values() if count > 0)
    if total <= 0:
        return None
    rank = max(1, math.ceil(fraction * total))
    seen = 0
    for bucket in sorted(buckets):
        count = buckets[bucket]
        if count <= 0:
            continue
        seen += count
        if seen >= rank:
            return bucket_seconds(bucket)
    return bucket_seconds(max(buckets))  # pragma: no cover - rank <= total


def floor_to(moment: datetime, grain: int) -> datetime:
    """The start of the minute, hour or day holding ``moment``."""
    if grain == MINUTE:
        return moment.replace(second=0, microsecond=0)
    if grain == HOUR:
        return moment.replace(minute=0, second=0, microsecond=0)
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


class CountedRow(NamedTuple):
    """The columns of an execution that decide what it contributes."""

    task_name: str | None
    queue: str | None
    status: str | None
    status_at: datetime | None
    started_at: datetime | None
    runtime_ms: float | None
    wait_ms: float | None


class RollupKey(NamedTuple):
    grain: int
    at: datetime
    task_name: str
    queue: str
    measure: str
    bucket: int


_COUNTED = frozenset(COUNTED_STATES)


def contributions(row: CountedRow) -> list[tuple[datetime, str, str, str, int]]:
    """(minute, task name, queue, measure, bucket) of each unit ``row`` adds."""
    task, queue = row.task_name or "", row.queue or ""
    found = []
    if row.status in _COUNTED and row.status_at is not None:
        minute = floor_to(row.status_at, MINUTE)
        found.append((minute, task, queue, row.status, 0))
        if row.runtime_ms is not None:
            found.append((minute, task, queue, RUNTIME, bucket_of(row.runtime_ms)))
    if row.wait_ms is not None and row.started_at is not None:
        found.append((floor_to(row.started_at, MINUTE), task, queue, WAIT, bucket_of(row.wait_ms)))
    return found


class RollupDeltas:
    """The changes a write makes to the rollups, folded so each key is upserted once."""

    __slots__ = ("_minutes",)

    def __init__(self) -> None:
        self._minutes: dict[tuple[datetime, str, str, str, int], int] = {}

    def change(self, before: CountedRow | None, after: CountedRow | None) -> None:
        """A row went from ``before`` (None: counted nowhere) to ``after``."""
        if before == after:
            return
        minutes = self._minutes
        if before is not None:
            for key in contributions(before):
                minutes[key] = minutes.get(key, 0) - 1
        if after is not None:
            for key in contributions(after):
                minutes[key] = minutes.get(key, 0) + 1

    def add(self, rows: Iterable[CountedRow]) -> None:
        for row in rows:
            self.change(None, row)

    def __bool__(self) -> bool:
        return any(self._minutes.values())

    def rows(self) -> list[tuple[RollupKey, int]]:
        """Every grain's non-zero change, sorted by key (upserts lock rows in one order)."""
        folded: dict[RollupKey, int] = {}
        for (minute, task, queue, measure, bucket), count in self._minutes.items():
            if not count:
                continue
            for grain in GRAINS:
                key = RollupKey(grain, floor_to(minute, grain), task, queue, measure, bucket)
                folded[key] = folded.get(key, 0) + count
        return sorted((key, count) for key, count in folded.items() if count)


# Reading: rollups summed into a series of points.

#: The percentiles each point gives.
PERCENTILES = {"p50": 0.5, "p95": 0.95, "p99": 0.99}
_FAILED = frozenset({"FAILURE", LOST})


@dataclass(frozen=True)
class MetricPoint:
    """What happened in ``[at, at + step)``: counts, rates and percentiles (seconds)."""

    at: datetime
    counts: dict[str, int]
    #: Executions that came to rest per second.
    throughput: float
    #: FAILURE and LOST among them, from 0 to 1 (None: none came to rest).
    failure_rate: float | None
    runtime: dict[str, float | None]
    wait: dict[str, float | None]

    def as_dict(self) -> dict[str, Any]:
        return {
            "at": self.at.isoformat(),
            "counts": dict(self.counts),
            "throughput": self.throughput,
            "failure_rate": self.failure_rate,
            "runtime": dict(self.runtime),
            "wait": dict(self.wait),
        }


def grain_for(step: float) -> int:
    """The coarsest grain a step of ``step`` seconds is made of."""
    fitting = [grain for grain in GRAINS if grain <= step and step % grain == 0]
    if not fitting:
        raise ValueError(f"a step is a whole number of minutes, not {step:g}s")
    return max(fitting)


def series(
    rows: Iterable[tuple[datetime, str, int, int]],
    since: datetime,
    points: int,
    step: float,
) -> list[MetricPoint]:
    """Fold rollup rows (period start, measure, bucket, count) into ``points`` points of
    ``step`` seconds from ``since``."""
    counts: list[dict[str, int]] = [dict.fromkeys(COUNTED_STATES, 0) for _ in range(points)]
    histograms: list[dict[str, dict[int, int]]] = [{RUNTIME: {}, WAIT: {}} for _ in range(points)]
    for at, measure, bucket, count in rows:
        index = int((at - since).total_seconds() // step)
        if not 0 <= index < points:
            continue
        if measure in histograms[index]:
            buckets = histograms[index][measure]
            buckets[bucket] = buckets.get(bucket, 0) + count
        elif measure in counts[index]:
            counts[index][measure] += count
    found = []
    for index in range(points):
        total = sum(counts[index].values())
        failed = sum(n for state, n in counts[index].items() if state in _FAILED)
        found.append(
            MetricPoint(
                at=from_storage(since + timedelta(seconds=index * step)),
                counts=counts[index],
                throughput=total / step,
                failure_rate=failed / total if total else None,
                runtime=_percentiles(histograms[index][RUNTIME]),
                wait=_percentiles(histograms[index][WAIT]),
            )
        )
    return found


def _percentiles(buckets: Mapping[int, int]) -> dict[str, float | None]:
    return {name: percentile(buckets, fraction) for name, fraction in PERCENTILES.items()}
