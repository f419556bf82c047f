"""What a careless user typed gets one line on stderr, exit 1, and nothing changed."""

from __future__ import annotations

import json
import time

import pytest
from cli.conftest import Cli

from celery_ops.core.filters import ExecutionFilter


def _records(cli: Cli) -> int:
    return cli.door_app.door().executions.count(ExecutionFilter())


class TestPurge:
    @pytest.fixture(autouse=True)
    def month_old_records(self, cli: Cli) -> None:
        cli.door_app.seed(3, status="SUCCESS", at=time.time() - 30 * 86_400)

    def test_an_age_without_a_unit_is_refused_not_read_as_seconds(self, cli: Cli) -> None:
        result = cli("purge", "--older-than", "7")
        assert result.exit_code == 1
        assert "is not a duration: use a number followed by its unit" in result.stderr
        assert _records(cli) == 3

    @pytest.mark.parametrize("age", ["999999999999999999999999999999", "20000000w", "soon"])
    def test_an_absurd_age_is_refused(self, cli: Cli, age: str) -> None:
        result = cli("purge", "--older-than", age)
        assert result.exit_code == 1 and result.stderr.startswith("Error: older_than:")
        assert "Traceback" not in result.output
        assert _records(cli) == 3

    @pytest.mark.parametrize("chunk_size", ["0", "-5", "100001"])
    def test_a_chunk_size_must_be_positive_and_sane(self, cli: Cli, chunk_size: str) -> None:
        result = cli("purge", "--older-than", "1d", "--chunk-size", chunk_size)
        assert result.exit_code == 1
        assert "chunk size must be a whole number between 1 and 100000" in result.stderr
        assert "deleted" not in result.stdout
        assert _records(cli) == 3

    def test_a_refused_dry_run_says_nothing_about_deleted_rows(self, cli: Cli) -> None:
        result = cli("purge", "--older-than", "7", "--dry-run")
        assert result.exit_code == 1 and "deleted" not in result.output
        counted = cli("purge", "--older-than", "7d", "--dry-run")
        assert counted.exit_code == 0 and "would delete 3 execution(s)" in counted.stdout
        assert _records(cli) == 3

    def test_a_good_purge_deletes_and_says_how_many(self, cli: Cli) -> None:
        result = cli("purge", "--older-than", "7d", "--chunk-size", "2")
        assert result.exit_code == 0 and "deleted 3 execution(s) older than 7d" in result.stdout
        assert _records(cli) == 0


class TestSchedules:
    @pytest.mark.parametrize(
        ("every", "message"),
        [
            ("1e-9", "interval must be a number of seconds above 0, from 0.1"),
            ("inf", "every: Input should be a finite number"),
            ("1e308", "interval must be a number of seconds above 0, from 0.1"),
            ("nan", "every: Input should be a finite number"),
        ],
    )
    def test_an_absurd_interval_is_refused(self, cli: Cli, every: str, message: str) -> None:
        result = cli("schedules", "add", "tiny", "--task", "door.add", "--every", every)
        assert result.exit_code == 1 and message in result.stderr, result.output
        assert not cli.door_app.door().schedules.exists("tiny")

    @pytest.mark.parametrize(
        ("option", "value", "message"),
        [
            ("--max-runs", str(2**40), "max runs must be at least 1 and at most"),
            ("--start", "0001-01-01T00:00:00+14:00", "out of the range of dates"),
            ("--options", '"a string"', "options: must be a JSON object"),
            ("--queue", "q" * 256, "queue: String should have at most 255 characters"),
            ("--args", "[" * 900 + "]" * 900, "nests deeper than"),
        ],
    )
    def test_every_number_date_and_json_is_checked(
        self, cli: Cli, option: str, value: str, message: str
    ) -> None:
        result = cli("schedules", "add", "s", "--task", "door.add", "--every", "60", option, value)
        assert result.exit_code == 1 and message in result.stderr, result.output
        assert not cli.door_app.door().schedules.exists("s")

    def test_a_name_with_a_control_character_is_refused(self, cli: Cli) -> None:
        result = cli("schedules", "add", "bad\x01name", "--task", "door.add", "--every", "60")
        assert result.exit_code == 1 and "control character" in result.stderr

    def test_rows_written_with_sql_are_listed_and_shown_with_their_problem(self, cli: Cli) -> None:
        with cli.door_app.ops.store.engine.begin() as connection:
            for name, seconds in (("endless", float("inf")), ("blank", None)):
                connection.exec_driver_sql(
                    "INSERT INTO celery_ops_schedules (name, task, kind, interval_seconds, "
                    "enabled, total_runs, source) VALUES (?, 'door.add', 'interval', ?, 1, 0, "
                    "'user')",
                    (name, seconds),
                )
        listed = cli("schedules", "list")
        assert listed.exit_code == 0, listed.output
        assert "endless" in listed.stdout and "blank" in listed.stdout
        shown = cli("schedules", "show", "endless")
        assert shown.exit_code == 0, shown.output
        assert "interval must be a number of seconds" in shown.stdout
        as_json = cli("schedules", "show", "endless", "--json")
        assert json.loads(as_json.stdout)["interval_seconds"] is None  # standard JSON
        assert cli("schedules", "show", "blank").exit_code == 0


class TestRenaming:
    def test_a_schedule_is_renamed_and_the_new_name_is_checked(self, cli: Cli) -> None:
        schedules = cli.door_app.door().schedules
        schedules.add("old name", "door.add", every=60)
        bad = cli("schedules", "update", "old name", "--rename", "bad\x01")
        assert bad.exit_code == 1 and "control character" in bad.stderr
        renamed = cli("schedules", "update", "old name", "--rename", "reports/new name")
        assert renamed.exit_code == 0, renamed.output
        assert "updated reports/new name" in renamed.stdout
        assert schedules.exists("reports/new name") and not schedules.exists("old name")
