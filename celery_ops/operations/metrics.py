"""Metrics from the rollups: series over any period, the backfill and the rollups' retention."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from celery_ops.core.clock import as_utc, from_storage, to_storage
from celery_ops.core.errors import InvalidInput
from celery_ops.core.filters import ExecutionFilter
from celery_ops.core.records import QueueSample, WorkerRecord
from celery_ops.core.rollups import (
    DAY,
    HOUR,
    MEASURES,
    MINUTE,
    MetricPoint,
    grain_for,
    series,
)
from celery_ops.operations.actors import OPERATOR, VIEWER
from celery_ops.operations.errors import store_errors
from celery_ops.operations.jobs import ProgressReport
from celery_ops.operations.maintenance import MaintenanceOperations, RelayStatus
from celery_ops.operations.periods import summarize
from celery_ops.operations.queues import QueueOperations
from celery_ops.operations.requests import MetricsRequest, parse
from celery_ops.operations.services import OperationGroup
from celery_ops.recording.recorder import RecorderHealth

#: The most points one series answers.
MAX_POINTS = 1500
BACKFILL_CHUNK = 5000
#: Before anything the rollups can hold.
EVER = datetime(1970, 1, 1)


@dataclass(frozen=True)
class Snapshot:
    """What /metrics shows, read from the store (cluster-wide) and this process."""

    #: (task name, queue, measure, bucket) -> count, over everything the rollups keep.
    totals: dict[tuple[str, str, str, int], int]
    #: Each known queue's depth and latency, now.
    queues: list[QueueSample]
    paused: set[str]
    workers: list[WorkerRecord]
    #: This process's recorder.
    recorder: RecorderHealth | None
    #: Where the record is on its way to the store (relay mode's backlog and lag).
    relay: RelayStatus | None


@dataclass(frozen=True)
class QueuePoint:
    """A queue over one step: its largest sampled depth and latency (None: no sample)."""

    at: datetime
    depth: int | None
    latency_seconds: float | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "at": self.at.isoformat(),
            "depth": self.depth,
            "latency_seconds": self.latency_seconds,
        }


class MetricOperations(OperationGroup):
    def snapshot(self) -> Snapshot:
        """Everything /metrics exposes: counts and histograms from the daily rollups, each
        queue's depth, latency and pause, the workers, and the recorders' health."""
        self._require(VIEWER)
        services = self._services
        now = services.clock.now()
        queues = self._queue_samples(now)
        with store_errors():
            totals = services.store.metrics.totals(DAY, EVER, now + timedelta(days=1), MEASURES)
            paused = {pause.name for pause in services.store.queues.pauses()}
            workers = services.store.workers()
        recorder = services.recorder_health() if services.recorder_health else None
        relay = None
        if services.relay_backlog is not None:
            relay = MaintenanceOperations(services, self.actor).relay_status()
        return Snapshot(totals, queues, paused, workers, recorder, relay)

    def series(self, request: Mapping[str, Any]) -> list[MetricPoint]:
        """``{"task", "queue", "since", "until", "step"}`` -> one point per step (the last
        hour by minutes unless asked otherwise), from the rollups alone."""
        self._require(VIEWER)
        wanted = parse(MetricsRequest, request)
        step = wanted.step_seconds
        grain = grain_for(step)
        start, end, points = self._period(wanted)
        with store_errors():
            rows = self._services.store.metrics.read(grain, start, end, wanted.task, wanted.queue)
        return series(rows, start, points, step)

    def queue_history(self, name: str, request: Mapping[str, Any]) -> list[QueuePoint]:
        """``{"since", "until", "step"}`` -> a queue's depth and latency per step, from the
        samples taken once a minute (kept ``ops_metrics_retention``)."""
        self._require(VIEWER)
        wanted = parse(MetricsRequest, {**request, "queue": name})
        start, end, points = self._period(wanted)
        step = wanted.step_seconds
        with store_errors():
            samples = self._services.store.metrics.queue_samples(name, start, end)
        depths: list[int | None] = [None] * points
        latencies: list[float | None] = [None] * points
        for sample in samples:
            index = int((to_storage(sample.at) - start).total_seconds() // step)
            if not 0 <= index < points:
                continue
            if sample.depth is not None:
                depths[index] = max(depths[index] or 0, sample.depth)
            if sample.latency_seconds is not None:
                latencies[index] = max(latencies[index] or 0.0, sample.latency_seconds)
        return [
            QueuePoint(
                from_storage(start + timedelta(seconds=index * step)),
                depths[index],
                latencies[index],
            )
            for index in range(points)
        ]

    def sample_queues(self) -> int:
        """Sample every known queue's depth and latency for this minute (the product does
        this once a minute in beat and in the dashboard); how many samples were kept."""
        self._require(VIEWER)
        samples = self._queue_samples(self._services.clock.now())
        with store_errors():
            return self._services.store.metrics.add_queue_samples(samples)

    def _queue_samples(self, now: datetime) -> list[QueueSample]:
        """Each known queue's depth in the broker (None: it did not answer) and how long
        its oldest waiting execution has waited."""
        services = self._services
        names = QueueOperations(services, self.actor).known()
        found, _ = services.broker.backlogs(names)
        samples = []
        with store_errors():
            for name in names:
                oldest = services.store.queues.oldest_waiting(name, now)
                backlog = found.get(name)
                samples.append(
                    QueueSample(
                        name,
                        now,
                        backlog.messages if backlog is not None else None,
                        (now - as_utc(oldest)).total_seconds() if oldest is not None else None,
                    )
                )
        return samples

    def _period(self, wanted: MetricsRequest) -> tuple[datetime, datetime, int]:
        """Start (on a step boundary), end and number of points of the period asked."""
        step = wanted.step_seconds
        until = wanted.until or self._services.clock.now()
        since = wanted.since or until - timedelta(seconds=60 * step if step > MINUTE else HOUR)
        start = _floor(since, step)
        points = math.ceil((to_storage(until) - start).total_seconds() / step)
        if points <= 0:
            raise InvalidInput("since must be before until")
        if points > MAX_POINTS:
            raise InvalidInput(
                f"{points} points of {wanted.step} asked: at most {MAX_POINTS}; "
                "take a longer step or a shorter period"
            )
        return start, start + timedelta(seconds=points * step), points

    def counts(self, since: datetime, until: datetime | None = None) -> dict[str, int]:
        """Executions that came to rest in [since, until), by final state."""
        return self.summary(since, until).counts

    def summary(
        self,
        since: datetime,
        until: datetime | None = None,
        task: str | None = None,
        queue: str | None = None,
    ) -> MetricPoint:
        """One point for all of [since, until), from the rollups (``periods.summarize``)."""
        self._require(VIEWER)
        until = until or self._services.clock.now()
        return summarize(self._services.store, since, until, task, queue)

    def backfill(self, progress: ProgressReport | None = None) -> int:
        """Count in the rollups the executions stored before they existed; audited."""
        with self._operation("metrics-backfill", {}, OPERATOR) as audited:
            store = self._services.store
            counted, after_id = 0, 0
            with store_errors():
                if progress is not None:
                    progress.expect(store.count_executions(ExecutionFilter(), None))
                while True:
                    chunk = store.metrics.backfill(after_id, BACKFILL_CHUNK)
                    if chunk.last_id is None:
                        break
                    counted += chunk.counted
                    after_id = chunk.last_id
                    if progress is not None:
                        progress.advance(chunk.scanned)
            audited.targets["counted"] = counted
            return counted


def _floor(moment: datetime, step: float) -> datetime:
    """``moment`` down to a multiple of ``step`` since the epoch (naive UTC)."""
    epoch = datetime(1970, 1, 1)
    seconds = (to_storage(moment) - epoch).total_seconds()
    return epoch + timedelta(seconds=seconds // step * step)
