"""One period's metrics from the rollups: what Home, a task's page and the queues show."""

from __future__ import annotations

from datetime import datetime, timedelta

from celery_ops.core.clock import to_storage
from celery_ops.core.rollups import HOUR, MEASURES, MINUTE, MetricPoint, series
from celery_ops.operations.errors import store_errors
from celery_ops.store import Store


def summarize(
    store: Store,
    since: datetime,
    until: datetime,
    task: str | None = None,
    queue: str | None = None,
) -> MetricPoint:
    """One point for all of [since, until): whole hours from the hourly rollups, the minutes
    at either end from the minute ones (a day is 24 hourly rows and 120 minute rows at most,
    per state and bucket, whatever the traffic)."""
    start = to_storage(since).replace(second=0, microsecond=0)
    end = to_storage(until)
    first_hour = start.replace(minute=0) + (timedelta(hours=1) if start.minute else timedelta())
    last_hour = end.replace(minute=0, second=0, microsecond=0)
    if first_hour >= last_hour:
        pieces = [(MINUTE, start, end)]
    else:
        pieces = [(MINUTE, start, first_hour), (HOUR, first_hour, last_hour)]
        pieces.append((MINUTE, last_hour, end))
    rows: list[tuple[datetime, str, int, int]] = []
    with store_errors():
        for grain, piece_since, piece_until in pieces:
            if piece_since >= piece_until:
                continue
            found = store.metrics.totals(grain, piece_since, piece_until, MEASURES, task, queue)
            rows.extend(
                (start, measure, bucket, count)
                for (_task, _queue, measure, bucket), count in found.items()
            )
    span = max((end - start).total_seconds(), 1.0)
    return series(rows, start, 1, span)[0]
