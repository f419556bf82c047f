"""Cluster-wide limits on the worker's side: a task over its limit is not run, not lost and
not counted as a retry; it is sent again to wait, and its timeline says why.

Where it happens: the pool process's ``task_prerun`` handler asks the flow state (the store,
or in relay mode the Redis broker: :mod:`celery_ops.recording.flow`) to admit a limited task
(one short transaction or one script, only for task types with a limit). Refused, the task's
message is sent again with a countdown (same task id, same retry count) and the run is ended
before its body by ``Ignore``, raised by the thin wrapper celery-ops puts around each task's
``run`` when the worker starts (a thread-local flag read, for every task). Admitted, its
concurrency slot is given back by the write of its end (the recorder's, or the ingester's in
relay mode), or expires after ``ops_limit_slot_ttl``.

The limits themselves are re-read every :data:`REFRESH_SECONDS` by a thread of each process,
so a live edit takes effect within a few seconds and no task waits for that read.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import random
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from celery.exceptions import Ignore

from celery_ops.core.clock import from_timestamp
from celery_ops.core.errors import InvalidInput
from celery_ops.core.limits import TaskLimit
from celery_ops.core.unique import named_arguments
from celery_ops.recording.flow import FlowUnavailable
from celery_ops.signals.publishing import HELD_BACK_HEADER
from celery_ops.store import StoreError
from celery_ops.store.limits import RATE, SLOT, Admission, Gate

if TYPE_CHECKING:
    from celery_ops.signals.host import RecordingHost

logger = logging.getLogger("celery_ops.limits")

#: Seconds between two reads of the limits by each process.
REFRESH_SECONDS = 2.0


class Limiter:
    """The limits as this process last read them, and the admissions of its tasks."""

    def __init__(self, ops: RecordingHost) -> None:
        self.ops = ops
        self._limits: dict[str, TaskLimit] = {}
        self._pid: int | None = None
        self._warned = False
        self._lock = threading.Lock()
        #: Set while the task this thread runs was held back (its body must not run).
        self.held_back = threading.local()
        # A forked pool process starts its own watcher (threads do not survive a fork).
        os.register_at_fork(after_in_child=self._forget_watcher)

    def limit_of(self, task_name: str) -> TaskLimit | None:
        if self._pid is None:
            if not self.enabled:
                return None
            self._start_watching()
        return self._limits.get(task_name)

    def watch(self) -> None:
        """Start re-reading the limits in this process now (a pool process as it starts),
        rather than at its first task."""
        if self._pid is None and self.enabled:
            self._start_watching()

    @property
    def enabled(self) -> bool:
        """Limits are enforced in direct mode, and in relay mode on a Redis broker. In relay
        mode on RabbitMQ they would give every pool process a store connection (to read them
        and to admit), which relay mode exists to avoid: there they are not enforced, and a
        warning says so once."""
        if not self.ops.flow_state.enforces_limits:
            if not self._warned:
                self._warned = True
                logger.warning(
                    "celery-ops: cluster-wide limits are not enforced in relay mode on this "
                    "broker (they need Redis); see docs/flow-control.md"
                )
            return False
        return True

    def _forget_watcher(self) -> None:
        self._pid = None
        self._lock = threading.Lock()

    def admit(self, limit: TaskLimit, task: Any, task_id: str, now: float) -> Admission:
        """Whether ``task_id`` may start now; admitted when the store cannot say (a limit
        must not stop the cluster when the database is down)."""
        args, kwargs = task.request.args or (), task.request.kwargs or {}
        try:
            gates = []
            if limit.rate is not None:
                key = _key(task, limit.rate_key, args, kwargs)
                gates.append(Gate(task.name, key, RATE, limit.rate.count, limit.rate.per_seconds))
            if limit.concurrency is not None:
                key = _key(task, limit.concurrency_key, args, kwargs)
                ttl = self.ops.config.limit_slot_ttl
                gates.append(Gate(task.name, key, SLOT, limit.concurrency, ttl))
            return self.ops.flow_state.admit(task_id, gates, from_timestamp(now))
        except (StoreError, FlowUnavailable, InvalidInput) as exc:
            logger.warning(
                "celery-ops: could not check the limits of %s (%s); ran it", task.name, exc
            )
            return Admission(True)

    def send_again(self, task: Any, admission: Admission) -> None:
        """Send the held-back message again, to come back when the limit may let it in."""
        request = task.request
        headers = dict(getattr(request, "headers", None) or {})
        headers[HELD_BACK_HEADER] = True
        # A little spread: the tasks held back together do not all come back at once.
        countdown = admission.wait + random.uniform(0.0, max(admission.wait, 0.05))
        signature = task.signature_from_request(request, countdown=countdown, headers=headers)
        signature.apply_async()

    def prime(self) -> None:
        """Read the limits now (the worker's main process, before its pool forks): the pool
        processes start with them, and their first tasks are limited too."""
        if self.enabled:
            self._read()

    def _start_watching(self) -> None:
        with self._lock:
            if self._pid == os.getpid():
                return
            self._pid = os.getpid()
            threading.Thread(target=self._watch, name="celery-ops-limits", daemon=True).start()

    def _watch(self) -> None:
        # Reads happen here, never on a task's path: a store that is down must not hold up a
        # task (the limits last read stay in force meanwhile).
        pid = os.getpid()
        while self._pid == pid:
            self._read()
            time.sleep(REFRESH_SECONDS)

    def _read(self) -> None:
        try:
            found = self.ops.flow_state.limits()
        except (StoreError, FlowUnavailable) as exc:
            logger.warning("celery-ops: could not read the limits (%s); kept the last ones", exc)
            return
        self._limits = {limit.task_name: limit for limit in found}


def hold_back_when_asked(task: Any, limiter: Limiter) -> None:
    """Wrap ``task.run`` so that a run its limit held back ends before the body."""
    if getattr(task, "_celery_ops_limited", False):
        return
    run: Callable[..., Any] = task.run

    @functools.wraps(run)
    def limited_run(*args: Any, **kwargs: Any) -> Any:
        if getattr(limiter.held_back, "now", False):
            raise Ignore()
        return run(*args, **kwargs)

    task.run = limited_run
    task._celery_ops_limited = True


def _key(task: Any, names: tuple[str, ...], args: Any, kwargs: Any) -> str:
    """The hash of the values of ``names`` in this call ("" for a limit without a key)."""
    if not names:
        return ""
    values = named_arguments(task.name, task, list(names), args, kwargs)
    text = json.dumps(values, sort_keys=True, default=repr, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
