"""A worker's own reports of its status: once it said it is offline, no heartbeat says
otherwise (a heartbeat recorded after the offline report would put it back online)."""

from __future__ import annotations

import threading
from types import SimpleNamespace
from typing import Any

from celery_ops.recording.events import WorkerReport
from celery_ops.signals.worker import WorkerSignalHandlers


class Recorder:
    def __init__(self) -> None:
        self.reports: list[bool] = []

    def record(self, event: Any) -> None:
        if isinstance(event, WorkerReport):
            self.reports.append(event.online)

    def close(self) -> None:
        pass


class App:
    """A stand-in for the Celery app (weakly referenced, like one)."""


def handlers() -> tuple[WorkerSignalHandlers, Recorder, Any]:
    recorder = Recorder()
    app = App()
    host = SimpleNamespace(
        app=app,
        hostname="w@host",
        recorder=recorder,
        config=SimpleNamespace(write_mode="relay"),
        has_received_handoff=False,
        stop_ingester=lambda: None,
    )
    return WorkerSignalHandlers(host), recorder, app  # type: ignore[arg-type]


def test_no_heartbeat_is_recorded_after_the_offline_report() -> None:
    worker, recorder, app = handlers()
    worker._heartbeat()
    worker.worker_shutdown(sender=SimpleNamespace(app=app))
    worker._heartbeat()
    assert recorder.reports == [True, False]


def test_a_heartbeat_racing_the_shutdown_is_recorded_before_it_or_not_at_all() -> None:
    for _ in range(200):
        worker, recorder, app = handlers()
        beat = threading.Thread(target=worker._heartbeat)
        beat.start()
        worker.worker_shutdown(sender=SimpleNamespace(app=app))
        beat.join()
        assert recorder.reports[-1] is False, recorder.reports
