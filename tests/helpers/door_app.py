"""An app on Celery's in-memory broker with its store in SQLite: the operations layer and
the dashboard, tested in milliseconds, with no server running."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from celery import Celery

import celery_ops
from celery_ops.core.records import AuditEntry
from celery_ops.extension import CeleryOps
from celery_ops.operations import ADMIN, OPERATOR, VIEWER, Actor, Operations
from celery_ops.recording.events import ExecutionEvent
from celery_ops.recording.folding import fold_events
from celery_ops.recording.payload import Arguments
from celery_ops.store.audit import AuditQuery

USERS = {role: Actor(f"{role}-user", role) for role in (VIEWER, OPERATOR, ADMIN)}


@dataclass
class DoorApp:
    app: Celery
    ops: CeleryOps

    @property
    def queue(self) -> str:
        return str(self.app.conf.task_default_queue)

    def door(self, role: str = OPERATOR) -> Operations:
        """The operations layer, for a user with ``role``."""
        return self.ops.operations(USERS[role])

    def audit(self) -> list[AuditEntry]:
        """The audit log, oldest first."""
        return list(reversed(self.ops.store.audit.page(AuditQuery(limit=500))))

    def seed(
        self,
        count: int,
        status: str = "FAILURE",
        task: str = "door.add",
        keep_arguments: bool = True,
        at: float | None = None,
        **values: Any,
    ) -> list[str]:
        """``count`` executions, as a producer and a worker would have recorded them."""
        at = time.time() if at is None else at
        events = []
        ids = [str(uuid.uuid4()) for _ in range(count)]
        for index, task_id in enumerate(ids):
            published = ExecutionEvent(
                task_id, "published", at, "PENDING", 1, {"task_name": task, "queue": self.queue}
            )
            published.arguments = Arguments([index, 1], {})
            events.append(published)
            outcome = {"error_type": "KeyError", **values} if status == "FAILURE" else values
            events.append(ExecutionEvent(task_id, "ended", at, status, 1, dict(outcome)))
        self.ops.store.write(fold_events(events, 65_536, keep_arguments))
        return ids

    def configure(self, **settings: Any) -> None:
        """Change ``ops_*`` settings of the app; what was built from the old ones is rebuilt."""
        for name, value in settings.items():
            setattr(self.app.conf, f"ops_{name}", value)
        self.ops._config = None
        self.ops._services = None

    def queued(self) -> int:
        """Messages waiting in the app's queue of the in-memory broker."""
        return self.door().queues.backlogs([self.queue]).queues[self.queue].messages


@pytest.fixture
def door_app(tmp_path: Path) -> Iterator[DoorApp]:
    app = Celery(f"door-{uuid.uuid4().hex[:6]}", broker="memory://")
    # One queue per test: the in-memory broker is shared by every app of the process.
    app.conf.task_default_queue = f"door-{uuid.uuid4().hex[:8]}"

    @app.task(name="door.add")
    def add(x: int, y: int) -> int:
        return x + y

    ops = celery_ops.init_app(app, database_url=f"sqlite:///{tmp_path}/ops.sqlite3")
    ops.store.upgrade()
    yield DoorApp(app, ops)
    ops.recorder.close(timeout=5)
    app.close()
    ops.store.dispose()
