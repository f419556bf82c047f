"""What running tasks say of how far they got, written behind and at most once a second each.

A task may report its progress thousands of times a second (once per item of a loop); the
store needs only the latest report of each task, about once a second. :class:`ProgressBoard`
keeps that latest report per task id (reporting is a dict assignment on the task's path) and
hands what changed to the recorder from its flusher thread, once a second. The last report of
a run that has not been handed over yet goes with the run's final event, so the row keeps
where the task got to.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from typing import Any

from celery_ops.recording.events import ExecutionEvent

#: How often the reports of one process are handed to its recorder (seconds).
PROGRESS_INTERVAL = 1.0
#: What a progress note may hold (it is shown in lists).
NOTE_CHARS = 255


@dataclass(slots=True)
class _Report:
    attempt: int
    worker: str | None
    values: dict[str, Any]


class InvalidProgress(ValueError):
    """A report that cannot be recorded (not a finite number, say)."""


def progress_values(current: Any, total: Any, note: Any, at: float) -> dict[str, Any]:
    """The columns of one report, checked: ``current`` a finite number, ``total`` a positive
    finite number or None, ``note`` text or None."""
    current = _finite("current", current)
    if total is not None:
        total = _finite("total", total)
        if total <= 0:
            raise InvalidProgress(f"total must be above 0, not {total!r}")
    if note is not None and not isinstance(note, str):
        note = str(note)
    return {
        "progress_current": current,
        "progress_total": total,
        # "" rather than nothing: a report without a note clears an earlier report's note.
        "progress_note": (note or "")[:NOTE_CHARS],
        "progress_at": at,
    }


def _finite(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidProgress(f"{name} must be a number, not {type(value).__name__}")
    number = float(value)
    if not math.isfinite(number):
        raise InvalidProgress(f"{name} must be a finite number, not {value!r}")
    return number


class ProgressBoard:
    """The latest progress report of each task running in this process."""

    def __init__(self) -> None:
        self._unsent: dict[str, _Report] = {}
        # Reports come from the task's thread, hand-overs from the flusher's: without it, a
        # report made as the flusher takes the others could be missed by both.
        self._lock = threading.Lock()

    def report(
        self, task_id: str, attempt: int, worker: str | None, values: dict[str, Any]
    ) -> None:
        """Keep ``values`` as the latest report of ``task_id`` (replacing an unsent one)."""
        with self._lock:
            self._unsent[task_id] = _Report(attempt, worker, values)

    def take(self, task_id: str) -> dict[str, Any] | None:
        """The report of ``task_id`` not handed over yet, for its run's final event."""
        if not self._unsent:  # the common case, read without the lock: no report at all
            return None
        with self._lock:
            report = self._unsent.pop(task_id, None)
        return None if report is None else report.values

    def hand_over(self) -> list[ExecutionEvent]:
        """An event per task with an unsent report (the flusher thread's, once a second)."""
        with self._lock:
            unsent, self._unsent = self._unsent, {}
        now = time.time()
        return [
            ExecutionEvent(
                task_id,
                "progress",
                now,
                None,
                report.attempt,
                values=report.values,
                worker=report.worker,
                on_timeline=False,
            )
            for task_id, report in unsent.items()
        ]
