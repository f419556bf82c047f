"""A worker's task signals -> :class:`~celery_ops.recording.events.ExecutionEvent`; only
enqueue, never wait.

Two kinds of process send these: the worker's main process (received, revoked, rejected,
unknown, and failures it detects itself such as a hard time limit) and the pool processes
(prerun, failure, retry, postrun). Producers have theirs in :mod:`celery_ops.signals.publishing`.
"""

from __future__ import annotations

import os
import resource
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from celery_ops.core import lifecycle as states
from celery_ops.core.clock import to_instant
from celery_ops.core.unique import FINISHED, STARTED, UNTIL_HEADER
from celery_ops.recording.events import ExecutionEvent
from celery_ops.recording.handoff import RECEIVED_AT_FIELD
from celery_ops.recording.headers import BATCH_HEADER, SENT_AT_HEADER, header_columns
from celery_ops.recording.payload import Arguments, describe_exception, text_or_none
from celery_ops.signals.limits import Limiter
from celery_ops.signals.progress import watch_progress
from celery_ops.signals.publishing import HELD_BACK_HEADER
from celery_ops.store.limits import Admission

if TYPE_CHECKING:
    from celery_ops.signals.host import RecordingHost


class TaskSignalHandlers:
    """The handlers of one Celery app, bound to its :class:`CeleryOps`."""

    def __init__(self, ops: RecordingHost) -> None:
        self.ops = ops
        self.app = ops.app
        # task id -> (perf_counter at start, peak RSS in KiB at start), in the running process.
        self._running: dict[str, tuple[float, int]] = {}
        self.progress = watch_progress(ops)
        self.limiter = Limiter(ops)
        #: Runs in this process holding a concurrency slot of a limited task.
        self._slots: set[str] = set()

    def _record(self, event: ExecutionEvent) -> None:
        self.ops.recorder.record(event)

    def _release_received(self, task_id: str) -> None:
        if self.ops.has_received_handoff:
            self.ops.received_handoff.release(task_id)

    # Worker main process

    def task_received(self, sender: Any = None, request: Any = None, **_: Any) -> None:
        if getattr(sender, "app", None) is not self.app or request is None:
            return
        # Recorded later by whichever process it concerns: see celery_ops.recording.handoff.
        self.ops.received_handoff.hold(request, time.time())

    def task_revoked(
        self,
        sender: Any = None,
        request: Any = None,
        terminated: bool = False,
        signum: Any = None,
        expired: bool = False,
        **_: Any,
    ) -> None:
        if getattr(sender, "app", None) is not self.app or request is None:
            return
        self._release_received(request.id)
        now = time.time()
        values: dict[str, Any] = {
            "revoked_at": now,
            "completed_at": now,
            "task_name": getattr(sender, "name", None),
        }
        if terminated:
            values["error_type"] = "Terminated"
            values["error_message"] = f"terminated by signal {signum}"
        elif expired:
            values["error_type"] = "Expired"
            values["error_message"] = "the task expired before it could run"
        self._record(
            ExecutionEvent(
                request.id,
                "revoked",
                now,
                states.REVOKED,
                _attempt(request),
                values=values,
                details={
                    "terminated": bool(terminated),
                    "signum": text_or_none(signum),
                    "expired": bool(expired),
                },
                worker=getattr(request, "hostname", None) or self.ops.hostname,
                # Revoked, it will not run: whatever it waited for, its key is free.
                releases_key=UNTIL_HEADER in (getattr(request, "request_dict", None) or {}),
                ends_batch=(getattr(request, "request_dict", None) or {}).get(BATCH_HEADER),
            )
        )

    def task_rejected(
        self, sender: Any = None, message: Any = None, exc: Any = None, **_: Any
    ) -> None:
        if getattr(sender, "app", None) is not self.app or message is None:
            return
        headers = getattr(message, "headers", None) or {}
        if headers.get("id"):
            error_type, error_message = describe_exception(exc)
            self._reject(
                headers["id"],
                headers.get("task"),
                error_type or "Rejected",
                error_message or "the worker rejected the message",
            )

    def task_unknown(
        self,
        sender: Any = None,
        name: str | None = None,
        id: str | None = None,
        exc: Any = None,
        **_: Any,
    ) -> None:
        if getattr(sender, "app", None) is not self.app or not id:
            return
        _kind, error_message = describe_exception(exc)
        self._reject(
            id,
            name,
            "NotRegistered",
            error_message or f"task {name!r} is not registered on the worker",
        )

    def _reject(self, task_id: str, name: str | None, error_type: str, message: str) -> None:
        self._release_received(task_id)
        now = time.time()
        self._record(
            ExecutionEvent(
                task_id,
                "rejected",
                now,
                states.REJECTED,
                states.FINAL_ATTEMPT,
                values={
                    "task_name": name,
                    "completed_at": now,
                    "error_type": error_type,
                    "error_message": message,
                    "worker_id": self.ops.hostname,
                },
                details={"error": error_type},
                worker=self.ops.hostname,
            )
        )

    # Pool child (or the main process with the solo and threads pools)

    def task_prerun(
        self, sender: Any = None, task_id: str | None = None, task: Any = None, **_: Any
    ) -> None:
        if task is None or task.app is not self.app or not task_id:
            return
        now = time.time()
        request = task.request
        limit = self.limiter.limit_of(task.name)
        if limit is not None:
            admission = self.limiter.admit(limit, task, task_id, now)
            if not admission.admitted:
                self._hold_back(task, task_id, admission, now)
                return
            if admission.at is not None:
                # Its start is the time the limit counted (later than now when it waited).
                now = admission.at.timestamp()
            if limit.concurrency is not None:
                self._slots.add(task_id)
            headers = getattr(request, "headers", None)
            if isinstance(headers, dict):
                # Its own retries are recorded as usual: they are not sent to wait again.
                headers.pop(HELD_BACK_HEADER, None)
        pid = os.getpid()
        self._running[task_id] = (time.perf_counter(), _peak_rss_kib())
        values: dict[str, Any] = {
            "task_name": task.name,
            "started_at": now,
            "worker_id": request.hostname,
            "pid": pid,
            "attempts": 1,
            "wait_time_ms": _wait_ms(request, now),
        }
        receipt = arguments = None
        # Stamped by the worker's main process unless it recorded the receipt itself.
        received_at = getattr(request, RECEIVED_AT_FIELD, None)
        if isinstance(received_at, float):
            values["received_at"] = received_at
            message = vars(request)
            if _redelivered(message):
                self._record(received_event(task_id, message, received_at))
            else:
                # The start stands for the receipt too: one event, two timeline entries.
                receipt, arguments = received_at, _message_arguments(message)
                values.update(_message_columns(message))
                values["task_name"] = values["task_name"] or task.name
        attempt = _attempt(request)
        self._record(
            ExecutionEvent(
                task_id,
                "started",
                now,
                states.STARTED,
                attempt,
                values=values,
                arguments=arguments,
                details={"pid": pid},
                worker=request.hostname,
                received_at=receipt,
                releases_key=getattr(request, UNTIL_HEADER, None) == STARTED,
                # A replacement (Task.replace) runs under an id whose row holds the first run.
                read_from_row=receipt is not None
                and attempt == 1
                and not getattr(request, "replaced_task_nesting", 0),
            )
        )

    def _hold_back(self, task: Any, task_id: str, admission: Admission, now: float) -> None:
        """Over its limit: not run, not counted as a retry, sent again to wait its turn."""
        request = task.request
        self.limiter.held_back.now = True
        self._release_received(task_id)
        self.limiter.send_again(task, admission)
        self._record(
            ExecutionEvent(
                task_id,
                "throttled",
                now,
                None,
                _attempt(request),
                details={"reason": admission.reason, "wait": round(admission.wait, 3)},
                worker=request.hostname,
            )
        )

    def task_failure(
        self,
        sender: Any = None,
        task_id: str | None = None,
        exception: BaseException | None = None,
        einfo: Any = None,
        **_: Any,
    ) -> None:
        if sender is None or sender.app is not self.app or not task_id:
            return
        request = sender.request
        in_task = request.id == task_id
        # The main process reports failures it saw itself (hard time limit, lost child):
        # it does not know the attempt, and nothing comes after such a failure.
        attempt = _attempt(request) if in_task else states.FINAL_ATTEMPT
        worker = request.hostname if in_task else self.ops.hostname
        now = time.time()
        error_type, error_message = describe_exception(exception)
        self._record(
            ExecutionEvent(
                task_id,
                "failed",
                now,
                states.FAILURE,
                attempt,
                values={
                    "failed_at": now,
                    "completed_at": now,
                    "error_type": error_type,
                    "error_message": error_message,
                    "exception_trace": _trace(einfo),
                    "worker_id": worker,
                    "task_name": sender.name,
                },
                details={"error": error_type},
                worker=worker,
                releases_key=in_task and _holds_key(request),
                ends_batch=getattr(request, BATCH_HEADER, None) if in_task else None,
            )
        )

    def task_retry(
        self,
        sender: Any = None,
        request: Any = None,
        reason: Any = None,
        einfo: Any = None,
        **_: Any,
    ) -> None:
        if sender is None or sender.app is not self.app or request is None:
            return
        now = time.time()
        cause = getattr(reason, "exc", None) or reason
        error_type, error_message = (
            describe_exception(cause)
            if isinstance(cause, BaseException)
            else ("Retry", text_or_none(cause))
        )
        when = getattr(reason, "when", None)
        self._record(
            ExecutionEvent(
                request.id,
                "retried",
                now,
                states.RETRY,
                _attempt(request),
                values={
                    "error_type": error_type,
                    "error_message": error_message,
                    "exception_trace": _trace(einfo),
                },
                details={"error": error_type, "reason": error_message, "when": text_or_none(when)},
                worker=request.hostname,
            )
        )

    def task_postrun(
        self,
        sender: Any = None,
        task_id: str | None = None,
        task: Any = None,
        retval: Any = None,
        state: str | None = None,
        **_: Any,
    ) -> None:
        # Successes are recorded here rather than on task_success: postrun comes after every
        # outcome and carries the return value, and one signal less costs the task less.
        if task is None or task.app is not self.app or not task_id:
            return
        if getattr(self.limiter.held_back, "now", False):
            self.limiter.held_back.now = False  # held back: it did not run
            return
        request = task.request
        now = time.time()
        figures = self._run_figures(task_id)
        if task_id in self._slots:
            self._slots.discard(task_id)
            self._record(
                ExecutionEvent(
                    task_id, "slot-freed", now, None, 0, on_timeline=False, frees_slot=True
                )
            )
        if state == states.SUCCESS:
            figures["completed_at"] = now
            self._record(
                ExecutionEvent(
                    task_id,
                    "succeeded",
                    now,
                    states.SUCCESS,
                    _attempt(request),
                    values=figures,
                    result=retval,
                    worker=request.hostname,
                    releases_key=_holds_key(request),
                    ends_batch=getattr(request, BATCH_HEADER, None),
                    read_from_row=_attempt(request) == 1,
                )
            )
            return
        if state == states.IGNORED:
            # The task raised Ignore: its run is over, and no outcome will come, unless it
            # replaced itself (Task.replace), when the replacement's arrives under this id.
            figures["completed_at"] = now
            self._record(
                ExecutionEvent(
                    task_id,
                    "ignored",
                    now,
                    states.IGNORED,
                    _attempt(request),
                    values=figures,
                    details={"reason": text_or_none(retval) or None},
                    worker=request.hostname,
                    releases_key=_holds_key(request),
                    ends_batch=getattr(request, BATCH_HEADER, None),
                )
            )
            return
        status = state if state in states.ALL_STATUSES else None
        if status is None and not figures:
            return
        # Failures and retries have their own events: this one adds the run's figures, and
        # the status of outcomes that have none (a task raising Reject).
        self._record(
            ExecutionEvent(
                task_id,
                "finished",
                now,
                status,
                _attempt(request),
                values=figures,
                on_timeline=False,
            )
        )

    def _run_figures(self, task_id: str) -> dict[str, Any]:
        """How long the run of ``task_id`` in this process took, how much memory it grew, and
        its last progress report."""
        started = self._running.pop(task_id, None)
        if started is None:
            return {}
        began, rss_before = started
        figures = {
            "execution_time_ms": (time.perf_counter() - began) * 1000.0,
            "memory_usage_mb": max(0, _peak_rss_kib() - rss_before) / 1024.0,
        }
        # The run's last progress report, if not written yet: the row keeps where it got to.
        reported = self.progress.take(task_id)
        if reported is not None:
            figures.update(reported)
        return figures

    def task_internal_error(
        self,
        sender: Any = None,
        task_id: str | None = None,
        request: Any = None,
        exception: BaseException | None = None,
        einfo: Any = None,
        **_: Any,
    ) -> None:
        if sender is None or sender.app is not self.app or not task_id:
            return
        now = time.time()
        error_type, error_message = describe_exception(exception)
        self._record(
            ExecutionEvent(
                task_id,
                "internal-error",
                now,
                states.FAILURE,
                _attempt(request) if request is not None else states.FINAL_ATTEMPT,
                values={
                    "failed_at": now,
                    "completed_at": now,
                    "error_type": error_type,
                    "error_message": f"celery internal error: {error_message}",
                    "exception_trace": _trace(einfo),
                },
                details={"error": error_type},
            )
        )


def received_event(task_id: str, message: Mapping[str, Any], at: float) -> ExecutionEvent:
    """A worker received ``message`` (its request fields, in the main process or, as task
    request attributes, in the process that runs it) at ``at``."""
    hostname = message.get("hostname")
    values = _message_columns(message)
    values["received_at"] = at
    values["worker_id"] = hostname
    return ExecutionEvent(
        task_id,
        "received",
        at,
        states.RECEIVED,
        int(message.get("retries") or 0) + 1,
        values=values,
        arguments=_message_arguments(message),
        details={"redelivered": True} if _redelivered(message) else None,
        worker=hostname,
    )


def _message_columns(message: Mapping[str, Any]) -> dict[str, Any]:
    """What a worker reads of a task in its message. A producer with celery-ops has recorded
    the same already; the worker records it again for when that record was lost (a producer
    killed with events in its buffer, such as a beat)."""
    values = header_columns(message)
    values["task_name"] = message.get("shadow") or message.get("task")
    values["queue"] = (message.get("delivery_info") or {}).get("routing_key")
    return values


def _message_arguments(message: Mapping[str, Any]) -> Arguments | None:
    """The arguments of a message sent by a producer without celery-ops (the first anyone
    hears of the task); None when a producer with celery-ops recorded them."""
    if message.get(SENT_AT_HEADER) is not None:
        return None
    return Arguments(
        message.get("args"),
        message.get("kwargs"),
        message.get("argsrepr"),
        message.get("kwargsrepr"),
    )


def _redelivered(message: Mapping[str, Any]) -> bool:
    return bool((message.get("delivery_info") or {}).get("redelivered"))


def _holds_key(request: Any) -> bool:
    """Whether this run's end frees a unique key (``ops_unique_until="finished"``)."""
    return getattr(request, UNTIL_HEADER, None) == FINISHED


def _attempt(request: Any) -> int:
    return int(getattr(request, "retries", 0) or 0) + 1


def _wait_ms(request: Any, started: float) -> float | None:
    sent_at = getattr(request, SENT_AT_HEADER, None)
    if not isinstance(sent_at, int | float):
        return None
    ready_at = float(sent_at)
    eta = getattr(request, "eta", None)
    if eta:
        try:
            eta_at = to_instant(eta)
        except (TypeError, ValueError, OverflowError):
            eta_at = None  # a malformed eta must not cost the task its start record
        if eta_at is not None:
            ready_at = max(ready_at, eta_at.timestamp())
    return max(0.0, (started - ready_at) * 1000.0)


def _peak_rss_kib() -> int:
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def _trace(einfo: Any) -> str | None:
    trace = getattr(einfo, "traceback", None)
    return str(trace) if trace else None
