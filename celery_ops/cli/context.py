"""How a sub-command finds the app's celery-ops, the door it acts through, and how it
reports failure."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

import click

from celery_ops.core import standard_json
from celery_ops.core.errors import OperationError
from celery_ops.extension import CeleryOps, init_app
from celery_ops.operations import Actor, Operations


def current_ops() -> CeleryOps:
    """The CeleryOps of the app given with ``celery -A``."""
    ctx = click.get_current_context()
    app = getattr(ctx.find_root().obj, "app", None)
    if app is None:
        fail("no Celery app: run this as `celery -A proj ops ...`")
    # init_app returns the app's existing CeleryOps; an app module that never called it
    # (e.g. a pure producer's) still gets one, so administration works everywhere.
    return init_app(app)


def door(schema_ready: bool = True) -> Operations:
    """The operations layer, acting as ``cli:<os user>@<host>``; with ``schema_ready``, on
    a store whose tables exist (created on an empty database unless ops_create_schema is
    off, when the error says to run `ops db upgrade`)."""
    operations = current_ops().operations(Actor.cli())
    if schema_ready:
        with reported():
            operations.maintenance.ensure_schema()
    return operations


@contextmanager
def reported() -> Iterator[None]:
    """Run a command's work; an operation's refusal becomes one line on stderr and exit 1."""
    try:
        yield
    except OperationError as exc:
        fail(str(exc))


def fail(message: str, code: int = 1) -> NoReturn:
    """One line on stderr and a non-zero exit: what went wrong and what to do."""
    click.echo(f"Error: {message}", err=True)
    raise SystemExit(code)


def echo_json(value: Any) -> None:
    click.echo(standard_json.dumps(value, default=str, indent=2, ensure_ascii=False))
