"""Worker lifecycle signals: who is online, what it runs, and its heartbeats."""

from __future__ import annotations

import json
import logging
import os
import platform
import threading
import time
from typing import TYPE_CHECKING, Any

import celery
from celery.concurrency import ALIASES
from celery.worker import state as worker_state

from celery_ops.operations.actors import Actor
from celery_ops.recording.events import DefinitionReport, WorkerReport
from celery_ops.recording.payload import text_or_none
from celery_ops.signals.control import keeper_of
from celery_ops.signals.limits import Limiter, hold_back_when_asked
from celery_ops.version import __version__

if TYPE_CHECKING:
    from celery_ops.signals.host import RecordingHost

logger = logging.getLogger("celery_ops.signals")


class WorkerSignalHandlers:
    def __init__(self, ops: RecordingHost, limiter: Limiter | None = None) -> None:
        self.ops = ops
        self.app = ops.app
        #: The task handlers' limiter, whose held-back flag the wrapped runs read.
        self.limiter = limiter or Limiter(ops)
        self._started_at: float | None = None
        # A heartbeat must never be recorded after the worker said it is offline (it would
        # put it back online): both take this lock, and shutting down sets _stopped.
        self._status_lock = threading.Lock()
        self._stopped = False

    def celeryd_init(self, sender: str | None = None, instance: Any = None, **_: Any) -> None:
        if getattr(instance, "app", None) is not self.app:
            return
        self.ops.hostname = sender

    def worker_init(self, sender: Any = None, **_: Any) -> None:
        if getattr(sender, "app", None) is not self.app:
            return
        self.ops.hostname = self.ops.hostname or getattr(sender, "hostname", None)
        # Create or check the schema once, before the pool forks (Celery #4653). A database
        # that is down now must not stop the worker: the flusher checks again later.
        try:
            self.ops.recorder.ensure_schema()
        except Exception as exc:
            logger.warning("celery-ops: store not ready at worker start (%s); will retry", exc)
        if not self.limiter.enabled:
            return
        # Before the pool builds its tracers (and forks): they call the wrapped run.
        for task in list(self.ops.app.tasks.values()):
            if not task.name.startswith("celery."):
                hold_back_when_asked(task, self.limiter)
        if not self.ops.relaying:  # in relay mode the ingesters seed them
            try:
                self.ops.operations(Actor.system("worker")).limits.sync_config()
            except Exception as exc:
                logger.warning("celery-ops: could not seed the limits (%s)", exc)
        self.limiter.prime()

    def worker_process_init(self, **_: Any) -> None:
        # A pool process: its limits are re-read from now on, not from its first task.
        self.limiter.watch()

    def worker_ready(self, sender: Any = None, **_: Any) -> None:
        if getattr(sender, "app", None) is not self.app:
            return
        worker = getattr(sender, "controller", None)
        hostname = self.ops.hostname or getattr(sender, "hostname", None)
        if not hostname:
            return
        self.ops.hostname = hostname
        recorder = self.ops.recorder
        recorder.hostname = hostname
        now = time.time()
        self._started_at = now
        recorder.record(
            WorkerReport(
                hostname, now, online=True, just_started=True, values=self._description(worker, now)
            )
        )
        recorder.record(DefinitionReport(hostname, now, _definitions(self.app)))
        recorder.add_periodic(self.ops.config.heartbeat_interval, self._heartbeat)
        self.ops.start_reaper()
        self.ops.start_ingester()

    def _heartbeat(self) -> None:
        with self._status_lock:
            if self._stopped:
                return
            self._report_status(online=True)
        keeper = keeper_of(self.app)
        if keeper is not None and self.ops.config.write_mode == "direct":
            # In relay mode a worker reads the store only at start (it holds no connection).
            keeper.refresh()

    def worker_shutdown(self, sender: Any = None, **_: Any) -> None:
        if getattr(sender, "app", None) is not self.app:
            return
        with self._status_lock:
            self._stopped = True
            self._report_status(online=False)
        if self.ops.has_received_handoff:
            self.ops.received_handoff.release_all()
        self.ops.recorder.close()
        self.ops.stop_ingester()

    def _report_status(self, online: bool) -> None:
        hostname = self.ops.hostname
        if hostname:
            values = {"tasks_processed": _tasks_processed()}
            self.ops.recorder.record(WorkerReport(hostname, time.time(), online, values))

    def worker_process_shutdown(self, **_: Any) -> None:
        # A pool child about to exit writes what it still holds.
        self.ops.recorder.close()

    def _description(self, worker: Any, now: float) -> dict[str, Any]:
        queues = sorted(self.app.amqp.queues.consume_from or self.app.amqp.queues)
        return {
            "started_at": now,
            "pid": os.getpid(),
            "pool": _pool_name(getattr(worker, "pool_cls", None)),
            "concurrency": getattr(worker, "concurrency", None),
            "queues": json.dumps(queues),
            "versions": json.dumps(
                {
                    "celery": celery.__version__,
                    "python": platform.python_version(),
                    "celery_ops": __version__,
                }
            ),
            "tasks_processed": 0,
        }


def _pool_name(pool: Any) -> str | None:
    """The name ``celery worker -P`` takes for the worker's pool (its module for others)."""
    if pool is None:
        return None
    if isinstance(pool, str):
        return pool
    module = getattr(pool, "__module__", "") or ""
    for alias, path in ALIASES.items():
        if path and path.split(":")[0] == module and alias != "processes":
            return str(alias)
    return module.rsplit(".", 1)[-1] or None


def _tasks_processed() -> int:
    return int(sum(worker_state.total_count.values()))


def _definitions(app: Any) -> list[dict[str, Any]]:
    definitions = []
    for name, task in sorted(app.tasks.items()):
        if name.startswith("celery."):
            continue
        definitions.append(
            {
                "name": name,
                "queue": getattr(task, "queue", None),
                "rate_limit": text_or_none(getattr(task, "rate_limit", None)),
                "max_retries": getattr(task, "max_retries", None),
                "soft_time_limit": getattr(task, "soft_time_limit", None),
                "time_limit": getattr(task, "time_limit", None),
                "acks_late": bool(getattr(task, "acks_late", False)),
                "doc": (task.__doc__ or "").strip()[:4000] or None,
            }
        )
    return definitions
