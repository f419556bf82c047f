"""Unique tasks on the producer's side: at publish, a claim of the task's key in the store
decides whether the message is sent (the store's claim, or in relay mode on a Redis broker the
broker's: :mod:`celery_ops.recording.flow`).

celery-ops wraps the app's ``send_task``, through which ``.delay()``, ``.apply_async()``,
canvases, retries, beat and the dashboard all send. A task that is not unique (no
``ops_unique_for``, no unique headers) goes straight through: the claim is the only
synchronous call celery-ops makes on a producer, and only unique tasks pay it.

A call whose key is held by another waiting or running execution sends nothing and returns
that execution's ``AsyncResult``; its timeline says a duplicate was refused. When the store
cannot be reached, the message is sent anyway (a duplicate is better than a lost task) and
the failure logged.
"""

from __future__ import annotations

import inspect
import logging
import time
import uuid
from typing import TYPE_CHECKING, Any

from celery_ops.core.clock import from_timestamp
from celery_ops.core.unique import UNTIL_HEADER, unique_key
from celery_ops.recording.events import ExecutionEvent
from celery_ops.recording.flow import FlowUnavailable
from celery_ops.store import StoreError
from celery_ops.store.unique import Claim

if TYPE_CHECKING:
    from celery_ops.signals.host import RecordingHost

logger = logging.getLogger("celery_ops.unique")

#: Headers that make a call unique without a task option.
_UNIQUE_HEADERS = ("ops_unique_for", "ops_unique_key")


def guard_unique_sends(ops: RecordingHost) -> None:
    """Make ``ops.app.send_task`` claim the key of each unique task it sends."""
    app = ops.app
    original = app.send_task
    parameters = inspect.signature(original)

    def send_task(name: str, *positional: Any, **options: Any) -> Any:
        task = options.get("task_type") or app.tasks.get(name)
        headers = options.get("headers")
        if getattr(task, "ops_unique_for", None) is None and not (
            headers and any(key in headers for key in _UNIQUE_HEADERS)
        ):
            return original(name, *positional, **options)
        call = parameters.bind(name, *positional, **options)
        call.apply_defaults()
        return _send_unique(ops, original, task, call.arguments)

    app.send_task = send_task


def _send_unique(ops: RecordingHost, send: Any, task: Any, call: dict[str, Any]) -> Any:
    name = call["name"]
    options = dict(call.pop("options", {}) or {})
    headers = dict(call.get("headers") or options.pop("headers", None) or {})
    key = unique_key(name, task, headers, call.get("args"), call.get("kwargs"))
    if key is None:
        return send(**call, **options)
    task_id = call.get("task_id") or str(uuid.uuid4())
    call["task_id"] = task_id
    headers[UNTIL_HEADER] = key.until
    call["headers"] = headers
    now = time.time()
    claim = Claim(name, key.hash, key.text, task_id, key.until)
    try:
        holder = ops.flow_state.claim(claim, from_timestamp(now), from_timestamp(now + key.seconds))
    except (StoreError, FlowUnavailable) as exc:
        logger.warning(
            "celery-ops: could not claim the unique key of %s (%s); sent without it", name, exc
        )
        return send(**call, **options)
    if not holder.won:
        ops.recorder.record(
            ExecutionEvent(
                holder.task_id,
                "duplicate-refused",
                now,
                None,
                1,
                details={"key": key.text[:200], "refused_id": task_id},
            )
        )
        result_cls = call.get("result_cls") or ops.app.AsyncResult
        return result_cls(holder.task_id)
    try:
        return send(**call, **options)
    except BaseException:
        # Not sent: the key must not stay held by a message that does not exist.
        try:
            ops.flow_state.forget(name, key.hash, task_id)
        except (StoreError, FlowUnavailable):
            logger.warning("celery-ops: could not free the unique key of %s", name)
        raise
