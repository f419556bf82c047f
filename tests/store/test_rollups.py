"""The rollups equal what the executions table says, exactly, whatever order events come in."""

from __future__ import annotations

import random
from datetime import datetime

import pytest
from helpers.rollups import assert_rollups_match, rolled_counts
from sqlalchemy import update

from celery_ops.core.filters import ExecutionFilter
from celery_ops.core.lifecycle import FAILURE, LOST, REVOKED, SUCCESS
from celery_ops.core.rollups import DAY, HOUR, MINUTE
from celery_ops.recording.events import ExecutionEvent
from celery_ops.recording.folding import fold_events
from celery_ops.store import Store, writes
from celery_ops.store.models import executions, rollups
from celery_ops.store.writes import mark_lost

TASKS = ("app.add", "app.report", "app.flaky")
QUEUES = ("celery", "reports", "slow")
#: 23:30 UTC: the workload crosses an hour and a day.
START = datetime(2026, 12, 3, 23, 30).timestamp() + 0.0
START_DAY = datetime(2026, 12, 4, 1, 0)


def event(task_id: str, status: str | None, attempt: int, at: float, **values: object):
    return ExecutionEvent(task_id, (status or "event").lower(), at, status, attempt, dict(values))


def lifecycle(rng: random.Random, task_id: str) -> list[ExecutionEvent]:
    """A task's events: sent, retried a few times maybe, and ended, lost or still running."""
    task, queue = rng.choice(TASKS), rng.choice(QUEUES)
    at = START + rng.uniform(0, 3600)
    events = [event(task_id, "PENDING", 0, at, task_name=task, queue=queue, published_at=at)]
    attempts = rng.choice((1, 1, 1, 2, 3))
    for attempt in range(1, attempts + 1):
        wait = rng.lognormvariate(0, 2)
        at += wait
        # The worker's events may not know the queue: the producer's fill it in, in any order.
        events.append(event(task_id, "RECEIVED", attempt, at, worker_id="w1", received_at=at))
        events.append(
            event(
                task_id,
                "STARTED",
                attempt,
                at,
                task_name=task,
                started_at=at,
                attempts=1,
                wait_time_ms=wait * 1000,
            )
        )
        runtime = rng.lognormvariate(-3, 1.5)
        at += runtime
        if attempt < attempts:
            events.append(event(task_id, "RETRY", attempt, at, execution_time_ms=runtime * 1000))
            continue
        ending = rng.random()
        if ending < 0.1:
            break  # still running, or lost: see below
        status = SUCCESS if ending < 0.75 else FAILURE if ending < 0.95 else REVOKED
        events.append(
            event(task_id, status, attempt, at, completed_at=at, execution_time_ms=runtime * 1000)
        )
    return events


def write_shuffled(store: Store, rng: random.Random, events: list[ExecutionEvent]) -> None:
    """In batches of random sizes, in an order close to time order but not quite."""
    order = sorted(events, key=lambda e: e.at + rng.uniform(-30, 30))
    while order:
        size = rng.randint(1, 200)
        batch, order = order[:size], order[size:]
        store.write(fold_events(batch, 65_536, True))


def workload(store: Store, seed: int, tasks: int = 600) -> list[str]:
    rng = random.Random(seed)
    ids = [f"{seed}-{n}" for n in range(tasks)]
    events = [e for task_id in ids for e in lifecycle(rng, task_id)]
    write_shuffled(store, rng, events)
    return ids


def backfill_all(store: Store, chunk_size: int = 1000) -> int:
    after_id: int | None = 0
    counted = 0
    while after_id is not None:
        chunk = store.metrics.backfill(after_id, chunk_size)
        counted, after_id = counted + chunk.counted, chunk.last_id
    return counted


class TestRollupsEqualTheTable:
    @pytest.mark.parametrize("seed", [1, 2])
    def test_a_mixed_workload_written_out_of_order(self, store: Store, seed: int) -> None:
        workload(store, seed)
        assert_rollups_match(store)

    def test_lost_work_is_counted_and_taken_back_when_it_comes_back(self, store: Store) -> None:
        ids = workload(store, 3)
        reaped_at = datetime(2026, 12, 4, 1, 0)
        with store.engine.begin() as connection:
            lost = mark_lost(connection, executions.c.worker_id == "w1", reaped_at, "test")
        assert lost > 0
        assert_rollups_match(store)
        assert rolled_counts(store, DAY)  # and LOST is among them
        assert any(key[3] == LOST for key in rolled_counts(store, DAY))
        # A redelivery of each lost task starts it again and it succeeds.
        back = START + 2 * 3600
        revived = [
            e
            for task_id in ids
            for e in (
                event(task_id, "STARTED", 7, back, started_at=back, wait_time_ms=5.0),
                event(task_id, SUCCESS, 7, back + 1, execution_time_ms=1000.0),
            )
        ]
        store.write(fold_events(revived, 65_536, True))
        assert not any(key[3] == LOST for key in rolled_counts(store, MINUTE))
        assert_rollups_match(store)

    def test_many_lost_at_once_are_marked_in_chunks(
        self, store: Store, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(writes, "LOST_CHUNK", 7)
        workload(store, 8, tasks=300)
        with store.engine.begin() as connection:
            lost = mark_lost(connection, executions.c.worker_id == "w1", START_DAY, "test")
        assert lost > 7  # several chunks
        assert sum(n for key, n in rolled_counts(store, DAY).items() if key[3] == LOST) == lost
        assert_rollups_match(store)

    def test_purging_executions_leaves_the_rollups(self, store: Store) -> None:
        workload(store, 4, tasks=200)
        before = rolled_counts(store, HOUR)
        store.purge(ExecutionFilter(), 50)
        assert rolled_counts(store, HOUR) == before


class TestBackfill:
    def test_counts_what_was_stored_before_rollups_existed(self, store: Store) -> None:
        workload(store, 5, tasks=400)
        with store.engine.begin() as connection:  # as migration 0011 leaves an older store
            connection.execute(update(executions).values(was_status=None))
            connection.execute(rollups.delete())
        assert backfill_all(store, chunk_size=150) == 400
        assert_rollups_match(store)
        assert store.metrics.backfill(0, 1000).counted == 0  # counted once

    def test_a_row_written_after_the_upgrade_is_counted_once(self, store: Store) -> None:
        """A row stored before rollups and written again is counted by that write; the
        backfill then leaves it."""
        workload(store, 6, tasks=100)
        with store.engine.begin() as connection:
            connection.execute(update(executions).values(was_status=None))
            connection.execute(rollups.delete())
        later = START + 3 * 3600
        store.write(
            fold_events(
                [event("6-1", SUCCESS, 9, later, completed_at=later, execution_time_ms=3.0)],
                65_536,
                True,
            )
        )
        backfill_all(store)
        assert_rollups_match(store)


class TestRetention:
    def test_each_grain_is_kept_its_own_time(self, store: Store) -> None:
        workload(store, 7, tasks=100)
        cutoff = datetime(2026, 12, 5)
        removed = store.metrics.forget_before({MINUTE: cutoff})
        assert removed > 0
        assert rolled_counts(store, MINUTE) == {}
        assert rolled_counts(store, HOUR) and rolled_counts(store, DAY)
