"""`ops db upgrade` and `ops db current`."""

from __future__ import annotations

import click

from celery_ops.cli.context import current_ops, fail, one_line, safe_url
from celery_ops.store.schema import head_revision


@click.group()
def db() -> None:
    """The celery-ops schema: its version and its migrations."""


@db.command()
@click.option("--revision", default="head", show_default=True, help="Migrate up to this one.")
def upgrade(revision: str) -> None:
    """Create or migrate the celery-ops tables."""
    store = current_ops().store
    try:
        before = store.current_revision()
        store.upgrade(revision)
        after = store.current_revision()
    except Exception as exc:
        fail(f"could not migrate {safe_url(store.url)}: {one_line(exc)}")
    if before == after:
        click.echo(f"celery-ops schema already at {after}")
    else:
        click.echo(f"celery-ops schema upgraded from {before or 'empty'} to {after}")


@db.command()
def current() -> None:
    """Show the schema revision of the database and the one this version needs."""
    store = current_ops().store
    try:
        revision = store.current_revision()
    except Exception as exc:
        fail(f"could not read {safe_url(store.url)}: {one_line(exc)}")
    head = head_revision()
    state = "up to date" if revision == head else "run `celery -A proj ops db upgrade`"
    click.echo(f"database: {revision or 'empty'}  code: {head}  ({state})")
