"""`ops purge`, `ops retention` and `ops show`: the execution records from the command line."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

import click

from celery_ops.cli.context import current_ops, echo_json, fail, one_line
from celery_ops.durations import format_duration, parse_duration
from celery_ops.lifecycle import ALL_STATUSES
from celery_ops.store import Store

STATUS = click.Choice(ALL_STATUSES, case_sensitive=False)


@click.command()
@click.option("--older-than", required=True, help="Age of the last status change, e.g. 7d.")
@click.option("--status", "statuses", multiple=True, type=STATUS, help="Only these (repeatable).")
@click.option("--dry-run", is_flag=True, help="Count what would be deleted; delete nothing.")
@click.option("--chunk-size", default=1000, show_default=True, help="Rows per transaction.")
def purge(older_than: str, statuses: Sequence[str], dry_run: bool, chunk_size: int) -> None:
    """Delete execution records (and their timelines) older than a given age."""
    try:
        age = parse_duration(older_than)
    except ValueError as exc:
        fail(f"--older-than: {exc}", code=2)
    store = current_ops().store
    wanted = [status.upper() for status in statuses] or None
    deleted = _purge(store, age, wanted, dry_run, chunk_size, f"older than {older_than}")
    verb = "would delete" if dry_run else "deleted"
    click.echo(f"{verb} {deleted} execution(s) older than {older_than}")


@click.command()
@click.option("--dry-run", is_flag=True, help="Count what would be deleted; delete nothing.")
@click.option("--chunk-size", default=1000, show_default=True, help="Rows per transaction.")
def retention(dry_run: bool, chunk_size: int) -> None:
    """Apply ops_retention to executions and ops_beat_run_history to the schedule runs."""
    ops = current_ops()
    policy = ops.config.retention
    history = ops.config.beat_run_history
    if dry_run:
        click.echo(f"schedule runs older than {format_duration(history)} would be deleted")
    else:
        try:
            runs = ops.store.schedules.delete_runs_before(_utcnow() - timedelta(seconds=history))
        except Exception as exc:
            fail(f"could not delete old schedule runs: {one_line(exc)}")
        click.echo(f"deleted {runs} schedule run(s) older than {format_duration(history)}")
    if not policy:
        click.echo('ops_retention is empty: executions are kept (set e.g. {"SUCCESS": "7d"})')
        return
    total = 0
    for status, age in sorted(policy.items()):
        total += _purge(
            ops.store,
            age,
            [status],
            dry_run,
            chunk_size,
            f"{status} older than {format_duration(age)}",
        )
    click.echo(f"{'would delete' if dry_run else 'deleted'} {total} execution(s) in all")


def _purge(
    store: Store, age: float, statuses: list[str] | None, dry_run: bool, chunk: int, label: str
) -> int:
    try:
        matching = store.count_older_than(age, statuses)
        if dry_run or not matching:
            click.echo(f"{label}: {matching} execution(s)")
            return matching
        with click.progressbar(length=matching, label=f"purging {label}", file=None) as bar:
            return store.purge_older_than(age, statuses, chunk, on_chunk=bar.update)
    except Exception as exc:
        fail(f"purge failed ({one_line(exc)}); rows deleted so far stay deleted, rerun to go on")


@click.command()
@click.argument("task_id")
@click.option("--json", "as_json", is_flag=True, help="Print the record as JSON.")
def show(task_id: str, as_json: bool) -> None:
    """Show one execution and its timeline."""
    store = current_ops().store
    try:
        execution = store.execution(task_id)
        timeline = store.timeline(task_id) if execution else []
    except Exception as exc:
        fail(f"could not read the store: {one_line(exc)}")
    if execution is None:
        fail(f"no execution with task id {task_id!r} in the store")
    hidden = {"id", "progress", "message_args", "message_kwargs"}
    shown = {key: value for key, value in execution.items() if key not in hidden}
    if as_json:
        echo_json({"execution": shown, "timeline": timeline})
        return
    width = max(len(key) for key in shown)
    for key, value in shown.items():
        if value is not None:
            click.echo(f"{key:<{width}}  {_display(value)}")
    click.echo("\ntimeline:")
    for event in timeline:
        click.echo(
            f"  {event['at']:%Y-%m-%d %H:%M:%S.%f}  {event['event']:<16} "
            f"{event['worker'] or '':<24} {event['details'] or ''}"
        )


def _display(value: Any) -> str:
    text = str(value)
    return text if "\n" not in text else "\n    " + text.replace("\n", "\n    ")


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)
