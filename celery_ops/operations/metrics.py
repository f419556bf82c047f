"""Metrics from the rollups: series over any period, the backfill and the rollups' retention."""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from celery_ops.core.clock import to_storage
from celery_ops.core.errors import InvalidInput
from celery_ops.core.filters import ExecutionFilter
from celery_ops.core.rollups import DAY, HOUR, MINUTE, MetricPoint, grain_for, series
from celery_ops.operations.actors import OPERATOR, VIEWER
from celery_ops.operations.errors import store_errors
from celery_ops.operations.jobs import ProgressReport
from celery_ops.operations.requests import MetricsRequest, parse
from celery_ops.operations.services import OperationGroup

#: The most points one series answers.
MAX_POINTS = 1500
#: How long hourly and daily rollups are kept (minute rows: ``ops_metrics_retention``).
HOURLY_KEPT = 366 * DAY
DAILY_KEPT = 5 * 366 * DAY
BACKFILL_CHUNK = 5000


class MetricOperations(OperationGroup):
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

    def forget_old(self) -> int:
        """Delete minute rollups past ``ops_metrics_retention``, hourly ones past a year and
        daily ones past five years (run by ``ops retention``)."""
        now = to_storage(self._services.clock.now())
        kept = {
            MINUTE: self._services.config.metrics_retention,
            HOUR: float(HOURLY_KEPT),
            DAY: float(DAILY_KEPT),
        }
        cutoffs = {grain: now - timedelta(seconds=age) for grain, age in kept.items()}
        with store_errors():
            return self._services.store.metrics.forget_before(cutoffs)


def _floor(moment: datetime, step: float) -> datetime:
    """``moment`` down to a multiple of ``step`` since the epoch (naive UTC)."""
    epoch = datetime(1970, 1, 1)
    seconds = (to_storage(moment) - epoch).total_seconds()
    return epoch + timedelta(seconds=seconds // step * step)
