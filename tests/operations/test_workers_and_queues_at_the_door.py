"""Workers and queues at the door, on the in-memory broker: what is refused and how, what a
pause remembers, what a purge records, and that each change is audited once."""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Any

import pytest
from helpers.door_app import DoorApp

from celery_ops.core.errors import Conflict, Denied, InvalidInput, NotFound
from celery_ops.operations import VIEWER
from celery_ops.store import RecordBatch, WorkerState

NAN = float("nan")


def one_new_row(door_app: DoorApp, before: int) -> Any:
    rows = door_app.audit()[before:]
    assert len(rows) == 1, [(r.action, r.outcome) for r in rows]
    return rows[0]


def a_worker(door_app: DoorApp, hostname: str, online: bool) -> None:
    now = datetime.now(timezone.utc)
    values = {"pool": "prefork", "concurrency": 2, "queues": f'["{door_app.queue}"]'}
    door_app.ops.store.write(RecordBatch(workers=[WorkerState(hostname, now, online, values)]))


class TestBadInputIsRefusedAtTheDoor:
    @pytest.mark.parametrize(
        "change",
        [{}, {"grow": 0}, {"grow": 1, "shrink": 1}, {"grow": "x"}, {"grow": 10**9},
         {"grow": NAN}, {"shrink": -2}, {"grow": 1, "extra": True}],
    )  # fmt: skip
    def test_a_pool_change(self, door_app: DoorApp, change: dict) -> None:
        before = len(door_app.audit())
        with pytest.raises(InvalidInput):
            door_app.door().workers.resize_pool("w@host", change)
        row = one_new_row(door_app, before)
        assert (row.action, row.outcome) == ("worker-pool", "failed")

    @pytest.mark.parametrize(
        ("limits", "message"),
        [({"max": 2, "min": 3}, "must not be above max"), ({"max": 0}, "max"),
         ({"min": 1}, "max: Field required"), ({"max": NAN}, "max")],
    )  # fmt: skip
    def test_an_autoscale_range(self, door_app: DoorApp, limits: dict, message: str) -> None:
        with pytest.raises(InvalidInput, match=message):
            door_app.door().workers.autoscale("w@host", limits)

    @pytest.mark.parametrize("queue", ["", "a\x00b", "tab\there", "x" * 300, None, 7])
    def test_a_queue_name(self, door_app: DoorApp, queue: Any) -> None:
        door = door_app.door()
        for act in (
            lambda: door.workers.consume("w@host", {"queue": queue}),
            lambda: door.queues.pause(queue),
            lambda: door.queues.resume(queue),
            lambda: door.queues.purge(queue),
        ):
            with pytest.raises(InvalidInput):
                act()

    @pytest.mark.parametrize("hostname", ["", "nul\x00here", "x" * 300])
    def test_a_worker_name(self, door_app: DoorApp, hostname: str) -> None:
        with pytest.raises(InvalidInput, match="is not a worker name"):
            door_app.door().workers.shutdown(hostname)
        with pytest.raises(InvalidInput):
            door_app.door().workers.get(hostname)

    @pytest.mark.parametrize(
        ("limit", "message"),
        [({"rate": "fast"}, "is not a rate"), ({"rate": "10/x"}, "is not a rate"),
         ({"rate": NAN}, "is not a rate"), ({}, "rate: Field required")],
    )  # fmt: skip
    def test_a_rate_limit(self, door_app: DoorApp, limit: dict, message: str) -> None:
        with pytest.raises(InvalidInput, match=message):
            door_app.door().tasks.set_rate_limit("door.add", limit)

    @pytest.mark.parametrize(
        ("limit", "message"),
        [({"soft": -1}, "soft"), ({"soft": 10, "hard": 5}, "must not be above hard"),
         ({"hard": NAN}, "hard"), ({"hard": 10**12}, "hard")],
    )  # fmt: skip
    def test_a_time_limit(self, door_app: DoorApp, limit: dict, message: str) -> None:
        with pytest.raises(InvalidInput, match=message):
            door_app.door().tasks.set_time_limit("door.add", limit)

    def test_a_limit_for_a_task_no_one_knows(self, door_app: DoorApp) -> None:
        with pytest.raises(InvalidInput, match=r"unknown task 'nobody\.knows'"):
            door_app.door().tasks.set_rate_limit("nobody.knows", {"rate": "1/s"})


class TestWorkers:
    def test_an_action_on_a_worker_that_is_not_online_is_refused_at_once(
        self, door_app: DoorApp
    ) -> None:
        a_worker(door_app, "gone@host", online=False)
        for hostname in ("gone@host", "never@seen"):
            with pytest.raises(NotFound, match="no online worker named"):
                door_app.door().workers.resize_pool(hostname, {"grow": 1})

    def test_only_an_offline_worker_is_forgotten(self, door_app: DoorApp) -> None:
        a_worker(door_app, "gone@host", online=False)
        a_worker(door_app, "busy@host", online=True)
        door = door_app.door()
        with pytest.raises(Conflict, match="is online"):
            door.workers.forget("busy@host")
        with pytest.raises(NotFound):
            door.workers.forget("never@seen")
        before = len(door_app.audit())
        door.workers.forget("gone@host")
        row = one_new_row(door_app, before)
        assert (row.action, row.outcome, row.targets) == (
            "worker-forget",
            "ok",
            {"worker": "gone@host"},
        )
        assert door_app.ops.store.worker("gone@host") is None

    def test_the_list_shows_online_workers_first_and_fades_old_offline_ones(
        self, door_app: DoorApp
    ) -> None:
        a_worker(door_app, "a-gone@host", online=False)
        a_worker(door_app, "b-busy@host", online=True)
        listed = door_app.door(VIEWER).workers.all(live=False)
        assert [(w.hostname, w.status) for w in listed] == [
            ("b-busy@host", "online"),
            ("a-gone@host", "offline"),
        ]
        door_app.configure(offline_workers_shown=0)
        time.sleep(0.01)
        assert [w.hostname for w in door_app.door(VIEWER).workers.all(live=False)] == [
            "b-busy@host"
        ]


class TestPausingAQueue:
    def test_a_pause_is_remembered_with_who_and_when_and_a_second_one_keeps_the_first(
        self, door_app: DoorApp
    ) -> None:
        queue = door_app.queue
        first = door_app.door().queues.pause(queue)
        assert first.pause is not None and first.pause.paused_by == "operator-user"
        again = door_app.ops.operations(door_app.door("admin").actor).queues.pause(queue)
        assert again.pause == first.pause
        shown = door_app.door(VIEWER).queues.get(queue)
        assert shown.paused and shown.pause == first.pause
        assert door_app.ops.paused_queues() == {queue}
        resumed = door_app.door().queues.resume(queue)
        assert resumed.pause is None and door_app.ops.paused_queues() == set()
        actions = [(r.action, r.actor, r.outcome) for r in door_app.audit()[-3:]]
        assert actions == [
            ("queue-pause", "operator-user", "ok"),
            ("queue-pause", "admin-user", "ok"),
            ("queue-resume", "operator-user", "ok"),
        ]

    def test_a_viewer_may_not_pause_and_the_refusal_is_audited(self, door_app: DoorApp) -> None:
        before = len(door_app.audit())
        with pytest.raises(Denied):
            door_app.door(VIEWER).queues.pause(door_app.queue)
        row = one_new_row(door_app, before)
        assert (row.action, row.actor, row.outcome) == ("queue-pause", "viewer-user", "denied")
        assert door_app.ops.paused_queues() == set()


class TestQueueFigures:
    def test_latency_is_the_age_of_the_oldest_waiting_execution(self, door_app: DoorApp) -> None:
        door_app.seed(2, status="PENDING", at=time.time() - 30)
        door_app.seed(1, status="PENDING", at=time.time() - 5)
        shown = door_app.door(VIEWER).queues.get(door_app.queue)
        assert shown.latency_seconds is not None and 29 < shown.latency_seconds < 40
        assert shown.counts["PENDING"] == 3

    def test_wait_percentiles_come_from_the_last_hours_starts(self, door_app: DoorApp) -> None:
        now = time.time()
        for wait_ms in range(1, 101):
            door_app.seed(1, status="SUCCESS", started_at=now - 60, wait_time_ms=wait_ms * 10)
        door_app.seed(1, status="SUCCESS", started_at=now - 7200, wait_time_ms=99_000)
        shown = door_app.door(VIEWER).queues.get(door_app.queue)
        # From the rollups' histograms: within their 2 % relative error.
        assert shown.wait_p50_seconds == pytest.approx(0.5, rel=0.021)
        assert shown.wait_p95_seconds == pytest.approx(0.95, rel=0.021)

    def test_an_unknown_queue_is_not_found(self, door_app: DoorApp) -> None:
        with pytest.raises(NotFound, match="no queue named 'nowhere'"):
            door_app.door(VIEWER).queues.get("nowhere")


class TestPurgingAQueue:
    def test_the_messages_are_taken_and_their_executions_revoked(self, door_app: DoorApp) -> None:
        sent = [door_app.app.send_task("door.add", (i, i)).id for i in range(5)]
        door_app.ops.recorder.flush(timeout=5)
        assert door_app.queued() == 5
        accepted = door_app.door().queues.purge(door_app.queue)
        assert accepted.finished is not None
        assert accepted.finished.result is not None
        assert accepted.finished.result["purged"] == 5
        assert door_app.queued() == 0
        for task_id in sent:
            execution = door_app.ops.store.execution(task_id)
            assert execution is not None and execution.status == "REVOKED"
            assert execution.error_type == "QueuePurged"
            assert execution.error_message == f"queue {door_app.queue} purged by operator-user"
        row = door_app.audit()[-1]
        assert (row.action, row.outcome, row.targets["purged"]) == ("queue-purge", "ok", 5)
