"""Who records that a worker received a task: its main process, or the process that runs it.

Most tasks start a few milliseconds after the worker's main process receives them. Recording
RECEIVED there would be one more row update per task, written by the busiest process of a
worker (it consumes the broker and feeds the pool for every task). So the main process holds
the request back (the event is built only if the main process records it) and stamps the
receiving time into the message that goes to the pool; the process that runs the task
records RECEIVED together with its start, in the same write. The main process records only
the tasks that wait: not started ``delay`` seconds after they arrived (an ETA or countdown,
a full pool), started late, or never started (revoked, worker shutting down), so that a
worker that dies still leaves RECEIVED rows for the reaper.

One threshold, ``delay / 2`` after the task arrived, decides which side records: the runner
when the task started before it, the main process otherwise. The two sides read the start at
two moments, though: the main process reads Celery's ``Request.time_start``, the moment the
pool process accepted the task, and the runner its own clock at ``task_prerun``, a little
later. So the runner's side of the threshold is wider by :data:`START_SLACK`: a task that
starts right at the threshold is recorded as received twice (the row is the same either way)
rather than by neither side.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

#: The message field (a task request attribute in the pool) carrying the receiving time.
RECEIVED_AT_FIELD = "celery_ops_received_at"

#: Seconds from a pool process accepting a task to its ``task_prerun``, at most, in practice.
START_SLACK = 0.05


class ReceivedHandoff:
    """Requests a worker's main process received and holds back, by task id.

    ``record_received(request, at)`` records that ``request`` was received at ``at``.
    """

    def __init__(
        self, delay: float, record_received: Callable[[Any, float], None], limit: int
    ) -> None:
        self.delay = delay
        self._record_received = record_received
        self._limit = limit
        self._held: dict[str, tuple[float, Any]] = {}
        self._lock = threading.Lock()

    # The worker's main process

    def hold(self, request: Any, at: float) -> None:
        """Keep ``request`` back and tell the runner, through the message, when it arrived."""
        if len(self._held) >= self._limit:
            self._record_received(request, at)  # thousands of ETA tasks: no need to hold all
            return
        request.request_dict[RECEIVED_AT_FIELD] = at
        with self._lock:
            self._held[request.id] = (at, request)

    def release(self, task_id: str) -> None:
        """Record the held request of ``task_id`` now (it will never start: revoked, rejected)."""
        with self._lock:
            held = self._held.pop(task_id, None)
        if held is not None:
            at, request = held
            self._record_received(request, at)

    def release_due(self, now: float | None = None) -> None:
        """Record the requests that waited; forget those the runner records."""
        now = time.time() if now is None else now
        with self._lock:
            entries = list(self._held.items())
        for task_id, (at, request) in entries:
            started = getattr(request, "time_start", None)
            if started is None and now - at < self.delay:
                continue
            with self._lock:
                self._held.pop(task_id, None)
            if started is None or main_process_records(at, started, self.delay):
                self._record_received(request, at)

    def release_all(self) -> None:
        """Record everything held (the worker is shutting down)."""
        with self._lock:
            entries, self._held = list(self._held.values()), {}
        for at, request in entries:
            self._record_received(request, at)

    def __len__(self) -> int:
        return len(self._held)


def main_process_records(received_at: float, accepted_at: float, delay: float) -> bool:
    """Whether the worker's main process records the RECEIVED event of a task that a pool
    process accepted at ``accepted_at``."""
    return accepted_at - received_at >= delay / 2


def runner_records(received_at: float, started_at: float, delay: float) -> bool:
    """Whether the process running the task, which started it at ``started_at``, records its
    RECEIVED event."""
    return started_at - received_at < delay / 2 + START_SLACK
