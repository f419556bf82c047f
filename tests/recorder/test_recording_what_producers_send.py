"""A producer records a message once the broker took it, and only then, as it was sent."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from celery import Celery, signals
from helpers.services import REDIS_BROKER, require
from kombu import Exchange, Queue
from kombu.exceptions import OperationalError
from sqlalchemy import text

import celery_ops


def producer(tmp_path: Path, broker: str) -> tuple[Celery, celery_ops.CeleryOps]:
    app = Celery("producer", broker=broker)
    app.conf.task_default_queue = f"producer-{time.time_ns()}"  # nobody consumes it
    app.conf.broker_connection_timeout = 1
    ops = celery_ops.init_app(app, database_url=f"sqlite:///{tmp_path}/ops.sqlite3")
    return app, ops


@contextmanager
def another_publish_handler(handler: Callable[..., None]) -> Iterator[None]:
    """``handler`` connected to before_task_publish, as another library's would be."""
    signals.before_task_publish.connect(handler, weak=False)
    try:
        yield
    finally:
        signals.before_task_publish.disconnect(handler)


def test_a_message_the_broker_never_took_is_not_recorded(tmp_path: Path) -> None:
    # Nothing listens on port 1: the publish fails, and the task does not exist.
    app, ops = producer(tmp_path, "redis://127.0.0.1:1/0")
    with pytest.raises(OperationalError):
        app.send_task("proj.lost", task_id="never-sent", retry=False)
    assert ops.recorder.stats.recorded == 0
    ops.recorder.close()
    app.close()


@pytest.mark.slow
def test_a_send_from_within_a_send_records_both_messages(tmp_path: Path) -> None:
    require("redis")
    app, ops = producer(tmp_path, REDIS_BROKER)

    def send_another(headers: dict[str, Any] | None = None, **_: Any) -> None:
        # Another library's publish handler that sends a message of its own.
        if headers and headers.get("id") == "outer":
            app.send_task("proj.audit", task_id="inner")

    with another_publish_handler(send_another):
        app.send_task("proj.work", task_id="outer")
    assert ops.recorder.flush(10)
    for task_id, name in (("outer", "proj.work"), ("inner", "proj.audit")):
        row = ops.store.execution(task_id)
        assert row is not None and (row.status, row.task_name) == ("PENDING", name)
    ops.recorder.close()
    app.close()


@pytest.mark.slow
def test_headers_added_by_another_publish_handler_are_recorded(tmp_path: Path) -> None:
    # A multi-tenant app often stamps the tenant in a before_task_publish handler of its own.
    require("redis")
    app, ops = producer(tmp_path, REDIS_BROKER)

    def stamp_tenant(headers: dict[str, Any] | None = None, **_: Any) -> None:
        if headers is not None:
            headers["tenant_id"] = "acme"

    with another_publish_handler(stamp_tenant):
        app.send_task("proj.work", task_id="stamped")
    assert ops.recorder.flush(10)
    row = ops.store.execution("stamped")
    assert row is not None and row.tenant_id == "acme"
    ops.recorder.close()
    app.close()


@pytest.mark.slow
def test_the_queue_recorded_is_the_queue_named_not_the_routing_key(tmp_path: Path) -> None:
    require("redis")
    app, ops = producer(tmp_path, REDIS_BROKER)
    orders = Queue(
        f"orders-{time.time_ns()}", Exchange("shop", type="topic"), routing_key="order.*"
    )
    app.send_task("proj.ship", task_id="routed", queue=orders, routing_key="order.paid")
    assert ops.recorder.flush(10)
    row = ops.store.execution("routed")
    assert row is not None and row.queue == orders.name
    ops.recorder.close()
    app.close()


@pytest.mark.slow
def test_configuration_made_after_init_app_applies_to_what_is_sent(tmp_path: Path) -> None:
    # init_app often comes before config_from_object: recording must not freeze the sending
    # settings (Celery reads them when it first sends).
    require("redis")
    app = Celery("late", broker=REDIS_BROKER)
    ops = celery_ops.init_app(app, database_url=f"sqlite:///{tmp_path}/ops.sqlite3")
    queue = f"configured-late-{time.time_ns()}"
    app.conf.task_default_queue = queue
    app.send_task("proj.work", task_id="late")
    assert ops.recorder.flush(10)
    row = ops.store.execution("late")
    assert row is not None and row.queue == queue
    with app.connection_for_write() as connection:
        assert connection.default_channel.client.llen(queue) == 1
        connection.default_channel.client.delete(queue)
    ops.recorder.close()
    app.close()


@pytest.mark.slow
def test_the_timeline_opens_with_the_publish_that_the_row_holds(tmp_path: Path) -> None:
    # A producer writes one row per message, not a row and a timeline entry: the entry is
    # read from the row (when, to which queue, for when), and shows as it always did.
    require("redis")
    app, ops = producer(tmp_path, REDIS_BROKER)
    eta = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    app.send_task("proj.later", task_id="planned", eta=eta)
    app.send_task("proj.now", task_id="at-once")
    assert ops.recorder.flush(10)
    queue = app.conf.task_default_queue
    for task_id, details in (
        ("planned", {"attempt": 1, "status": "PENDING", "queue": queue, "eta": eta.isoformat()}),
        ("at-once", {"attempt": 1, "status": "PENDING", "queue": queue}),
    ):
        row = ops.store.execution(task_id)
        [entry] = ops.store.timeline(task_id)
        assert row is not None and (entry.event, entry.at) == ("published", row.published_at)
        assert json.loads(entry.details or "") == details
    with ops.store.engine.connect() as connection:
        stored = connection.execute(text("SELECT count(*) FROM celery_ops_events")).scalar()
    assert stored == 0
    ops.recorder.close()
    app.close()
