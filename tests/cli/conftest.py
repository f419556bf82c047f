"""`celery -A proj ops ...` run in-process with click's runner, on the app of door_app: the
command line's messages and exit codes in milliseconds, no server."""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace

import pytest
from click.testing import CliRunner, Result
from helpers.door_app import DoorApp, door_app

from celery_ops.cli import ops

__all__ = ["Cli", "cli", "door_app"]


@dataclass
class Cli:
    door_app: DoorApp

    def __call__(self, *args: str, stdin: str | None = None) -> Result:
        # Celery hands its sub-commands a context whose obj has the app (`celery -A proj`).
        context = SimpleNamespace(app=self.door_app.app)
        return CliRunner().invoke(ops, list(args), obj=context, input=stdin)


@pytest.fixture
def cli(door_app: DoorApp) -> Cli:
    return Cli(door_app)
