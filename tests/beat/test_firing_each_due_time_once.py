"""DatabaseScheduler against a real broker and store: each due time is sent exactly once."""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from datetime import timedelta

import pytest
from beat.conftest import BeatApp
from celery import Celery

import celery_ops
from celery_ops.beat import DatabaseScheduler, ScheduleSpec
from celery_ops.core.clock import utcnow
from celery_ops.recording.headers import SCHEDULE_HEADER

#: Real worker processes, brokers or servers: not in the fast loop.
pytestmark = pytest.mark.slow


def run_for(scheduler: DatabaseScheduler, seconds: float) -> None:
    """Drive the scheduler as `celery beat` does: tick, sleep what it says, again."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(min(scheduler.tick(), max(deadline - time.monotonic(), 0)))


def runs(beat_app: BeatApp) -> list[tuple[str, object, object]]:
    return [
        tuple(row)
        for row in beat_app.sql(
            "SELECT schedule_name, due_at, sent_at FROM celery_ops_schedule_runs ORDER BY due_at"
        )
    ]


class TestASingleBeat:
    def test_a_due_schedule_is_sent_with_its_name_and_recorded(self, beat_app: BeatApp) -> None:
        beat_app.ops.schedules.add("adder", "beatapp.add", every=60, args=[2, 3])
        scheduler = beat_app.scheduler()
        scheduler.tick()

        (message,) = beat_app.messages()
        assert message["headers"]["task"] == "beatapp.add"
        assert message["headers"][SCHEDULE_HEADER] == "adder"
        schedule = beat_app.ops.schedules.get("adder")
        assert schedule.total_runs == 1
        assert schedule.last_task_id == message["headers"]["id"]
        assert schedule.next_run_at is not None and schedule.next_run_at > utcnow()
        ((name, _due, sent_at),) = runs(beat_app)
        assert name == "adder" and sent_at is not None

    def test_the_recorder_links_the_execution_to_its_schedule(self, beat_app: BeatApp) -> None:
        beat_app.ops.schedules.add("linked", "beatapp.add", every=60, args=[1, 1])
        beat_app.scheduler().tick()
        task_id = beat_app.ops.schedules.get("linked").last_task_id
        assert task_id is not None
        beat_app.ops.recorder.flush(timeout=5)
        execution = beat_app.ops.store.execution(task_id)
        assert execution is not None
        assert (execution.status, execution.schedule_name) == ("PENDING", "linked")

    def test_an_edit_takes_effect_on_the_next_tick_without_a_restart(
        self, beat_app: BeatApp
    ) -> None:
        schedules = beat_app.ops.schedules
        schedules.add("edited", "beatapp.add", every=3600, args=[1, 1])
        scheduler = beat_app.scheduler()
        scheduler.tick()
        assert len(beat_app.messages()) == 1
        schedules.update("edited", every=0.5)
        run_for(scheduler, 1.8)
        assert 4 <= len(beat_app.messages()) <= 5
        schedules.disable("edited")
        sent = len(beat_app.messages())
        run_for(scheduler, 1.0)
        assert len(beat_app.messages()) == sent

    def test_the_sleep_is_bounded_by_the_poll_interval(self, beat_app: BeatApp) -> None:
        beat_app.ops.schedules.add("later", "beatapp.add", every=3600, args=[1, 1])
        scheduler = beat_app.scheduler()
        scheduler.tick()
        assert scheduler.tick() == pytest.approx(1.0)
        beat_app.ops.schedules.add("soon", "beatapp.add", cron="* * * * * *", args=[1, 1])
        assert scheduler.tick() < 1.0

    def test_a_one_off_fires_once_and_disables_itself(self, beat_app: BeatApp) -> None:
        beat_app.ops.schedules.add(
            "once", "beatapp.add", at=utcnow() + timedelta(seconds=0.3), args=[1, 1]
        )
        run_for(beat_app.scheduler(), 1.5)
        assert len(beat_app.messages()) == 1
        assert not beat_app.ops.schedules.get("once").enabled

    def test_a_unique_task_still_waiting_is_not_sent_again_and_its_runs_say_for_whom(
        self, beat_app: BeatApp
    ) -> None:
        # Due every 0.5 s, not consumed: each later due time finds the first still waiting.
        @beat_app.app.task(name="beatapp.rebuild", ops_unique_for=600)
        def rebuild() -> None: ...

        beat_app.ops.schedules.add("rebuild", "beatapp.rebuild", every=0.5)
        run_for(beat_app.scheduler(), 1.8)
        (message,) = beat_app.messages()
        holder = message["headers"]["id"]
        assert beat_app.ops.schedules.get("rebuild").last_task_id == holder
        fired = beat_app.sql("SELECT task_id, error FROM celery_ops_schedule_runs ORDER BY id")
        assert len(fired) >= 3 and {run.task_id for run in fired} == {holder}
        assert fired[0].error is None
        for run in fired[1:]:
            assert run.error == f"not sent: a duplicate of {holder}, which holds its unique key"


class TestABadRowNeverStopsBeat:
    def test_an_invalid_cron_written_by_sql_is_reported_once_and_the_rest_fire(
        self, beat_app: BeatApp, caplog: pytest.LogCaptureFixture
    ) -> None:
        beat_app.ops.schedules.add("good", "beatapp.add", every=0.5, args=[1, 1])
        beat_app.sql(
            "INSERT INTO celery_ops_schedules (name, task, kind, cron_expression) "
            "VALUES ('broken', 'beatapp.add', 'cron', '99 * * * *')"
        )
        caplog.set_level(logging.ERROR, logger="celery_ops.beat")
        run_for(beat_app.scheduler(), 1.6)

        broken = beat_app.ops.schedules.get("broken")
        assert broken.last_error is not None and "invalid cron expression" in broken.last_error
        assert [r.getMessage() for r in caplog.records].count(
            f"celery-ops: {broken.last_error} (skipped; the other schedules go on)"
        ) == 1
        assert len(beat_app.messages()) >= 3
        assert {m["headers"][SCHEDULE_HEADER] for m in beat_app.messages()} == {"good"}

    def test_a_row_written_by_sql_with_valid_timing_gets_its_due_time_and_fires(
        self, beat_app: BeatApp
    ) -> None:
        beat_app.sql(
            "INSERT INTO celery_ops_schedules (name, task, kind, interval_seconds, args) "
            "VALUES ('by-sql', 'beatapp.add', 'interval', 60, '[4, 5]')"
        )
        run_for(beat_app.scheduler(), 0.5)
        (message,) = beat_app.messages()
        assert message["headers"][SCHEDULE_HEADER] == "by-sql"

    def test_undecodable_args_and_unknown_tasks_are_skipped_with_the_reason(
        self, beat_app: BeatApp
    ) -> None:
        beat_app.ops.schedules.add("fine", "beatapp.add", every=60, args=[1, 1])
        for name, task, args in [("garbled", "beatapp.add", "[1,"), ("gone", "gone.x", "[]")]:
            beat_app.sql(
                "INSERT INTO celery_ops_schedules (name, task, kind, interval_seconds, args, "
                "next_run_at) VALUES (:name, :task, 'interval', 60, :args, :now)",
                name=name,
                task=task,
                args=args,
                now=utcnow().replace(tzinfo=None),
            )
        beat_app.scheduler().tick()
        assert [m["headers"][SCHEDULE_HEADER] for m in beat_app.messages()] == ["fine"]
        garbled = beat_app.ops.schedules.get("garbled")
        assert garbled.last_error and "args is not valid JSON" in garbled.last_error
        assert garbled.next_run_at and garbled.next_run_at > utcnow()
        gone = beat_app.ops.schedules.get("gone")
        assert gone.last_error and "'gone.x' is not registered" in gone.last_error

    def test_a_dead_database_makes_beat_wait_not_crash(self, beat_app: BeatApp) -> None:
        other = Celery("dead-db", broker=beat_app.app.conf.broker_url)
        celery_ops.init_app(other, database_url="postgresql+psycopg://nobody@127.0.0.1:9/none")
        scheduler = DatabaseScheduler(other, lazy=True)
        assert scheduler.tick() == scheduler.poll_interval
        other.close()


class TestManyBeats:
    def test_two_beats_racing_send_each_due_time_once(self, beat_app: BeatApp) -> None:
        beat_app.ops.schedules.add_many(
            [
                # Every 0.2 s for 20 schedules: both beats find the same rows due each tick.
                ScheduleSpec(
                    name=f"s{i:02}",
                    task="beatapp.add",
                    kind="interval",
                    interval_seconds=0.2,
                    args=[1, 2],
                )
                for i in range(20)
            ]
        )
        beats = [beat_app.scheduler(), beat_app.scheduler()]
        threads = [threading.Thread(target=run_for, args=(beat, 3.0)) for beat in beats]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

        history = runs(beat_app)
        per_due = Counter((name, due) for name, due, _sent in history)
        assert per_due and max(per_due.values()) == 1
        assert all(sent is not None for _name, _due, sent in history)
        messages = beat_app.messages()
        assert len(messages) == len(history)
        assert len({m["headers"]["id"] for m in messages}) == len(messages)
        claimers = {
            row[0]
            for row in beat_app.sql("SELECT DISTINCT claimed_by FROM celery_ops_schedule_runs")
        }
        assert claimers == {beat.beat_id for beat in beats}

    def test_a_claim_left_unsent_by_a_dead_beat_is_sent_by_another_under_the_same_id(
        self, beat_app: BeatApp
    ) -> None:
        schedule = beat_app.ops.schedules.add("orphan", "beatapp.add", every=3600, args=[7, 8])
        long_ago = (utcnow() - timedelta(minutes=5)).replace(tzinfo=None)
        beat_app.sql(
            "INSERT INTO celery_ops_schedule_runs (schedule_id, schedule_name, due_at, "
            "claimed_at, claimed_by, task_id, origin) VALUES (:id, 'orphan', :due, :at, "
            "'dead-beat', 'the-task-id', 'schedule')",
            id=schedule.id,
            due=long_ago,
            at=long_ago,
        )
        beat_app.scheduler().tick()
        ids = [m["headers"]["id"] for m in beat_app.messages()]
        assert "the-task-id" in ids
        (sent_at,) = beat_app.sql(
            "SELECT sent_at FROM celery_ops_schedule_runs WHERE task_id = 'the-task-id'"
        )[0]
        assert sent_at is not None

    def test_a_fresh_claim_of_a_live_beat_is_left_alone(self, beat_app: BeatApp) -> None:
        schedule = beat_app.ops.schedules.add("busy", "beatapp.add", every=3600, args=[1, 1])
        just_now = utcnow().replace(tzinfo=None)
        beat_app.sql(
            "INSERT INTO celery_ops_schedule_runs (schedule_id, schedule_name, due_at, "
            "claimed_at, claimed_by, task_id, origin) VALUES (:id, 'busy', :due, :at, "
            "'live-beat', 'in-flight', 'schedule')",
            id=schedule.id,
            due=just_now - timedelta(seconds=1),
            at=just_now,
        )
        beat_app.scheduler().tick()
        assert "in-flight" not in [m["headers"]["id"] for m in beat_app.messages()]
