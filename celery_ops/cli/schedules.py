"""`ops schedules ...`: the schedules DatabaseScheduler fires, from the command line."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any, TypeVar

import click
from sqlalchemy.exc import SQLAlchemyError

from celery_ops.beat import Schedule, ScheduleError, ScheduleNotFound, Schedules
from celery_ops.beat.definition import parse_json_argument, parse_time
from celery_ops.beat.entries import read_redbeat
from celery_ops.beat.timing import zone
from celery_ops.cli.context import current_ops, echo_json, fail, one_line, safe_url

F = TypeVar("F", bound=Callable[..., Any])


def definition_options(command: F) -> F:
    """The options shared by `add` and `update`: everything that defines a schedule."""
    options = [
        click.option("--task", help="Registered task name, e.g. proj.tasks.report."),
        click.option("--cron", help="Cron expression: 5 fields, or 6 with seconds last."),
        click.option("--tz", "timezone", help="IANA time zone of --cron (default: the app's)."),
        click.option("--every", type=float, help="Interval in seconds."),
        click.option("--at", help="Run once at this ISO 8601 time (UTC unless it says)."),
        click.option("--args", help="Positional arguments as a JSON list."),
        click.option("--kwargs", help="Keyword arguments as a JSON object."),
        click.option("--options", "send_options", help="Other apply_async options, JSON."),
        click.option("--queue", help="Queue to send to."),
        click.option("--priority", type=int, help="Message priority."),
        click.option("--max-runs", type=int, help="Disable after this many runs."),
        click.option("--start", help="Not before this ISO 8601 time."),
        click.option("--end", help="Not after this ISO 8601 time."),
        click.option("--misfire", type=click.Choice(["once", "skip"]), help="Missed runs."),
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
    if not given.get("task"):
        fail("--task is required: the registered name of the task to send")
    with _schedule_errors() as api:
        changes = _changes(given)
        task = changes.pop("task")
        schedule = api.add(name, task, enabled=not disabled, **changes)
    click.echo(f"added {schedule.name}: {_describe(schedule)}; next run {_next(schedule)}")


@schedules.command()
@click.argument("name")
@definition_options
@click.option("--rename", help="Give the schedule a new name.")
def update(name: str, rename: str | None, **given: Any) -> None:
    """Change a schedule: only the options given change."""
    with _schedule_errors() as api:
        changes = _changes(given)
        if rename:
            changes["name"] = rename
        if not changes:
            fail("nothing to change: give at least one option (see --help)")
        schedule = api.update(name, **changes)
    click.echo(f"updated {schedule.name}: {_describe(schedule)}; next run {_next(schedule)}")


@schedules.command(name="list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def list_schedules(as_json: bool) -> None:
    """Every schedule, by name."""
    with _schedule_errors() as api:
        found = list(_all(api))
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
    with _schedule_errors() as api:
        schedule = api.get(name)
        tz = zone(schedule.timezone or api.default_timezone)
        try:
            upcoming = api.upcoming(name, 5)
        except ScheduleError as exc:
            upcoming, problem = [], str(exc)
        else:
            problem = ""
        runs = api.recent_runs(name, 10)
    if as_json:
        echo_json(
            schedule.as_dict()
            | {"upcoming": [t.isoformat() for t in upcoming], "recent_runs": runs}
        )
        return
    for key, value in schedule.as_dict().items():
        if value not in (None, "", [], {}):
            click.echo(f"{key:>16}: {value}")
    click.echo(f"{'next 5 (' + tz.key + ')':>16}:")
    for when in upcoming:
        click.echo(f"{'':>18}{when.astimezone(tz).isoformat()}")
    if problem:
        click.echo(f"{'':>18}{problem}")
    click.echo(f"{'recent runs':>16}:" + ("" if runs else " none"))
    for run in runs:
        outcome = run.get("status") or ("sent" if run.get("sent_at") else "not sent")
        click.echo(
            f"{'':>18}{_when(run['due_at'])}  {run['origin']:<8}  {run['task_id']}  {outcome}"
            + (f"  {run['error']}" if run.get("error") else "")
        )


@schedules.command()
@click.argument("name")
def enable(name: str) -> None:
    """Enable a schedule; its next due time is computed from now."""
    with _schedule_errors() as api:
        schedule = api.enable(name)
    click.echo(f"enabled {name}; next run {_next(schedule)}")


@schedules.command()
@click.argument("name")
def disable(name: str) -> None:
    """Disable a schedule; beat stops sending it within ops_beat_poll_interval."""
    with _schedule_errors() as api:
        api.disable(name)
    click.echo(f"disabled {name}")


@schedules.command()
@click.argument("name")
def remove(name: str) -> None:
    """Delete a schedule (its run history stays)."""
    with _schedule_errors() as api:
        api.remove(name)
    click.echo(f"removed {name}")


@schedules.command()
@click.argument("name")
def run(name: str) -> None:
    """Send the schedule's task once now, outside its timing."""
    with _schedule_errors() as api:
        task_id = api.run_now(name)
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
    ops = current_ops()
    conf = ops.app.conf
    url = redis_url or conf.get("redbeat_redis_url") or conf.broker_url
    prefix = key_prefix or conf.get("redbeat_key_prefix") or "redbeat:"
    imported = skipped = failed = 0
    with _schedule_errors() as api:
        try:
            specs = list(read_redbeat(url, prefix))
        except ScheduleError:
            raise
        except Exception as exc:
            fail(f"could not read redbeat entries from {safe_url(url)}: {one_line(exc)}")
        with click.progressbar(specs, label="importing", show_pos=True) as bar:
            for spec in bar:
                try:
                    if api.exists(spec.name):
                        if not replace:
                            skipped += 1
                            continue
                        api.remove(spec.name)
                    api.add_many([spec])
                    imported += 1
                except ScheduleError as exc:
                    failed += 1
                    click.echo(f"\n  {spec.name}: {exc}", err=True)
    click.echo(
        f"{imported} imported, {skipped} already present (use --replace to overwrite), "
        f"{failed} refused, from {safe_url(url)} ({prefix})"
    )
    if failed:
        raise SystemExit(1)


# Helpers


@contextmanager
def _schedule_errors() -> Iterator[Schedules]:
    """The app's Schedules; any error becomes one line on stderr and a non-zero exit."""
    ops = current_ops()
    try:
        yield ops.schedules
    except (ScheduleError, ScheduleNotFound) as exc:
        fail(str(exc))
    except SQLAlchemyError as exc:
        fail(f"could not use the store {safe_url(ops.store.url)}: {one_line(exc)}")


def _changes(given: dict[str, Any]) -> dict[str, Any]:
    """CLI options -> keyword changes for Schedules.add/update (only those given)."""
    changes: dict[str, Any] = {}
    simple = ("task", "cron", "timezone", "every", "queue", "priority", "max_runs", "misfire")
    for key in simple:
        if given.get(key) is not None:
            changes[key] = given[key]
    if given.get("description") is not None:
        changes["description"] = given["description"]
    if given.get("at"):
        changes["at"] = parse_time(given["at"], "--at")
    if given.get("start"):
        changes["start_at"] = parse_time(given["start"], "--start")
    if given.get("end"):
        changes["end_at"] = parse_time(given["end"], "--end")
    if given.get("args") is not None:
        changes["args"] = parse_json_argument(given["args"], "--args", list)
    if given.get("kwargs") is not None:
        changes["kwargs"] = parse_json_argument(given["kwargs"], "--kwargs", dict)
    if given.get("send_options") is not None:
        changes["options"] = parse_json_argument(given["send_options"], "--options", dict)
    return changes


def _all(api: Schedules) -> Iterator[Schedule]:
    after: str | None = None
    while True:
        page = api.page(after, 500)
        yield from page
        if len(page) < 500:
            return
        after = page[-1].name


def _describe(schedule: Schedule) -> str:
    if schedule.kind == "cron":
        return f"cron '{schedule.cron_expression}' {schedule.timezone or ''}".strip()
    if schedule.kind == "interval":
        return f"every {schedule.interval_seconds:g}s"
    return f"once at {_when(schedule.run_at)}"


def _next(schedule: Schedule) -> str:
    if not schedule.enabled:
        return "- (disabled)"
    return _when(schedule.next_run_at) if schedule.next_run_at else "- (not computed)"


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else "-"


def _table(header: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> None:
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        click.echo(
            "  ".join(
                str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)
            ).rstrip()
        )
