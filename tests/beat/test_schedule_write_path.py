"""The one write path for schedules: validated before saving, whole or not at all."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from beat.conftest import BeatApp
from celery.schedules import crontab

from celery_ops.beat import ScheduleError, ScheduleNotFound, ScheduleSpec
from celery_ops.core.clock import utcnow

#: Real worker processes, brokers or servers: not in the fast loop.
pytestmark = pytest.mark.slow


def count(beat_app: BeatApp) -> int:
    return int(beat_app.sql("SELECT count(*) FROM celery_ops_schedules")[0][0])


class TestAddingASchedule:
    def test_a_cron_schedule_is_saved_with_its_next_due_time_in_its_zone(
        self, beat_app: BeatApp
    ) -> None:
        schedule = beat_app.ops.schedules.add(
            "nightly",
            "beatapp.add",
            cron="30 2 * * *",
            timezone="Europe/Rome",
            args=[1, 2],
            queue="reports",
            description="the nightly report",
        )
        assert (schedule.kind, schedule.cron_expression, schedule.timezone) == (
            "cron",
            "30 2 * * *",
            "Europe/Rome",
        )
        assert schedule.args == [1, 2] and schedule.queue == "reports"
        assert schedule.next_run_at is not None
        local = schedule.next_run_at.astimezone(ZoneInfo("Europe/Rome"))
        assert (local.hour, local.minute) in ((2, 30), (3, 30))
        assert schedule.created_at is not None and schedule.enabled

    def test_an_interval_is_due_at_once_and_then_every_period(self, beat_app: BeatApp) -> None:
        before = utcnow()
        schedule = beat_app.ops.schedules.add("ping", "beatapp.add", every=2, args=[1, 1])
        assert schedule.next_run_at is not None
        assert before <= schedule.next_run_at <= utcnow()
        upcoming = beat_app.ops.schedules.upcoming("ping", 3)
        assert [b - a for a, b in pairwise(upcoming)] == [timedelta(seconds=2)] * 2

    def test_the_app_time_zone_is_the_default_for_cron(self, beat_app: BeatApp) -> None:
        beat_app.app.conf.timezone = "America/New_York"
        schedule = beat_app.ops.schedules.add("ny", "beatapp.add", cron="0 9 * * *")
        assert schedule.timezone == "America/New_York"

    def test_a_task_seen_on_a_worker_but_not_in_this_app_is_accepted(
        self, beat_app: BeatApp
    ) -> None:
        beat_app.sql("INSERT INTO celery_ops_definitions (name) VALUES ('elsewhere.task')")
        assert beat_app.ops.schedules.add("far", "elsewhere.task", every=60).task == (
            "elsewhere.task"
        )


class TestBadInputIsRefusedAndNothingIsSaved:
    @pytest.mark.parametrize(
        ("definition", "message"),
        [
            ({"cron": "61 * * * *"}, "invalid cron expression"),
            ({"cron": "* * *"}, "expected 5 fields"),
            ({"cron": "* * * * *", "timezone": "Mars/Olympus"}, "unknown time zone"),
            ({"every": 0}, "above 0"),
            ({"every": -5}, "above 0"),
            ({"every": 5, "cron": "* * * * *"}, "one timing only"),
            ({}, "needs a timing"),
            ({"every": 5, "args": [object()]}, "JSON-serialisable"),
            ({"every": 5, "kwargs": {"x": float("nan")}}, "nan, which is not a number JSON"),
            ({"every": 5, "options": {"task_id": "x"}}, "unsupported option"),
            ({"every": 5, "max_runs": 0}, "at least 1"),
            ({"every": 5, "priority": 300}, "between 0 and 255"),
            ({"every": 5, "misfire": "sometimes"}, "misfire must be"),
            (
                {
                    "every": 5,
                    "start_at": datetime(2027, 1, 2, tzinfo=timezone.utc),
                    "end_at": datetime(2027, 1, 1, tzinfo=timezone.utc),
                },
                "end must come after the start",
            ),
            ({"at": datetime(2020, 1, 1, tzinfo=timezone.utc)}, "is in the past"),
        ],
    )
    def test_invalid_definitions(
        self, beat_app: BeatApp, definition: dict[str, Any], message: str
    ) -> None:
        with pytest.raises(ScheduleError, match=message):
            beat_app.ops.schedules.add("bad", "beatapp.add", **definition)
        assert count(beat_app) == 0

    def test_an_unknown_task(self, beat_app: BeatApp) -> None:
        with pytest.raises(ScheduleError, match=r"unknown task nope\.missing"):
            beat_app.ops.schedules.add("bad", "nope.missing", every=5)
        assert count(beat_app) == 0

    def test_a_duplicate_name(self, beat_app: BeatApp) -> None:
        beat_app.ops.schedules.add("dup", "beatapp.add", every=5)
        with pytest.raises(ScheduleError, match="'dup' already exists"):
            beat_app.ops.schedules.add("dup", "beatapp.add", every=9)
        assert beat_app.ops.schedules.get("dup").interval_seconds == 5

    def test_many_at_once_are_saved_all_or_none(self, beat_app: BeatApp) -> None:
        good = ScheduleSpec(name="a", task="beatapp.add", kind="interval", interval_seconds=5)
        bad = ScheduleSpec(name="b", task="beatapp.add", kind="cron", cron_expression="x")
        with pytest.raises(ScheduleError):
            beat_app.ops.schedules.add_many([good, bad])
        beat_app.ops.schedules.add("b", "beatapp.add", every=1)
        with pytest.raises(ScheduleError, match="already exists"):
            beat_app.ops.schedules.add_many([good, ScheduleSpec(**{**good.__dict__, "name": "b"})])
        assert count(beat_app) == 1


class TestChangingASchedule:
    def test_only_the_fields_given_change_and_the_timing_is_recomputed(
        self, beat_app: BeatApp
    ) -> None:
        schedules = beat_app.ops.schedules
        schedules.add("report", "beatapp.add", cron="0 3 * * *", args=[1, 2], queue="q1")
        updated = schedules.update("report", every=30)
        assert (updated.kind, updated.interval_seconds, updated.cron_expression) == (
            "interval",
            30,
            None,
        )
        assert updated.args == [1, 2] and updated.queue == "q1"
        assert updated.next_run_at is not None and updated.next_run_at <= utcnow()

    def test_a_shorter_interval_counts_from_the_last_run(self, beat_app: BeatApp) -> None:
        schedules = beat_app.ops.schedules
        schedules.add("tick", "beatapp.add", every=60)
        last = utcnow() - timedelta(seconds=1)
        beat_app.sql(
            "UPDATE celery_ops_schedules SET last_run_at = :last WHERE name = 'tick'",
            last=last.replace(tzinfo=None),
        )
        updated = schedules.update("tick", every=5)
        assert updated.next_run_at is not None
        assert abs((updated.next_run_at - (last + timedelta(seconds=5))).total_seconds()) < 0.01

    def test_an_invalid_change_leaves_the_schedule_as_it_was(self, beat_app: BeatApp) -> None:
        schedules = beat_app.ops.schedules
        before = schedules.add("stay", "beatapp.add", every=10)
        with pytest.raises(ScheduleError):
            schedules.update("stay", cron="not a cron")
        assert schedules.get("stay") == before

    def test_disable_and_enable(self, beat_app: BeatApp) -> None:
        schedules = beat_app.ops.schedules
        schedules.add("pause", "beatapp.add", every=10)
        disabled = schedules.disable("pause")
        assert (disabled.enabled, disabled.next_run_at) == (False, None)
        enabled = schedules.enable("pause")
        assert enabled.enabled and enabled.next_run_at is not None

    def test_a_schedule_that_used_up_its_runs_needs_more_to_be_enabled(
        self, beat_app: BeatApp
    ) -> None:
        schedules = beat_app.ops.schedules
        schedules.add("limited", "beatapp.add", every=10, max_runs=2, enabled=False)
        beat_app.sql("UPDATE celery_ops_schedules SET total_runs = 2 WHERE name = 'limited'")
        with pytest.raises(ScheduleError, match="raise --max-runs"):
            schedules.enable("limited")
        assert schedules.update("limited", max_runs=3, enabled=True).enabled

    def test_unknown_names_say_so(self, beat_app: BeatApp) -> None:
        with pytest.raises(ScheduleNotFound, match="no schedule named 'ghost'"):
            beat_app.ops.schedules.update("ghost", every=1)
        with pytest.raises(ScheduleNotFound):
            beat_app.ops.schedules.remove("ghost")


class TestTheAppsBeatScheduleComesAlong:
    def test_entries_are_added_updated_and_removed_keeping_the_operators_switch(
        self, beat_app: BeatApp
    ) -> None:
        schedules = beat_app.ops.schedules
        first = {
            "every-10": {"task": "beatapp.add", "schedule": 10.0, "args": (1, 2)},
            "weekdays": {
                "task": "beatapp.add",
                "schedule": crontab(minute="15", hour="7,19", day_of_week="mon-fri"),
                "options": {"queue": "reports", "expires": 60},
            },
            "doomed": {"task": "beatapp.add", "schedule": timedelta(minutes=5)},
        }
        report = schedules.sync_config(first)
        assert sorted(report.added) == ["doomed", "every-10", "weekdays"]
        weekdays = schedules.get("weekdays")
        assert weekdays.cron_expression == "15 7,19 * * mon-fri"
        assert (weekdays.queue, weekdays.options, weekdays.source) == (
            "reports",
            {"expires": 60},
            "config",
        )
        schedules.disable("every-10")

        second = {
            "every-10": {"task": "beatapp.add", "schedule": 20.0, "args": (1, 2)},
            "weekdays": first["weekdays"],
        }
        report = schedules.sync_config(second)
        assert (report.added, report.updated, report.removed) == ([], ["every-10"], ["doomed"])
        every = schedules.get("every-10")
        assert every.interval_seconds == 20 and not every.enabled
        assert not schedules.sync_config(second).changed

    def test_a_users_schedule_of_the_same_name_is_not_overwritten(self, beat_app: BeatApp) -> None:
        beat_app.ops.schedules.add("mine", "beatapp.add", every=3)
        report = beat_app.ops.schedules.sync_config(
            {"mine": {"task": "beatapp.add", "schedule": 99.0}}
        )
        assert report.problems and "rename one of them" in report.problems[0]
        assert beat_app.ops.schedules.get("mine").interval_seconds == 3

    def test_an_entry_that_cannot_be_stored_is_reported_and_the_rest_synced(
        self, beat_app: BeatApp
    ) -> None:
        report = beat_app.ops.schedules.sync_config(
            {
                "sunrise": {"task": "beatapp.add", "schedule": "at sunrise"},
                "fine": {"task": "beatapp.add", "schedule": 5},
            }
        )
        assert report.added == ["fine"]
        assert "unsupported schedule type str" in report.problems[0]

    @pytest.mark.parametrize(
        ("entry", "message"),
        [
            ({"task": "beatapp.add", "schedule": 1e-9}, "interval must be"),
            ({"task": "beatapp.add", "schedule": float("inf")}, "interval must be"),
            ({"task": "beatapp.add", "schedule": timedelta(microseconds=1)}, "interval must be"),
            ({"task": "beatapp.add", "schedule": timedelta(days=4000)}, "interval must be"),
            ({"task": "beatapp.add", "schedule": 5, "options": {"priority": 2**40}}, "priority"),
        ],
    )
    def test_an_absurd_entry_is_reported_and_the_rest_synced(
        self, beat_app: BeatApp, entry: dict, message: str
    ) -> None:
        report = beat_app.ops.schedules.sync_config(
            {"absurd": entry, "fine": {"task": "beatapp.add", "schedule": 5}}
        )
        assert report.added == ["fine"]
        assert len(report.problems) == 1 and message in report.problems[0], report.problems
        assert not beat_app.ops.schedules.exists("absurd")

    @pytest.mark.parametrize("name", ["", "line\nbreak", "x" * 201])
    def test_an_entry_whose_key_cannot_be_a_name_is_reported(
        self, beat_app: BeatApp, name: str
    ) -> None:
        report = beat_app.ops.schedules.sync_config(
            {
                name: {"task": "beatapp.add", "schedule": 5},
                "a key/with spaces": {"task": "beatapp.add", "schedule": 5},
            }
        )
        assert report.added == ["a key/with spaces"]
        assert len(report.problems) == 1 and "not synced" in report.problems[0]
