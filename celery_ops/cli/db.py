"""`ops db upgrade` and `ops db current`."""

from __future__ import annotations

import click

from celery_ops.cli.context import door, reported


@click.group()
def db() -> None:
    """The celery-ops schema: its version and its migrations."""


@db.command()
@click.option("--revision", default="head", show_default=True, help="Migrate up to this one.")
def upgrade(revision: str) -> None:
    """Create or migrate the celery-ops tables."""
    with reported():
        before, after = door(schema_ready=False).maintenance.upgrade_schema(revision)
    if before == after:
        click.echo(f"celery-ops schema already at {after}")
    else:
        click.echo(f"celery-ops schema upgraded from {before or 'empty'} to {after}")


@db.command()
def current() -> None:
    """Show the schema revision of the database and the one this version needs."""
    with reported():
        revision, head = door(schema_ready=False).maintenance.schema_status()
    state = "up to date" if revision == head else "run `celery -A proj ops db upgrade`"
    click.echo(f"database: {revision or 'empty'}  code: {head}  ({state})")
