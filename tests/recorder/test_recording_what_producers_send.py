"""A producer records a message once the broker took it, and only then."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from celery import Celery, signals
from helpers.services import REDIS_BROKER, require
from kombu.exceptions import OperationalError

import celery_ops


def producer(tmp_path: Path, broker: str) -> tuple[Celery, celery_ops.CeleryOps]:
    app = Celery("producer", broker=broker)
    app.conf.task_default_queue = f"producer-{time.time_ns()}"  # nobody consumes it
    app.conf.broker_connection_timeout = 1
    ops = celery_ops.init_app(app, database_url=f"sqlite:///{tmp_path}/ops.sqlite3")
    return app, ops


def test_a_message_the_broker_never_took_is_not_recorded(tmp_path: Path) -> None:
    # Nothing listens on port 1: the publish fails, and the task does not exist.
    app, ops = producer(tmp_path, "redis://127.0.0.1:1/0")
    with pytest.raises(OperationalError):
        app.send_task("proj.lost", task_id="never-sent", retry=False)
    assert ops.recorder.stats.recorded == 0
    ops.recorder.close()
    app.close()


def test_a_send_from_within_a_send_records_both_messages(tmp_path: Path) -> None:
    require("redis")
    app, ops = producer(tmp_path, REDIS_BROKER)

    def send_another(headers: dict[str, Any] | None = None, **_: Any) -> None:
        # Another library's publish handler that sends a message of its own.
        if headers and headers.get("id") == "outer":
            app.send_task("proj.audit", task_id="inner")

    signals.before_task_publish.connect(send_another, weak=False)
    try:
        app.send_task("proj.work", task_id="outer")
    finally:
        signals.before_task_publish.disconnect(send_another)
    assert ops.recorder.flush(10)
    for task_id, name in (("outer", "proj.work"), ("inner", "proj.audit")):
        row = ops.store.execution(task_id)
        assert row is not None and (row["status"], row["task_name"]) == ("PENDING", name)
    ops.recorder.close()
    app.close()
