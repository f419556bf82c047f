"""A Celery app on the real Redis broker with celery-ops on each database backend."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import redis
from celery import Celery
from helpers.services import REDIS_BROKER, require
from sqlalchemy import text

import celery_ops
from celery_ops.beat import DatabaseScheduler
from celery_ops.extension import CeleryOps


@dataclass
class BeatApp:
    app: Celery
    ops: CeleryOps
    queue: str
    broker: redis.Redis

    def messages(self) -> list[dict[str, Any]]:
        """Messages waiting in the app's queue (no worker consumes it in these tests)."""
        return [json.loads(raw) for raw in self.broker.lrange(self.queue, 0, -1)]

    def scheduler(self, **kwargs: Any) -> DatabaseScheduler:
        return DatabaseScheduler(self.app, **kwargs)

    def sql(self, statement: str, **params: Any) -> list[Any]:
        with self.ops.store.engine.begin() as connection:
            result = connection.execute(text(statement), params)
            return list(result) if result.returns_rows else []


@pytest.fixture
def beat_app(database_url: str) -> Iterator[BeatApp]:
    """An app whose tasks ``beatapp.add`` and ``beatapp.echo`` exist; schema created."""
    require("redis")
    app = Celery(f"beatapp-{uuid.uuid4().hex[:6]}", broker=REDIS_BROKER)
    queue = f"beat-{uuid.uuid4().hex[:8]}"
    app.conf.task_default_queue = queue
    app.conf.beat_schedule = {}

    @app.task(name="beatapp.add")
    def add(x: int, y: int) -> int:
        return x + y

    @app.task(name="beatapp.echo")
    def echo(*args: Any, **kwargs: Any) -> Any:
        return [args, kwargs]

    ops = celery_ops.init_app(app, database_url=database_url, flush_interval=0.1)
    ops.store.upgrade()
    broker = redis.Redis.from_url(REDIS_BROKER)
    yield BeatApp(app, ops, queue, broker)
    broker.delete(queue)
    broker.close()
    ops.recorder.close(timeout=5)
    app.close()
    ops.store.dispose()
