"""`ops metrics ...`: the rollups from the command line (series, backfill)."""

from __future__ import annotations

import click

from celery_ops.cli.context import door, echo_json, fail
from celery_ops.cli.executions import ProgressBar
from celery_ops.core.errors import OperationError


@click.group()
def metrics() -> None:
    """Counts and percentiles from the rollups, and their backfill."""


@metrics.command("show")
@click.option("--task", help="Only this task name.")
@click.option("--queue", help="Only this queue.")
@click.option("--since", help="Start (ISO 8601); default: 60 steps ago.")
@click.option("--until", help="End (ISO 8601); default: now.")
@click.option("--step", default="1m", show_default=True, help="One point per step: 1m, 1h, 1d.")
def show(
    task: str | None, queue: str | None, since: str | None, until: str | None, step: str
) -> None:
    """Print the series GET /api/metrics answers, as JSON."""
    request = {"task": task, "queue": queue, "since": since, "until": until, "step": step}
    try:
        points = door().metrics.series(request)
    except OperationError as exc:
        fail(str(exc))
    echo_json({"series": [point.as_dict() for point in points]})


@metrics.command("backfill")
def backfill() -> None:
    """Count in the rollups the executions stored before celery-ops kept rollups (after an
    upgrade). Safe to run while workers record, and to run again."""
    bar = ProgressBar("counting")
    try:
        counted = door().metrics.backfill(bar)
    except OperationError as exc:
        bar.close()
        fail(str(exc))
    bar.close()
    click.echo(f"counted {counted} execution(s) into the rollups")
