"""`celery -A proj ops schedules ...`: one-line errors, nothing half-written, redbeat import."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
import redis
from celery.schedules import crontab
from helpers.services import REDIS_BROKER, require
from integration.conftest import ExternalApp
from redbeat import RedBeatSchedulerEntry

from celery_ops.core.clock import utcnow

#: Real worker processes, brokers or servers: not in the fast loop.
pytestmark = pytest.mark.slow


@pytest.fixture
def app(external_app: Callable[..., ExternalApp], new_database) -> ExternalApp:
    app = external_app(REDIS_BROKER, new_database("sqlite"))
    assert app.ops_cli("db", "upgrade").returncode == 0
    return app


class TestManagingSchedules:
    def test_add_list_show_run_enable_disable_remove(self, app: ExternalApp) -> None:
        added = app.ops_cli(
            "schedules", "add", "nightly", "--task", "extapp.add", "--cron", "30 2 * * *",
            "--tz", "Europe/Rome", "--args", "[1, 2]", "--queue", "reports", "--max-runs", "10",
        )  # fmt: skip
        assert added.returncode == 0, added.stderr
        assert "added nightly: cron '30 2 * * *' Europe/Rome" in added.stdout

        listed = app.ops_cli("schedules", "list")
        assert "nightly" in listed.stdout and "extapp.add" in listed.stdout

        shown = app.ops_cli("schedules", "show", "nightly")
        lines = shown.stdout.splitlines()
        start = next(i for i, line in enumerate(lines) if "next 5 (Europe/Rome)" in line)
        upcoming = [line.strip() for line in lines[start + 1 : start + 6]]
        assert all(
            item.endswith(("+01:00", "+02:00")) and ("T02:30:00" in item or "T03:30:00" in item)
            for item in upcoming
        ), upcoming

        sent = app.ops_cli("schedules", "run", "nightly")
        assert sent.returncode == 0 and "task id" in sent.stdout
        assert "manual" in app.ops_cli("schedules", "show", "nightly").stdout

        assert "disabled nightly" in app.ops_cli("schedules", "disable", "nightly").stdout
        assert "enabled nightly" in app.ops_cli("schedules", "enable", "nightly").stdout
        updated = app.ops_cli("schedules", "update", "nightly", "--every", "90")
        assert "updated nightly: every 90s" in updated.stdout
        assert "removed nightly" in app.ops_cli("schedules", "remove", "nightly").stdout
        assert "no schedules yet" in app.ops_cli("schedules", "list").stdout

    @pytest.mark.parametrize(
        ("arguments", "message"),
        [
            (["--task", "extapp.add", "--cron", "61 * * * *"], "invalid cron expression"),
            (["--task", "extapp.add", "--cron", "* * * * *", "--tz", "Nowhere/X"], "time zone"),
            (["--task", "no.such.task", "--every", "5"], "unknown task no.such.task"),
            (["--task", "extapp.add", "--every", "5", "--args", "{not json"], "not valid JSON"),
            (["--task", "extapp.add", "--every", "5", "--args", '{"a": 1}'], "must be a JSON list"),
            (["--task", "extapp.add", "--every", "5", "--kwargs", "[1]"], "must be a JSON object"),
            (["--task", "extapp.add", "--at", "tomorrow"], "not an ISO 8601 time"),
            (["--task", "extapp.add", "--every", "5", "--cron", "* * * * *"], "one timing"),
            (["--task", "extapp.add"], "needs a timing"),
            (["--every", "5"], "--task is required"),
        ],
    )
    def test_bad_input_gets_one_line_and_a_non_zero_exit_and_saves_nothing(
        self, app: ExternalApp, arguments: list[str], message: str
    ) -> None:
        result = app.ops_cli("schedules", "add", "bad", *arguments)
        assert result.returncode != 0
        assert message in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert "no schedules yet" in app.ops_cli("schedules", "list").stdout

    def test_a_duplicate_name_and_an_unknown_name(self, app: ExternalApp) -> None:
        ok = ["--task", "extapp.add", "--every", "5"]
        assert app.ops_cli("schedules", "add", "twice", *ok).returncode == 0
        again = app.ops_cli("schedules", "add", "twice", *ok)
        assert again.returncode == 1 and "'twice' already exists" in again.stderr
        for command in ("show", "enable", "disable", "remove", "run"):
            missing = app.ops_cli("schedules", command, "ghost")
            assert missing.returncode == 1
            assert "no schedule named 'ghost'" in missing.stderr


class TestImportingFromRedbeat:
    @pytest.fixture
    def redbeat(self, app: ExternalApp) -> Iterator[tuple[str, str]]:
        """Entries written by celery-redbeat itself, under a prefix of their own."""
        require("redis")
        prefix = f"redbeat-{uuid.uuid4().hex[:6]}:"
        app.app.conf.redbeat_redis_url = REDIS_BROKER
        app.app.conf.redbeat_key_prefix = prefix
        last_run = utcnow() - timedelta(seconds=10)
        RedBeatSchedulerEntry(
            "every-30", "extapp.add", 30.0, args=(1, 2), app=app.app, last_run_at=last_run
        ).save()
        RedBeatSchedulerEntry(
            "weekly",
            "extapp.echo",
            crontab(minute=0, hour=8, day_of_week="mon"),
            kwargs={"who": "ops"},
            options={"queue": "reports", "expires": 60},
            app=app.app,
        ).save()
        yield REDIS_BROKER, prefix
        client = redis.Redis.from_url(REDIS_BROKER)
        for key in client.scan_iter(f"{prefix}*"):
            client.delete(key)
        client.close()

    def test_entries_are_copied_with_their_timing_arguments_and_options(
        self, app: ExternalApp, redbeat: tuple[str, str]
    ) -> None:
        url, prefix = redbeat
        result = app.ops_cli(
            "schedules", "import-redbeat", "--redis-url", url, "--key-prefix", prefix
        )
        assert result.returncode == 0, result.stderr
        assert "2 imported, 0 already present" in result.stdout

        every = app.ops.schedules.get("every-30")
        assert (every.kind, every.interval_seconds, every.args, every.source) == (
            "interval", 30.0, [1, 2], "redbeat",
        )  # fmt: skip
        # The phase is kept: the next run is 30 s after redbeat's last one.
        assert every.next_run_at is not None
        assert 15 <= (every.next_run_at - utcnow()).total_seconds() <= 21
        weekly = app.ops.schedules.get("weekly")
        assert (weekly.cron_expression, weekly.kwargs, weekly.queue, weekly.options) == (
            "0 8 * * mon", {"who": "ops"}, "reports", {"expires": 60},
        )  # fmt: skip

        again = app.ops_cli(
            "schedules", "import-redbeat", "--redis-url", url, "--key-prefix", prefix
        )
        assert "0 imported, 2 already present" in again.stdout

    def test_an_absurd_entry_is_refused_with_its_reason_and_the_rest_imported(
        self, app: ExternalApp, redbeat: tuple[str, str]
    ) -> None:
        url, prefix = redbeat
        RedBeatSchedulerEntry("too-fast", "extapp.add", 1e-9, app=app.app).save()
        RedBeatSchedulerEntry("bad\x01name", "extapp.add", 60.0, app=app.app).save()
        result = app.ops_cli(
            "schedules", "import-redbeat", "--redis-url", url, "--key-prefix", prefix
        )
        assert result.returncode == 1
        assert "2 imported, 0 already present (use --replace to overwrite), 2 refused" in (
            result.stdout
        )
        assert "too-fast: " in result.stderr and "interval must be" in result.stderr
        assert "control character" in result.stderr
        assert not app.ops.schedules.exists("too-fast")
        assert app.ops.schedules.exists("every-30") and app.ops.schedules.exists("weekly")
