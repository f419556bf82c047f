"""The dashboard of an app on Celery's in-memory broker with its store in SQLite, driven
through Flask's test client: pages and API in milliseconds, no server."""

from __future__ import annotations

import pytest
from helpers.dashboard_client import Dashboard
from helpers.door_app import DoorApp, door_app

__all__ = ["door_app", "web"]


@pytest.fixture
def web(door_app: DoorApp) -> Dashboard:
    """The dashboard of door_app, with one user per role (named after the role)."""
    return Dashboard(door_app, SECRET_KEY="tests")
