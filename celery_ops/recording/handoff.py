"""Who records that a worker received a task: its main process, or the process that runs it.

Most tasks start a few milliseconds after the worker's main process receives them. Recording
RECEIVED there would be one more row update per task, written by the busiest process of a
worker (it consumes the broker and feeds the pool for every task). So the main process
stamps the receiving time into the message that goes to the pool, and the process that runs
the task records RECEIVED together with its start, in the same write. The main process
records only the tasks that wait: not started ``delay`` seconds after they arrived (an ETA or
countdown, a full pool) or never started (revoked, worker shutting down), so that a worker
that dies still leaves RECEIVED rows for the reaper. It takes the stamp out of the message
of each task it records, so that the runner does not record it again.

The main process keeps only a weak reference to each request. A strong one would keep every
request alive for up to ``delay / 4`` after its task finished, and that many survivors made
the garbage collector of this busiest process run full collections every few seconds (0.56 s
of collections per 20,000 no-op tasks, against 2 ms with weak references). A request that is
gone finished, so it had started: its runner recorded the receipt.

One race is left: a task handed to the pool at the moment the main process records it is
recorded as received by both (its row is the same either way).
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

#: The message field (a task request attribute in the pool) carrying the receiving time.
RECEIVED_AT_FIELD = "celery_ops_received_at"


class ReceivedHandoff:
    """Requests a worker's main process received and has not seen start yet, by task id.

    ``record_received(request, at)`` records that ``request`` was received at ``at``.
    """

    def __init__(
        self, delay: float, record_received: Callable[[Any, float], None], limit: int
    ) -> None:
        self.delay = delay
        self._record_received = record_received
        self._limit = limit
        self._held: dict[str, weakref.ref[Any]] = {}
        self._lock = threading.Lock()

    # The worker's main process

    def hold(self, request: Any, at: float) -> None:
        """Tell the runner, through the message, when ``request`` arrived; watch it start."""
        if len(self._held) >= self._limit:
            self._record_received(request, at)  # thousands of ETA tasks: no need to hold all
            return
        request.request_dict[RECEIVED_AT_FIELD] = at
        with self._lock:
            self._held[request.id] = weakref.ref(request)

    def release(self, task_id: str) -> None:
        """Record the request of ``task_id`` now if it has not started (revoked, rejected)."""
        with self._lock:
            held = self._held.pop(task_id, None)
        request = held() if held is not None else None
        if request is not None and _waiting(request):
            self._record(request)

    def release_due(self, now: float | None = None) -> None:
        """Record the requests that waited ``delay``; forget those that started."""
        now = time.time() if now is None else now
        with self._lock:
            entries = list(self._held.items())
        for task_id, held in entries:
            request = held()
            waiting = request is not None and _waiting(request)
            if waiting and now - _stamp(request) < self.delay:
                continue
            with self._lock:
                self._held.pop(task_id, None)
            if waiting:
                self._record(request)

    def release_all(self) -> None:
        """Record every request that has not started (the worker is shutting down)."""
        with self._lock:
            entries, self._held = list(self._held.values()), {}
        for held in entries:
            request = held()
            if request is not None and _waiting(request):
                self._record(request)

    def _record(self, request: Any) -> None:
        at = _stamp(request)
        # Unstamped, so that the runner, if the task starts after all, leaves it to us. Set
        # to None rather than deleted: this runs on the flusher thread, and the consumer's
        # may be reading the dict as it hands the task to the pool.
        request.request_dict[RECEIVED_AT_FIELD] = None
        self._record_received(request, at)

    def __len__(self) -> int:
        return len(self._held)


def _stamp(request: Any) -> float:
    return float(request.request_dict[RECEIVED_AT_FIELD])


def _waiting(request: Any) -> bool:
    """Whether no pool process has accepted ``request`` yet, and nobody recorded it."""
    return request.time_start is None and request.request_dict.get(RECEIVED_AT_FIELD) is not None
