"""`celery beat -S celery_ops.beat:DatabaseScheduler` beside a real worker, edited from the CLI."""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta
from itertools import pairwise

import pytest
from helpers.services import REDIS_BROKER, require
from helpers.waiting import wait_for
from integration.conftest import ExternalApp
from sqlalchemy import text

from celery_ops.core.clock import utcnow

#: Real worker processes, brokers or servers: not in the fast loop.
pytestmark = pytest.mark.slow

# How long two beats run side by side: 30 s in the suite; the soak of minutes is
# `BEAT_SOAK_SECONDS=600 bash scripts/test.sh -k two_beats` (docs/scheduling.md).
SOAK_SECONDS = float(os.environ.get("BEAT_SOAK_SECONDS", "30"))


def due_times(app: ExternalApp, name: str) -> list[datetime]:
    """The due times fired for ``name``, from the runs table."""
    return [due for due, _claimed in runs(app, name)]


def executions_of(app: ExternalApp, name: str, status: str | None = None) -> int:
    app.ops.store.dispose()
    query = "SELECT count(*) FROM celery_ops_executions WHERE schedule_name = :name"
    if status:
        query += " AND status = :status"
    with app.ops.store.engine.connect() as connection:
        return int(connection.execute(text(query), {"name": name, "status": status}).scalar_one())


def wait_until_all_ran(app: ExternalApp, name: str, fires: int) -> None:
    wait_for(lambda: executions_of(app, name, "SUCCESS") == fires, 30, f"{fires} runs of {name}")


def gaps(times: list[datetime]) -> list[float]:
    return [round((b - a).total_seconds(), 3) for a, b in pairwise(times)]


def _utc(value: object) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    assert isinstance(value, datetime)
    return value.replace(tzinfo=None)


def cli_ok(app: ExternalApp, *args: str) -> str:
    result = app.ops_cli(*args)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_edits_from_the_cli_take_effect_live_and_a_one_off_fires_once(
    external_app: Callable[..., ExternalApp], new_database
) -> None:
    require("redis")
    app = external_app(REDIS_BROKER, new_database("postgresql"))
    cli_ok(app, "db", "upgrade")
    app.start_worker("beat-worker", pool="solo")
    # A broken row written by plain SQL must not stop anything.
    with app.ops.store.engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO celery_ops_schedules (name, task, kind, cron_expression) "
                "VALUES ('broken', 'extapp.add', 'cron', '99 99 * * *')"
            )
        )
    cli_ok(
        app, "schedules", "add", "tick", "--task", "extapp.add", "--every", "2", "--args", "[1, 2]"
    )
    beat = app.start_beat()

    wait_for(lambda: len(due_times(app, "tick")) >= 4, 20, "four fires at the 2 s rate")
    assert set(gaps(due_times(app, "tick"))) == {2.0}

    edited_at = utcnow().replace(tzinfo=None)
    cli_ok(app, "schedules", "update", "tick", "--every", "1")
    wait_for(lambda: len([t for t in due_times(app, "tick") if t > edited_at]) >= 5, 20, "1 s rate")
    after = [t for t in due_times(app, "tick") if t > edited_at]
    assert (after[0] - edited_at).total_seconds() < 2.0
    # A due time of the old definition, read by beat just before the edit, may still go out
    # right after it; from the next one on, the new period holds.
    assert set(gaps(after[1:])) == {1.0}

    cli_ok(app, "schedules", "disable", "tick")
    disabled_at = utcnow().replace(tzinfo=None)
    time.sleep(3)
    assert not [t for t in due_times(app, "tick") if t > disabled_at + timedelta(seconds=1)]

    at = (utcnow() + timedelta(seconds=5)).isoformat()
    cli_ok(
        app, "schedules", "add", "one-off", "--task", "extapp.add", "--at", at, "--args", "[2, 2]"
    )
    wait_for(lambda: executions_of(app, "one-off", "SUCCESS") == 1, 20, "the one-off to run")
    time.sleep(2)
    assert len(due_times(app, "one-off")) == 1 and executions_of(app, "one-off") == 1
    shown = cli_ok(app, "schedules", "show", "one-off")
    assert "kind: once" in shown and "SUCCESS" in shown

    fired = len(due_times(app, "tick"))
    wait_for(lambda: executions_of(app, "tick", "SUCCESS") == fired, 20, "every tick recorded")
    assert "invalid cron expression" in cli_ok(app, "schedules", "show", "broken")
    assert beat.log().count("'broken': invalid cron expression") == 1


def test_two_beats_fire_each_due_time_once_and_one_survives_the_others_kill(
    external_app: Callable[..., ExternalApp], new_database
) -> None:
    require("redis")
    app = external_app(REDIS_BROKER, new_database("postgresql"), OPS_CLAIM_TIMEOUT="4")
    cli_ok(app, "db", "upgrade")
    app.start_worker("soak-worker", pool="threads", concurrency=4)
    names = [f"every-second-{i}" for i in range(4)]
    for name in names:
        cli_ok(
            app,
            "schedules",
            "add",
            name,
            "--task",
            "extapp.add",
            "--every",
            "1",
            "--args",
            "[1, 1]",
        )
    cli_ok(
        app,
        "schedules",
        "add",
        "cron-2s",
        "--task",
        "extapp.add",
        "--cron",
        "* * * * * */2",
        "--args",
        "[0, 0]",
    )
    first, second = app.start_beat("first"), app.start_beat("second")

    time.sleep(SOAK_SECONDS * 2 / 3)
    first.kill()
    killed_at = utcnow().replace(tzinfo=None)
    time.sleep(SOAK_SECONDS / 3)
    second.stop()

    for name in [*names, "cron-2s"]:
        times = due_times(app, name)
        period = 2.0 if name == "cron-2s" else 1.0
        assert max(Counter(times).values()) == 1, f"{name}: a due time fired twice"
        assert set(gaps(times)) == {period}, f"{name}: a due time was missed: {gaps(times)}"
        assert times[-1] > killed_at + timedelta(seconds=SOAK_SECONDS / 3 - 5)
        wait_until_all_ran(app, name, len(times))
        assert executions_of(app, name) == len(times)
    with app.ops.store.engine.connect() as connection:
        claimers = connection.execute(
            text("SELECT count(DISTINCT claimed_by) FROM celery_ops_schedule_runs")
        ).scalar_one()
    assert claimers == 2, "both beats shared the work"


def test_a_beat_stopped_for_three_periods_fires_the_missed_time_once(
    external_app: Callable[..., ExternalApp], new_database
) -> None:
    require("redis")
    app = external_app(REDIS_BROKER, new_database("sqlite"))
    cli_ok(app, "db", "upgrade")
    cli_ok(
        app,
        "schedules",
        "add",
        "every-3",
        "--task",
        "extapp.add",
        "--every",
        "3",
        "--args",
        "[3, 3]",
    )
    beat = app.start_beat()
    wait_for(lambda: len(due_times(app, "every-3")) >= 2, 15, "two fires")
    beat.stop()
    stopped_at = utcnow().replace(tzinfo=None)
    before = due_times(app, "every-3")

    time.sleep(10)  # three periods and a bit
    app.start_beat("restarted")
    wait_for(lambda: len(due_times(app, "every-3")) >= len(before) + 3, 20, "fires after restart")

    after = [run for run in runs(app, "every-3") if run[0] > before[-1]]
    first_due = after[0][0]
    # Once, not once per period: the periods missed while no beat ran were not sent one by
    # one (their due times are absent: the first fire after the restart is three periods or
    # more after the last one before the stop), and from there every period fired once.
    # (Claim times cannot tell the catch-up from the next regular fire: the restart may land
    # just before a due time, and then both are sent within the same second.)
    assert (first_due - before[-1]).total_seconds() >= 9.0, after
    assert first_due > stopped_at
    assert set(gaps([due for due, _claimed in after])) == {3.0}


def runs(app: ExternalApp, name: str) -> list[tuple[datetime, datetime]]:
    """(due time, claim time) of each fire of ``name``."""
    with app.ops.store.engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT due_at, claimed_at FROM celery_ops_schedule_runs "
                "WHERE schedule_name = :name ORDER BY due_at"
            ),
            {"name": name},
        )
        return [(_utc(row[0]), _utc(row[1])) for row in rows]
