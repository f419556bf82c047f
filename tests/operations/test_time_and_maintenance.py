"""What depends on the time is decided by the clock the operations are given: tests move
time instead of waiting for it."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import time_machine
from helpers.door_app import DoorApp

from celery_ops.core.clock import FixedClock
from celery_ops.core.filters import ExecutionFilter
from celery_ops.operations import Actor
from celery_ops.recording.events import ExecutionEvent, WorkerReport
from celery_ops.recording.folding import fold_events


class TestRetention:
    def test_each_status_is_kept_as_long_as_its_policy_says(self, door_app: DoorApp) -> None:
        door_app.configure(retention={"SUCCESS": "7d", "FAILURE": "30d"})
        door_app.seed(5, status="SUCCESS")
        door_app.seed(2, status="FAILURE")
        operations = door_app.ops.operations(Actor.cli())
        with time_machine.travel(datetime.now(timezone.utc) + timedelta(days=8)):
            dry = operations.maintenance.retention(dry_run=True)
            assert dry.executions == {"FAILURE": 0, "SUCCESS": 5}
            assert door_app.audit() == []  # a dry run changes nothing, and is not audited
            report = operations.maintenance.retention()
        assert report.executions == {"FAILURE": 0, "SUCCESS": 5}
        assert door_app.door().executions.count(ExecutionFilter()) == 2
        [entry] = door_app.audit()
        assert entry.actor.startswith("cli:") and entry.action == "retention"
        assert entry.targets["deleted"] == {"FAILURE": 0, "SUCCESS": 5}

    def test_a_purge_by_age_counts_from_the_clock_it_is_given(self, door_app: DoorApp) -> None:
        door_app.seed(3, status="SUCCESS")
        maintenance = door_app.door().maintenance
        assert maintenance.count({"older_than": "1h"}) == 0
        with time_machine.travel(datetime.now(timezone.utc) + timedelta(hours=2)):
            assert maintenance.count({"older_than": "1h"}) == 3
            assert maintenance.purge({"older_than": "1h"}, chunk_size=2) == 3


class TestTheReaper:
    def test_it_is_audited_as_a_system_actor_only_when_it_changes_something(
        self, door_app: DoorApp
    ) -> None:
        ops = door_app.ops
        now = time.time()
        ops.store.write(fold_events([WorkerReport("dead@h", now, online=True)], 1, True))
        started = ExecutionEvent(
            "t1", "started", now, "STARTED", 1, {"worker_id": "dead@h", "attempts": 1}
        )
        ops.store.write(fold_events([started], 1, True))
        ops.reap_lost_work()  # the worker is alive: nothing to do, nothing audited
        with time_machine.travel(datetime.now(timezone.utc) + timedelta(days=1)):
            ops.reap_lost_work()
            ops.reap_lost_work()  # nothing left to do: no second row
        assert ops.store.execution("t1").status == "LOST"
        [entry] = door_app.audit()
        assert (entry.actor, entry.action) == ("system:reaper", "reap")
        assert entry.targets == {"workers_offline": 1, "executions_lost": 1}


class TestTheClock:
    def test_a_fixed_clock_stands_still_until_moved(self) -> None:
        clock = FixedClock(datetime(2026, 3, 29, 1, 59, tzinfo=timezone.utc))
        before = clock.now()
        clock.advance(120)
        assert clock.now() - before == timedelta(minutes=2)
        assert clock.timestamp() == clock.now().timestamp()
