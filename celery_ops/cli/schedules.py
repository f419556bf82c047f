"""`ops schedules ...`: the schedules DatabaseScheduler fires, from the command line."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import click

from celery_ops.beat import Schedule
from celery_ops.cli.context import current_ops, door, echo_json, fail, reported

F = TypeVar("F", bound=Callable[..., Any])

#: Option name -> the schedule field it sets. Values go to the operations layer as typed,
#: which reads and checks them (JSON text, numbers, ISO 8601 times).
DEFINITION_OPTIONS = {
    "task": "task",
    "cron": "cron",
    "timezone": "timezone",
    "every": "every",
    "at": "at",
    "args": "args",
    "kwargs": "kwargs",
    "send_options": "options",
    "queue": "queue",
    "priority": "priority",
    "max_runs": "max_runs",
    "start": "start_at",
    "end": "end_at",
    "misfire": "misfire",
    "description": "description",
}


def definition_options(command: F) -> F:
    """The options shared by `add` and `update`: everything that defines a schedule."""
    options = [
        click.option("--task", help="Registered task name, e.g. proj.tasks.report."),
        click.option("--cron", help="Cron expression: 5 fields, or 6 with seconds last."),
        click.option("--tz", "timezone", help="IANA time zone of --cron (default: the app's)."),
        click.option("--every", help="Interval in seconds."),
        click.option("--at", help="Run once at this ISO 8601 time (UTC unless it says)."),
        click.option("--args", help="Positional arguments as a JSON list."),
        click.option("--kwargs", help="Keyword arguments as a JSON object."),
        click.option("--options", "send_options", help="Other apply_async options, JSON."),
        click.option("--queue", help="Queue to send to."),
        click.option("--priority", help="Message priority (0-255)."),
        click.option("--max-runs", help="Disable after this many runs."),
        click.option("--start", help="Not before this ISO 8601 time."),
        click.option("--end", help="Not after this ISO 8601 time."),
        click.option("--misfire", help="Missed runs: once (fire the latest once) or skip."),
        click.option("--description", help="Free text shown in listings."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


@click.group()
def schedules() -> None:
    """Periodic and one-off tasks fired by `celery beat -S celery_ops.beat:DatabaseScheduler`."""


@schedules.command()
@click.argument("name")
@definition_options
@click.option("--disabled", is_flag=True, help="Create it disabled.")
def add(name: str, disabled: bool, **given: Any) -> None:
    """Create a schedule."""
    changes = _changes(given)
    task = changes.pop("task", None)
    if not task:
        fail("--task is required: the registered name of the task to send")
    with reported():
        schedule = door().schedules.add(name, task, enabled=not disabled, **changes)
    click.echo(f"added {schedule.name}: {_describe(schedule)}; next run {_next(schedule)}")


@schedules.command()
@click.argument("name")
@definition_options
@click.option("--rename", help="Give the schedule a new name.")
def update(name: str, rename: str | None, **given: Any) -> None:
    """Change a schedule: only the options given change."""
    changes = _changes(given)
    if rename:
        changes["name"] = rename
    if not changes:
        fail("nothing to change: give at least one option (see --help)")
    with reported():
        schedule = door().schedules.update(name, **changes)
    click.echo(f"updated {schedule.name}: {_describe(schedule)}; next run {_next(schedule)}")


@schedules.command(name="list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def list_schedules(as_json: bool) -> None:
    """Every schedule, by name."""
    with reported():
        found = list(door().schedules.all())
    if as_json:
        echo_json([schedule.as_dict() for schedule in found])
        return
    if not found:
        click.echo("no schedules yet: add one with `celery -A proj ops schedules add`")
        return
    rows = [
        (
            s.name,
            "on" if s.enabled else "off",
            _describe(s),
            s.task,
            _next(s),
            str(s.total_runs),
            (s.last_error or "")[:60],
        )
        for s in found
    ]
    _table(("NAME", "ON", "TIMING", "TASK", "NEXT RUN (UTC)", "RUNS", "LAST ERROR"), rows)


@schedules.command()
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def show(name: str, as_json: bool) -> None:
    """One schedule, its next 5 due times and its recent runs."""
    operations = door().schedules
    problem = ""
    with reported():
        schedule = operations.get(name)
        try:
            upcoming = operations.upcoming(name, 5)
        except ValueError as exc:
            upcoming, problem = [], str(exc)
        runs = operations.recent_runs(name, 10)
    tz = _zone(schedule.timezone or operations.default_timezone)
    if as_json:
        echo_json(
            schedule.as_dict()
            | {
                "upcoming": [t.isoformat() for t in upcoming],
                "recent_runs": [run.as_dict() for run in runs],
            }
        )
        return
    for key, value in schedule.as_dict().items():
        if value not in (None, "", [], {}):
            click.echo(f"{key:>16}: {value}")
    click.echo(f"{'next 5 (' + str(tz) + ')':>16}:")
    for when in upcoming:
        click.echo(f"{'':>18}{when.astimezone(tz).isoformat()}")
    if problem:
        click.echo(f"{'':>18}{problem}")
    click.echo(f"{'recent runs':>16}:" + ("" if runs else " none"))
    for run in runs:
        outcome = run.status or ("sent" if run.sent_at else "not sent")
        click.echo(
            f"{'':>18}{_when(run.due_at)}  {run.origin:<8}  {run.task_id}  {outcome}"
            + (f"  {run.error}" if run.error else "")
        )


@schedules.command()
@click.argument("name")
def enable(name: str) -> None:
    """Enable a schedule; its next due time is computed from now."""
    with reported():
        schedule = door().schedules.enable(name)
    click.echo(f"enabled {name}; next run {_next(schedule)}")


@schedules.command()
@click.argument("name")
def disable(name: str) -> None:
    """Disable a schedule; beat stops sending it within ops_beat_poll_interval."""
    with reported():
        door().schedules.disable(name)
    click.echo(f"disabled {name}")


@schedules.command()
@click.argument("name")
def remove(name: str) -> None:
    """Delete a schedule (its run history stays)."""
    with reported():
        door().schedules.remove(name)
    click.echo(f"removed {name}")


@schedules.command()
@click.argument("name")
def run(name: str) -> None:
    """Send the schedule's task once now, outside its timing."""
    with reported():
        task_id = door().schedules.run_now(name)
    click.echo(f"sent {name}: task id {task_id}")


@schedules.command(name="import-redbeat")
@click.option(
    "--redis-url",
    help="Where redbeat keeps its entries (default: redbeat_redis_url or the broker URL).",
)
@click.option("--key-prefix", help="redbeat_key_prefix (default: redbeat:).")
@click.option("--replace", is_flag=True, help="Overwrite schedules that already exist.")
def import_redbeat(redis_url: str | None, key_prefix: str | None, replace: bool) -> None:
    """Copy celery-redbeat's entries from Redis into schedules (redbeat is left as it was)."""
    conf = current_ops().app.conf
    url = redis_url or conf.get("redbeat_redis_url") or conf.broker_url
    prefix = key_prefix or conf.get("redbeat_key_prefix") or "redbeat:"
    with reported():
        report = door().schedules.import_redbeat(url, prefix, replace)
    for refusal in report.refused:
        click.echo(f"  {refusal}", err=True)
    click.echo(
        f"{len(report.imported)} imported, {len(report.skipped)} already present (use "
        f"--replace to overwrite), {len(report.refused)} refused ({prefix})"
    )
    if report.refused:
        raise SystemExit(1)


# Helpers


def _changes(given: dict[str, Any]) -> dict[str, Any]:
    """The options given, as schedule fields (the operations layer reads their values)."""
    return {
        field: given[option]
        for option, field in DEFINITION_OPTIONS.items()
        if given.get(option) is not None
    }


def _describe(schedule: Schedule) -> str:
    # A row written with SQL may lack its timing: shown as it is, never a traceback.
    if schedule.kind == "cron":
        return f"cron '{schedule.cron_expression or ''}' {schedule.timezone or ''}".strip()
    if schedule.kind == "interval":
        every = schedule.interval_seconds
        return f"every {every:g}s" if every is not None else "every ?s"
    if schedule.kind == "once":
        return f"once at {_when(schedule.run_at)}"
    return f"unknown kind {schedule.kind!r}"


def _next(schedule: Schedule) -> str:
    if not schedule.enabled:
        return "- (disabled)"
    return _when(schedule.next_run_at) if schedule.next_run_at else "- (not computed)"


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else "-"


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def _table(header: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> None:
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        click.echo(
            "  ".join(
                str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)
            ).rstrip()
        )
