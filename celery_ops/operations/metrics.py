"""Metrics from the rollups: series over any period, the backfill and the rollups' retention."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from celery_ops.core.clock import as_utc, to_storage
from celery_ops.core.errors import InvalidInput
from celery_ops.core.filters import ExecutionFilter
from celery_ops.core.records import WorkerRecord
from celery_ops.core.rollups import (
    COUNTED_STATES,
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
class QueueGauge:
    name: str
    #: Messages waiting in the broker (None: the broker did not answer).
    depth: int | None
    #: How long its oldest waiting execution has waited, seconds (None: nothing waits).
    latency_seconds: float | None
    paused: bool


@dataclass(frozen=True)
class Snapshot:
    """What /metrics shows, read from the store (cluster-wide) and this process."""

    #: (task name, queue, measure, bucket) -> count, over everything the rollups keep.
    totals: dict[tuple[str, str, str, int], int]
    queues: list[QueueGauge]
    workers: list[WorkerRecord]
    #: This process's recorder.
    recorder: RecorderHealth | None
    #: Where the record is on its way to the store (relay mode's backlog and lag).
    relay: RelayStatus | None


class MetricOperations(OperationGroup):
    def snapshot(self) -> Snapshot:
        """Everything /metrics exposes: counts and histograms from the daily rollups, each
        queue's depth, latency and pause, the workers, and the recorders' health."""
        self._require(VIEWER)
        services = self._services
        now = services.clock.now()
        queues = QueueOperations(services, self.actor)
        names = queues.known()
        found, _ = services.broker.backlogs(names)
        with store_errors():
            totals = services.store.metrics.totals(DAY, EVER, now + timedelta(days=1), MEASURES)
            paused = {pause.name for pause in services.store.queues.pauses()}
            gauges = []
            for name in names:
                oldest = services.store.queues.oldest_waiting(name, now)
                backlog = found.get(name)
                gauges.append(
                    QueueGauge(
                        name,
                        backlog.messages if backlog is not None else None,
                        (now - as_utc(oldest)).total_seconds() if oldest is not None else None,
                        name in paused,
                    )
                )
            workers = services.store.workers()
        recorder = services.recorder_health() if services.recorder_health else None
        relay = None
        if services.relay_backlog is not None:
            relay = MaintenanceOperations(services, self.actor).relay_status()
        return Snapshot(totals, gauges, workers, recorder, relay)

    def series(self, request: Mapping[str, Any]) -> list[MetricPoint]:
        """``{"task", "queue", "since", "until", "step"}`` -> one point per step (the last
        hour by minutes unless asked otherwise), from the rollups alone."""
        self._require(VIEWER)
        wanted = parse(MetricsRequest, request)
        step = wanted.step_seconds
        grain = grain_for(step)
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
        end = start + timedelta(seconds=points * step)
        with store_errors():
            rows = self._services.store.metrics.read(grain, start, end, wanted.task, wanted.queue)
        return series(rows, start, points, step)

    def counts(self, since: datetime, until: datetime | None = None) -> dict[str, int]:
        """Executions that came to rest in [since, until), by final state: whole hours from
        the hourly rollups, the ends from the minute ones."""
        self._require(VIEWER)
        start = to_storage(since).replace(second=0, microsecond=0)
        end = to_storage(until or self._services.clock.now())
        first_hour = start.replace(minute=0) + (timedelta(hours=1) if start.minute else timedelta())
        last_hour = end.replace(minute=0, second=0, microsecond=0)
        if first_hour >= last_hour:
            pieces = [(MINUTE, start, end)]
        else:
            pieces = [(MINUTE, start, first_hour), (HOUR, first_hour, last_hour)]
            pieces.append((MINUTE, last_hour, end))
        found = dict.fromkeys(COUNTED_STATES, 0)
        with store_errors():
            for grain, piece_since, piece_until in pieces:
                if piece_since >= piece_until:
                    continue
                totals = self._services.store.metrics.totals(
                    grain, piece_since, piece_until, COUNTED_STATES
                )
                for (_task, _queue, state, _bucket), count in totals.items():
                    found[state] += count
        return found

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
