"""`celery -A proj ops ...` works in any project that installed the package."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable

import pytest
from helpers.services import REDIS_BROKER, require
from helpers.waiting import wait_for
from integration.conftest import ExternalApp

#: Real worker processes, brokers or servers: not in the fast loop.
pytestmark = pytest.mark.slow


def ops(app: ExternalApp, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return app.ops_cli(*args, stdin=stdin)


def test_db_upgrade_creates_the_schema_and_current_reports_it(
    external_app: Callable[..., ExternalApp], new_database
) -> None:
    app = external_app(REDIS_BROKER, new_database("postgresql"))
    before = ops(app, "db", "current")
    assert before.returncode == 0 and "database: empty" in before.stdout
    upgraded = ops(app, "db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    assert "upgraded from empty to" in upgraded.stdout
    after = ops(app, "db", "current")
    assert "up to date" in after.stdout


def test_show_prints_an_execution_and_its_timeline(
    external_app: Callable[..., ExternalApp], new_database
) -> None:
    require("redis")
    app = external_app(REDIS_BROKER, new_database("sqlite"))
    app.start_worker("cli")
    result = app.module.add.delay(1, 2)
    wait_for(
        lambda: len(app.ops.store.timeline(result.id)) == 4, 30, "the execution to be recorded"
    )
    shown = ops(app, "show", result.id)
    assert shown.returncode == 0, shown.stderr
    assert "SUCCESS" in shown.stdout and "succeeded" in shown.stdout
    assert "message_args" not in shown.stdout
    missing = ops(app, "show", "no-such-task")
    assert missing.returncode == 1 and "no execution with task id 'no-such-task'" in missing.stderr


def test_purge_counts_deletes_and_reports_progress(
    external_app: Callable[..., ExternalApp], new_database
) -> None:
    require("redis")
    app = external_app(REDIS_BROKER, new_database("mariadb"))
    app.start_worker("purge")
    results = [app.module.add.delay(i, i) for i in range(30)]
    wait_for(
        lambda: all(
            (r := app.ops.store.execution(x.id)) and r.status == "SUCCESS" for x in results
        ),
        30,
        "30 successes",
    )
    time.sleep(1.1)
    dry = ops(app, "purge", "--older-than", "1s", "--status", "SUCCESS", "--dry-run")
    assert dry.returncode == 0 and "would delete 30 execution(s)" in dry.stdout
    assert app.ops.store.execution(results[0].id) is not None
    real = ops(app, "purge", "--older-than", "1s", "--status", "success", "--chunk-size", "7")
    assert real.returncode == 0, real.stderr
    assert "deleted 30 execution(s)" in real.stdout
    assert app.ops.store.execution(results[0].id) is None
    assert app.ops.store.timeline(results[0].id) == []


def test_bad_input_gets_a_one_line_error_and_a_non_zero_exit(
    external_app: Callable[..., ExternalApp], new_database
) -> None:
    app = external_app(REDIS_BROKER, new_database("sqlite"))
    bad_age = ops(app, "purge", "--older-than", "soon")
    assert bad_age.returncode == 1 and "not a duration" in bad_age.stderr
    assert ops(app, "db", "upgrade").returncode == 0
    no_policy = ops(app, "retention")
    assert no_policy.returncode == 0, no_policy.stderr
    assert "ops_retention is empty: executions are kept" in no_policy.stdout
    assert "deleted 0 schedule run(s) older than 30d" in no_policy.stdout
