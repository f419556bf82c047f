"""Purge deletes old records with their timelines, in chunks, and only what matches."""

from __future__ import annotations

import time
from datetime import timedelta

from sqlalchemy import func, select

from celery_ops.core.clock import utcnow
from celery_ops.core.filters import ExecutionFilter
from celery_ops.recording.events import ExecutionEvent
from celery_ops.recording.folding import fold_events
from celery_ops.store import Store
from celery_ops.store.models import execution_events


def seed(store: Store, count: int, status: str, age_seconds: float, prefix: str) -> None:
    at = time.time() - age_seconds
    events = []
    for i in range(count):
        events.append(ExecutionEvent(f"{prefix}{i}", "published", at, "PENDING", 1))
        events.append(ExecutionEvent(f"{prefix}{i}", "done", at, status, 1))
    store.write(fold_events(events, 1024, True))


def timeline_rows(store: Store) -> int:
    with store.engine.connect() as connection:
        return int(
            connection.execute(select(func.count()).select_from(execution_events)).scalar_one()
        )


def older_than(seconds: float, statuses: tuple[str, ...] = ()) -> ExecutionFilter:
    return ExecutionFilter(statuses=statuses, until=utcnow() - timedelta(seconds=seconds))


def test_purge_deletes_only_old_rows_of_the_given_status(store: Store) -> None:
    seed(store, 25, "SUCCESS", 10 * 86_400, "old-ok-")
    seed(store, 5, "FAILURE", 10 * 86_400, "old-fail-")
    seed(store, 7, "SUCCESS", 60, "new-ok-")
    old_successes = older_than(7 * 86_400, ("SUCCESS",))
    assert store.count_executions(old_successes, cap=None) == 25
    chunks: list[int] = []
    deleted = store.purge(old_successes, chunk_size=10, on_chunk=chunks.append)
    assert deleted == 25 and chunks == [10, 10, 5]
    assert store.execution("old-ok-0") is None
    assert store.execution("old-fail-0") is not None
    assert store.execution("new-ok-0") is not None
    assert timeline_rows(store) == (5 + 7) * 2


def test_purge_without_status_takes_every_old_row(store: Store) -> None:
    seed(store, 3, "SUCCESS", 10 * 86_400, "a-")
    seed(store, 3, "FAILURE", 10 * 86_400, "b-")
    assert store.purge(older_than(86_400)) == 6
    assert timeline_rows(store) == 0
