"""The recorder buffers, bounds and reports; it never blocks or fails the user's task."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import pytest
from celery import Celery
from celery.contrib.testing.worker import start_worker
from helpers.services import REDIS_BROKER, require
from helpers.waiting import wait_for

import celery_ops
from celery_ops.recording.events import ExecutionEvent, WorkerReport
from celery_ops.recording.recorder import ExecutionRecorder
from celery_ops.settings import OpsConfig
from celery_ops.store import Store
from celery_ops.store.schema import VERSION_TABLE


def recorder_for(url: str, **settings: object) -> ExecutionRecorder:
    config = OpsConfig.resolve({}, {"database_url": url, "flush_interval": 0.05, **settings})
    return ExecutionRecorder(config, Store(url))


def published(task_id: str) -> ExecutionEvent:
    return ExecutionEvent(task_id, "published", time.time(), "PENDING", 1, {"task_name": "t"})


def test_a_dead_database_neither_raises_nor_blocks_recording() -> None:
    # Nothing listens on port 1: every connection attempt is refused.
    recorder = recorder_for("postgresql+psycopg://postgres@127.0.0.1:1/none")
    for i in range(1000):
        recorder.record(published(f"t{i}"))
    wait_for(lambda: recorder.stats.failed_writes > 0, 10, "a failed write")
    assert not recorder.healthy
    assert recorder.stats.recorded == 1000 and recorder.stats.dropped == 0
    assert recorder.flush(timeout=0.2) is False
    recorder.close(timeout=0.1)


def test_waiting_for_a_dead_database_does_not_hammer_it() -> None:
    recorder = recorder_for("postgresql+psycopg://postgres@127.0.0.1:1/none")
    recorder.record(published("waits"))
    wait_for(lambda: recorder.stats.failed_writes > 0, 10, "a first failed write")
    before = recorder.stats.failed_writes
    assert recorder.flush(timeout=2.5) is False
    # A try when the flush starts, about one a second after, and the flusher's own backed-off
    # tries: not a tight loop (it made 6,400 tries in 2.5 s).
    assert recorder.stats.failed_writes - before <= 8
    recorder.close(timeout=0)


def test_events_wait_for_the_database_and_overflow_is_counted_and_reported(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    missing = tmp_path / "not-yet"
    url = f"sqlite:///{missing}/ops.sqlite3"
    recorder = recorder_for(url, buffer_max=100)
    recorder.hostname = "w@h"
    recorder.record(WorkerReport("w@h", time.time(), online=True))
    with caplog.at_level(logging.WARNING, logger="celery_ops.recorder"):
        for i in range(150):
            recorder.record(published(f"t{i}"))
        wait_for(lambda: recorder.stats.failed_writes > 0, 10, "a failed write")
    assert recorder.stats.dropped == 51  # the worker report took one place in the buffer
    assert any("buffer full" in message for message in caplog.messages)
    assert any("cannot write to the store" in message for message in caplog.messages)

    missing.mkdir()  # the database is back
    assert recorder.flush(timeout=30)
    store = Store(url)
    assert store.execution("t0") is not None and store.execution("t98") is not None
    assert store.execution("t99") is None
    worker = wait_for(lambda: store.worker("w@h"), 10, "the worker row")
    assert worker.events_dropped == 51
    recorder.close()


@pytest.mark.slow
def test_a_broken_recorder_never_fails_a_task(tmp_path: Path, caplog) -> None:
    require("redis")
    app = Celery("broken", broker=REDIS_BROKER, backend=REDIS_BROKER)
    app.conf.task_default_queue = f"broken-{time.time_ns()}"
    app.conf.ops_flush_interval = -1  # invalid: the recorder cannot even be built
    app.conf.worker_hijack_root_logger = False
    celery_ops.init_app(app, database_url=f"sqlite:///{tmp_path}/ops.sqlite3")

    @app.task
    def still_works(x: int) -> int:
        return x * 2

    with start_worker(app, pool="solo", perform_ping_check=False):
        assert still_works.delay(21).get(timeout=20) == 42
    assert any("handler failed" in message for message in caplog.messages)
    app.close()


@pytest.mark.slow
def test_only_the_app_given_to_init_app_is_recorded(tmp_path: Path) -> None:
    require("redis")
    url = f"sqlite:///{tmp_path}/ops.sqlite3"
    recorded = Celery("recorded", broker=REDIS_BROKER)
    other = Celery("other", broker=REDIS_BROKER)
    queue = f"iso-{time.time_ns()}"
    recorded.conf.task_default_queue = queue
    other.conf.task_default_queue = f"{queue}-other"  # nobody consumes it
    ops = celery_ops.init_app(recorded, database_url=url, flush_interval=0.05)
    assert celery_ops.init_app(recorded) is ops  # idempotent

    @recorded.task
    def mine() -> str:
        return "mine"

    @other.task
    def theirs() -> str:
        return "theirs"

    with start_worker(recorded, pool="solo", perform_ping_check=False):
        kept = mine.delay()
        ignored = theirs.delay()
        wait_for(lambda: (r := ops.store.execution(kept.id)) and r.status == "SUCCESS", 20, "mine")
    ops.recorder.flush(5)
    assert ops.store.execution(ignored.id) is None
    ops.recorder.close()
    recorded.close()
    other.close()


@pytest.mark.slow
def test_an_event_the_database_refuses_is_dropped_alone_and_logged(
    new_database, caplog: pytest.LogCaptureFixture
) -> None:
    url = new_database("postgresql")
    recorder = recorder_for(url)
    bad = published("bad")
    bad.values["priority"] = 2**40  # out of range for an INTEGER column: the server refuses it
    with caplog.at_level(logging.ERROR, logger="celery_ops.recorder"):
        for event in (published("before"), bad, published("after")):
            recorder.record(event)
        assert recorder.flush(timeout=30)
    store = Store(url)
    assert store.execution("before") is not None and store.execution("after") is not None
    assert store.execution("bad") is None
    assert recorder.stats.dropped == 1 and recorder.healthy
    assert any("the store refused an event, which is dropped" in m for m in caplog.messages)
    recorder.close()
    store.dispose()


def test_a_process_forked_after_the_schema_check_writes_without_checking_again(
    tmp_path: Path,
) -> None:
    # A worker checks the schema before its pool forks; its pool processes trust that check.
    url = f"sqlite:///{tmp_path}/ops.sqlite3"
    recorder = recorder_for(url)
    recorder.ensure_schema()
    with Store(url).engine.begin() as connection:
        # From here on, a check would stop with "run `celery -A proj ops db upgrade`".
        connection.exec_driver_sql(f"DELETE FROM {VERSION_TABLE}")
    pid = os.fork()
    if pid == 0:  # the pool process
        code = 1
        try:
            recorder.record(published("forked"))
            code = 0 if recorder.flush(timeout=10) else 1
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert Store(url).execution("forked") is not None
