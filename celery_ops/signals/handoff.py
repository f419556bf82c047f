"""Who records that a worker received a task: its main process, or the process that runs it.

Most tasks start a few milliseconds after the worker's main process receives them. Recording
RECEIVED there would be one more row update per task, written by the busiest process of a
worker (it consumes the broker and feeds the pool for every task). So the main process holds
the RECEIVED event back and stamps the receiving time into the message that goes to the pool;
the process that runs the task records RECEIVED together with its start, in the same write.
The main process records only the tasks that wait: not started ``delay`` seconds after they
arrived (an ETA or countdown, a full pool), started late, or never started (revoked, worker
shutting down), so that a worker that dies still leaves RECEIVED rows for the reaper.

One rule, applied on both sides to the same two times (received, started), decides which
side records: the runner when the task started less than ``delay / 2`` after it arrived, the
main process otherwise. The main process reads the start from Celery's ``Request.time_start``,
which is the pool process's own clock reading of the moment it accepted the task.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from celery_ops.events import ExecutionEvent

#: The message field (a task request attribute in the pool) carrying the receiving time.
RECEIVED_AT_FIELD = "celery_ops_received_at"


class ReceivedHandoff:
    """RECEIVED events the worker's main process holds back, by task id."""

    def __init__(self, delay: float, record: Callable[[ExecutionEvent], None], limit: int):
        self.delay = delay
        self._record = record
        self._limit = limit
        self._held: dict[str, tuple[ExecutionEvent, Any]] = {}
        self._lock = threading.Lock()

    # The worker's main process

    def hold(self, event: ExecutionEvent, request: Any) -> None:
        """Keep ``event`` back and tell the runner, through the message, when it arrived."""
        if len(self._held) >= self._limit:
            self._record(event)  # thousands of ETA tasks: no reason to hold them all
            return
        request.request_dict[RECEIVED_AT_FIELD] = event.at
        with self._lock:
            self._held[event.task_id] = (event, request)

    def release(self, task_id: str) -> None:
        """Record the held event of ``task_id`` now (it will never start: revoked, rejected)."""
        with self._lock:
            held = self._held.pop(task_id, None)
        if held is not None:
            self._record(held[0])

    def release_due(self, now: float | None = None) -> None:
        """Record the events of tasks that waited; forget those the runner records."""
        now = time.time() if now is None else now
        with self._lock:
            entries = list(self._held.items())
        for task_id, (event, request) in entries:
            started = getattr(request, "time_start", None)
            if started is None and now - event.at < self.delay:
                continue
            with self._lock:
                self._held.pop(task_id, None)
            if started is None or not runner_records(event.at, started, self.delay):
                self._record(event)

    def release_all(self) -> None:
        """Record everything held (the worker is shutting down)."""
        with self._lock:
            entries, self._held = list(self._held.values()), {}
        for event, _request in entries:
            self._record(event)

    def __len__(self) -> int:
        return len(self._held)


def runner_records(received_at: float, started_at: float, delay: float) -> bool:
    """Whether the process running the task records its RECEIVED event."""
    return started_at - received_at < delay / 2
