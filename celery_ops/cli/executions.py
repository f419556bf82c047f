"""`ops purge`, `ops retention` and `ops show`: the execution records from the command line."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import click

from celery_ops.cli.context import door, echo_json, fail, reported
from celery_ops.core.durations import format_duration
from celery_ops.core.errors import NotFound, OperationError
from celery_ops.core.records import Progress


@click.command()
@click.option("--older-than", required=True, help="Age of the last status change, e.g. 7d.")
@click.option("--status", "statuses", multiple=True, help="Only this status (repeatable).")
@click.option("--dry-run", is_flag=True, help="Count what would be deleted; delete nothing.")
@click.option("--chunk-size", default=1000, show_default=True, help="Rows per transaction.")
def purge(older_than: str, statuses: Sequence[str], dry_run: bool, chunk_size: int) -> None:
    """Delete execution records (and their timelines) older than a given age."""
    maintenance = door().maintenance
    selection = {"older_than": older_than, "status": list(statuses)}
    if dry_run:
        with reported():
            matching = maintenance.count(selection)
        click.echo(f"would delete {matching} execution(s) older than {older_than}")
        return
    bar = ProgressBar("purging")
    try:
        deleted = maintenance.purge(selection, chunk_size, bar)
    except OperationError as exc:
        bar.close()
        if bar.done:
            fail(f"purge stopped ({exc}); the {bar.done} deleted stay deleted, rerun to go on")
        fail(str(exc))
    bar.close()
    click.echo(f"deleted {deleted} execution(s) older than {older_than}")


@click.command()
@click.option("--dry-run", is_flag=True, help="Count what would be deleted; delete nothing.")
@click.option("--chunk-size", default=1000, show_default=True, help="Rows per transaction.")
def retention(dry_run: bool, chunk_size: int) -> None:
    """Apply ops_retention to executions and ops_beat_run_history to the schedule runs."""
    operations = door()
    config = operations.services.config
    history = format_duration(config.beat_run_history)
    bar = ProgressBar("deleting")
    try:
        report = operations.maintenance.retention(dry_run, chunk_size, bar)
    except OperationError as exc:
        bar.close()
        fail(str(exc))
    bar.close()
    verb = "would delete" if dry_run else "deleted"
    if report.schedule_runs is None:
        click.echo(f"schedule runs older than {history} would be deleted")
    else:
        click.echo(f"deleted {report.schedule_runs} schedule run(s) older than {history}")
        click.echo(f"deleted {report.rollups} metric rollup(s) past their retention")
    if not config.retention:
        click.echo('ops_retention is empty: executions are kept (set e.g. {"SUCCESS": "7d"})')
        return
    for status, count in report.executions.items():
        age = format_duration(config.retention[status])
        click.echo(f"{status} older than {age}: {count} execution(s)")
    click.echo(f"{verb} {report.total} execution(s) in all")


@click.command()
@click.argument("task_id")
@click.option("--json", "as_json", is_flag=True, help="Print the record as JSON.")
def show(task_id: str, as_json: bool) -> None:
    """Show one execution and its timeline."""
    executions = door().executions
    with reported():
        try:
            execution = executions.get(task_id)
        except NotFound:
            fail(f"no execution with task id {task_id!r} in the store")
        timeline = executions.timeline(task_id)
    shown = execution.shown()
    if as_json:
        entries = [
            {"event": e.event, "at": e.at, "worker": e.worker, "details": e.details}
            for e in timeline
        ]
        progress = execution.reported_progress
        shown["progress"] = None if progress is None else progress.as_dict()
        echo_json({"execution": shown, "timeline": entries})
        return
    width = max(len(key) for key in shown)
    for key, value in shown.items():
        if value is not None:
            click.echo(f"{key:<{width}}  {_display(value)}")
    click.echo("\ntimeline:")
    for entry in timeline:
        click.echo(
            f"  {entry.at:%Y-%m-%d %H:%M:%S.%f}  {entry.event:<16} "
            f"{entry.worker or '':<24} {entry.details or ''}"
        )


class ProgressBar:
    """A click progress bar, shown once the work knows how much there is."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.done = 0
        self._bar: Any = None

    def expect(self, total: int) -> None:
        if total:
            self._bar = click.progressbar(length=total, label=self.label, file=None)
            self._bar.__enter__()

    def advance(self, count: int = 1) -> None:
        self.done += count
        if self._bar is not None:
            self._bar.update(count)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)
            self._bar = None


def _display(value: Any) -> str:
    if isinstance(value, Progress):
        of = f" of {value.as_dict()['total']}" if value.total is not None else ""
        note = f" ({value.note})" if value.note else ""
        return f"{value.as_dict()['current']}{of}{note}, reported {value.at:%Y-%m-%d %H:%M:%S}"
    text = str(value)
    return text if "\n" not in text else "\n    " + text.replace("\n", "\n    ")
