"""`celery -A proj ops ...`: celery-ops as a Celery sub-command (entry point celery.commands)."""

from __future__ import annotations

import click

from celery_ops.cli.assistant import mcp
from celery_ops.cli.cluster import queues, workers
from celery_ops.cli.dashboard import dashboard, users
from celery_ops.cli.db import db
from celery_ops.cli.executions import purge, retention, show
from celery_ops.cli.ingest import ingest, relay_status
from celery_ops.cli.metrics import metrics
from celery_ops.cli.schedules import schedules


@click.group(name="ops")
def ops() -> None:
    """celery-ops: the execution store, schedules and dashboard of this app."""


ops.add_command(db)
ops.add_command(purge)
ops.add_command(retention)
ops.add_command(show)
ops.add_command(schedules)
ops.add_command(dashboard)
ops.add_command(users)
ops.add_command(ingest)
ops.add_command(relay_status)
ops.add_command(workers)
ops.add_command(queues)
ops.add_command(metrics)
ops.add_command(mcp)

__all__ = ["ops"]
