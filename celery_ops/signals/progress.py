"""A running task saying how far it got: :func:`report_progress`, or Celery's own convention,
``self.update_state(state="PROGRESS", meta={"current": n, "total": m})``.

Both only keep the latest report on the process's :class:`ProgressBoard`; the recorder's
flusher thread writes what changed once a second (``celery_ops.recording.progress``).
``update_state`` has no signal: celery-ops wraps ``celery.Task.update_state`` once, and the
wrapper records a report for a task of an app with celery-ops, then calls Celery's. Without a
result backend Celery's would raise; with celery-ops the store keeps the report, so the call
succeeds.
"""

from __future__ import annotations

import functools
import logging
import os
import time
import weakref
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from celery import current_task
from celery.app.task import Task
from celery.backends.base import DisabledBackend

from celery_ops.core.lifecycle import ALL_STATUSES
from celery_ops.recording.progress import (
    PROGRESS_INTERVAL,
    InvalidProgress,
    ProgressBoard,
    progress_values,
)

if TYPE_CHECKING:
    from celery_ops.signals.host import RecordingHost

logger = logging.getLogger("celery_ops.signals")

#: The reporter of each app with celery-ops.
_reporters: weakref.WeakKeyDictionary[Any, ProgressReporter] = weakref.WeakKeyDictionary()


class ProgressReporter:
    """The progress reports of one app's tasks in this process."""

    def __init__(self, ops: RecordingHost) -> None:
        self.ops = ops
        self.board = ProgressBoard()
        #: The process whose recorder hands the board over (a forked pool process has its own).
        self._handing_over_in: int | None = None
        self._last_warning = 0.0

    def report(self, request: Any, current: Any, total: Any, note: Any) -> bool:
        """Keep a report of the task running as ``request``; False if it cannot be kept."""
        try:
            values = progress_values(current, total, note, time.time())
        except InvalidProgress as exc:
            self._warn(f"celery-ops: progress of task {request.id} not recorded: {exc}")
            return False
        attempt = int(getattr(request, "retries", 0) or 0) + 1
        self.board.report(request.id, attempt, getattr(request, "hostname", None), values)
        pid = os.getpid()
        if self._handing_over_in != pid:
            self._handing_over_in = pid
            self.ops.recorder.add_periodic(PROGRESS_INTERVAL, self._hand_over)
        return True

    def take(self, task_id: str) -> dict[str, Any] | None:
        """The report of ``task_id`` not written yet, to go with its run's final event."""
        return self.board.take(task_id)

    def _hand_over(self) -> None:
        recorder = self.ops.recorder
        for event in self.board.hand_over():
            recorder.record(event)

    def _warn(self, message: str) -> None:
        now = time.monotonic()
        if now - self._last_warning >= 60.0:
            self._last_warning = now
            logger.warning(message)


def watch_progress(ops: RecordingHost) -> ProgressReporter:
    """Record the progress reports of ``ops.app``'s tasks."""
    reporter = _reporters.get(ops.app)
    if reporter is None:
        reporter = _reporters[ops.app] = ProgressReporter(ops)
    _wrap_update_state()
    return reporter


def report_progress(current: float, total: float | None, note: str | None = None) -> bool:
    """Say how far the running task got: ``current`` of ``total`` (None: a total not known
    yet), with an optional short note (``"page 3 of 9"``).

    Call it as often as is convenient, from the task's body: only the latest report is kept,
    and it is written at most about once a second, behind the task's back. The last one stays
    on the execution once the task ends. It never raises: a report that cannot be recorded
    (not a finite number, no running task, an app without celery-ops) is logged and answers
    False.
    """
    task = current_task._get_current_object()
    request = getattr(task, "request", None) if task is not None else None
    if request is None or not getattr(request, "id", None):
        logger.debug("celery-ops: report_progress() called outside a running task; ignored")
        return False
    reporter = _reporters.get(task.app)
    if reporter is None:
        logger.debug("celery-ops: report_progress() in an app without celery-ops; ignored")
        return False
    try:
        return reporter.report(request, current, total, note)
    except Exception:
        logger.exception("celery-ops: could not record a progress report; the task goes on")
        return False


def _wrap_update_state() -> None:
    original = Task.update_state
    if getattr(original, "_celery_ops", False):
        return

    @functools.wraps(original)
    def update_state(
        self: Task,
        task_id: str | None = None,
        state: str | None = None,
        meta: Any = None,
        **kwargs: Any,
    ) -> Any:
        recorded = _record_update_state(self, task_id, state, meta)
        if recorded and isinstance(self.backend, DisabledBackend):
            return None  # kept by celery-ops; Celery alone would refuse it
        return original(self, task_id, state, meta, **kwargs)

    update_state._celery_ops = True  # type: ignore[attr-defined]
    Task.update_state = update_state


def _record_update_state(task: Task, task_id: str | None, state: Any, meta: Any) -> bool:
    """Record ``update_state``'s report if it is one: a custom state of the running task with
    a meta holding ``current`` (and ``total``, ``note`` if it has them)."""
    try:
        reporter = _reporters.get(task.app)
        request = task.request
        if reporter is None or not request.id or task_id not in (None, request.id):
            return False
        if state in ALL_STATUSES or not isinstance(meta, Mapping) or "current" not in meta:
            return False
        note = meta.get("note", meta.get("status"))
        return reporter.report(request, meta["current"], meta.get("total"), note)
    except Exception:
        logger.exception("celery-ops: could not record update_state's progress; ignored")
        return False
