"""Celery signal handlers: the thin layer that turns Celery's signals into recorder events."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from celery import signals

from celery_ops.signals.control import keeper_of, paused_queues_step
from celery_ops.signals.guard import never_raises
from celery_ops.signals.publishing import record_sent_messages
from celery_ops.signals.tasks import TaskSignalHandlers
from celery_ops.signals.unique import guard_unique_sends
from celery_ops.signals.worker import WorkerSignalHandlers

if TYPE_CHECKING:
    from celery_ops.signals.host import RecordingHost

TASK_SIGNALS = (
    "task_received",
    "task_prerun",
    "task_postrun",
    "task_failure",
    "task_retry",
    "task_revoked",
    "task_rejected",
    "task_unknown",
    "task_internal_error",
)
WORKER_SIGNALS = (
    "celeryd_init",
    "worker_init",
    "worker_process_init",
    "worker_ready",
    "worker_shutdown",
    "worker_process_shutdown",
)


def connect(ops: RecordingHost) -> None:
    """Connect the handlers of ``ops.app``; every handler ignores other apps' signals.

    What the app sends is recorded by its wrapped ``send_task_message``
    (:mod:`celery_ops.signals.publishing`), not by a signal handler.
    """
    task_handlers = TaskSignalHandlers(ops)
    worker_handlers = WorkerSignalHandlers(ops, task_handlers.limiter)
    handlers: list[tuple[str, Any]] = [
        *((name, getattr(task_handlers, name)) for name in TASK_SIGNALS),
        *((name, getattr(worker_handlers, name)) for name in WORKER_SIGNALS),
    ]
    for name, handler in handlers:
        getattr(signals, name).connect(
            never_raises(handler), weak=False, dispatch_uid=f"celery_ops:{id(ops.app)}:{name}"
        )
    record_sent_messages(ops)
    guard_unique_sends(ops)
    ops.app.steps["consumer"].add(paused_queues_step(ops))


__all__ = ["connect", "keeper_of"]
