"""What beat decides for a due row, before any I/O: fire, skip, finish or park it."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

from celery_ops.core.records import ScheduleRow
from celery_ops.recording.headers import SCHEDULE_HEADER
from celery_ops.scheduling.firing import plan_fire

NOW = datetime(2026, 5, 4, 12, 0, 0, tzinfo=timezone.utc)
GRACE = 60.0


def row(**values: Any) -> ScheduleRow:
    base: dict[str, Any] = {
        "id": 7,
        "name": "report",
        "task": "proj.report",
        "kind": "interval",
        "interval_seconds": 10.0,
        "cron_expression": None,
        "timezone": None,
        "run_at": None,
        "args": "[1]",
        "kwargs": '{"x": "é"}',
        "options": None,
        "queue": None,
        "priority": None,
        "enabled": True,
        "start_at": None,
        "end_at": None,
        "max_runs": None,
        "total_runs": 0,
        "misfire": None,
        "next_run_at": NOW - timedelta(milliseconds=5),
        "last_run_at": None,
    }
    return ScheduleRow(**(base | values))


def plan(values: dict[str, Any], known: bool = True) -> Any:
    return plan_fire(values, NOW, "UTC", GRACE, lambda _name: known)


class TestADueRowFires:
    def test_its_due_time_with_the_exact_arguments_and_its_name_in_the_headers(self) -> None:
        decided = plan(row(queue="reports", priority=3, options='{"expires": 30}'))
        assert decided.due_at == NOW - timedelta(milliseconds=5)
        assert decided.send is not None
        assert (decided.send.task, decided.send.args, decided.send.kwargs) == (
            "proj.report",
            [1],
            {"x": "é"},
        )
        assert decided.send.options["headers"] == {SCHEDULE_HEADER: "report"}
        assert decided.send.options["queue"] == "reports"
        assert decided.send.options["priority"] == 3
        assert decided.send.options["expires"] == 30
        assert decided.next_run_at == decided.due_at + timedelta(seconds=10)
        assert decided.enabled and decided.error is None

    def test_after_missed_periods_only_the_latest_fires_with_policy_once(self) -> None:
        decided = plan(row(next_run_at=NOW - timedelta(seconds=35)))
        assert decided.due_at == NOW - timedelta(seconds=5)
        assert decided.next_run_at == NOW + timedelta(seconds=5)

    def test_with_policy_skip_a_due_time_older_than_the_grace_is_not_sent(self) -> None:
        # Hourly, down for two hours: the latest missed due time is 90 s old.
        late = NOW - timedelta(hours=2, seconds=90)
        decided = plan(row(misfire="skip", interval_seconds=3600.0, next_run_at=late))
        assert decided.send is None and decided.error is None
        assert decided.next_run_at is not None and decided.next_run_at > NOW
        assert decided.enabled

    def test_with_policy_skip_a_slightly_late_due_time_still_fires(self) -> None:
        assert plan(row(misfire="skip")).send is not None


class TestASchedulesEnd:
    def test_a_one_off_disables_itself_after_firing(self) -> None:
        decided = plan(row(kind="once", run_at=NOW, interval_seconds=None, next_run_at=NOW))
        assert decided.send is not None
        assert (decided.enabled, decided.next_run_at) == (False, None)

    def test_the_last_of_max_runs_fires_then_disables(self) -> None:
        decided = plan(row(max_runs=3, total_runs=2))
        assert decided.send is not None
        assert not decided.enabled

    def test_a_schedule_past_its_end_does_not_fire(self) -> None:
        decided = plan(row(end_at=NOW - timedelta(seconds=1)))
        assert decided.send is None and not decided.enabled


class TestABadRowIsSkippedNotFatal:
    def test_an_invalid_cron_parks_the_row_with_the_reason(self) -> None:
        decided = plan(row(kind="cron", cron_expression="61 * * * *", interval_seconds=None))
        assert decided.send is None
        assert decided.next_run_at is None and decided.enabled
        assert decided.error is not None and "invalid cron expression" in decided.error

    def test_undecodable_args_skip_this_due_time_and_keep_the_schedule(self) -> None:
        decided = plan(row(args="[1, "))
        assert decided.send is None
        assert decided.error is not None and "args is not valid JSON" in decided.error
        assert decided.next_run_at is not None and decided.enabled

    def test_args_that_are_not_a_list_are_refused(self) -> None:
        decided = plan(row(args=json.dumps({"a": 1})))
        assert decided.error is not None and "args must be a JSON list" in decided.error

    def test_an_unknown_task_is_skipped_with_the_reason(self) -> None:
        decided = plan(row(), known=False)
        assert decided.send is None
        assert decided.error is not None and "'proj.report' is not registered" in decided.error
        assert decided.next_run_at is not None

    def test_an_unknown_time_zone_parks_the_row(self) -> None:
        decided = plan(row(kind="cron", cron_expression="* * * * *", timezone="Nowhere/City"))
        assert decided.error is not None and "unknown time zone" in decided.error
        assert decided.next_run_at is None
