"""How a sub-command finds the app's celery-ops, and how it reports failure."""

from __future__ import annotations

import json
from typing import Any, NoReturn

import click

from celery_ops.extension import CeleryOps, init_app
from celery_ops.store.database import redact_url


def current_ops() -> CeleryOps:
    """The CeleryOps of the app given with ``celery -A``."""
    ctx = click.get_current_context()
    app = getattr(ctx.find_root().obj, "app", None)
    if app is None:
        fail("no Celery app: run this as `celery -A proj ops ...`")
    # init_app returns the app's existing CeleryOps; an app module that never called it
    # (e.g. a pure producer's) still gets one, so administration works everywhere.
    return init_app(app)


def fail(message: str, code: int = 1) -> NoReturn:
    """One line on stderr and a non-zero exit: what went wrong and what to do."""
    click.echo(f"Error: {message}", err=True)
    raise SystemExit(code)


def safe_url(url: str) -> str:
    """The URL without its password, for messages."""
    return redact_url(url)


def one_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0] if lines else ''}"


def echo_json(value: Any) -> None:
    click.echo(json.dumps(value, default=str, indent=2, ensure_ascii=False))
