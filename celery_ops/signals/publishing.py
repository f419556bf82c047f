"""The producer's side: a task is recorded as PENDING once its message is on the broker.

Any process that sends a task through an app with celery-ops is a producer: a web app, beat,
a worker retrying a task or running a canvas. ``before_task_publish`` builds the event (and
stamps the sending time into the message); the app's wrapped ``send_task`` records it when it
returns, that is once the broker took the message.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from celery_ops import lifecycle as states
from celery_ops.events import ExecutionEvent
from celery_ops.headers import (
    RETRIED_FROM_HEADER,
    SCHEDULE_HEADER,
    SENT_AT_HEADER,
    TENANT_HEADER,
)
from celery_ops.payload import Arguments, text_or_none
from celery_ops.signals.guard import never_raises

if TYPE_CHECKING:
    from celery_ops.extension import CeleryOps

# before_task_publish names no app: the app's own send_task marks which app is sending, and
# the event built before publishing is recorded only once send_task returned, i.e. once the
# message was really sent (see recording_send_task).
_sending_app: ContextVar[object | None] = ContextVar("celery_ops_sending_app", default=None)
_unsent: ContextVar[ExecutionEvent | None] = ContextVar("celery_ops_unsent", default=None)


def recording_send_task(
    handlers: PublishHandlers, send_task: Callable[..., Any]
) -> Callable[..., Any]:
    """``send_task`` of ``handlers.app``, recording each message it sent.

    This replaces an ``after_task_publish`` handler: a message is sent once send_task returns,
    and that costs the producer one signal less per message. Each call has its own slot for
    the event being sent, so a send within a send (from another library's publish handler)
    records both.
    """
    app = handlers.app
    sent = never_raises(handlers.task_sent)

    @functools.wraps(send_task)
    def send_task_recorded(*args: Any, **kwargs: Any) -> Any:
        app_token = _sending_app.set(app)
        unsent_token = _unsent.set(None)
        try:
            result = send_task(*args, **kwargs)
            sent(getattr(result, "id", None))
            return result
        finally:
            _unsent.reset(unsent_token)
            _sending_app.reset(app_token)

    return send_task_recorded


class PublishHandlers:
    """The producer's handlers of one Celery app, bound to its :class:`CeleryOps`."""

    def __init__(self, ops: CeleryOps) -> None:
        self.ops = ops
        self.app = ops.app

    def before_task_publish(
        self,
        sender: str | None = None,
        body: Any = None,
        routing_key: str | None = None,
        headers: dict[str, Any] | None = None,
        properties: dict[str, Any] | None = None,
        **_: Any,
    ) -> None:
        if _sending_app.get() is not self.app or headers is None:
            return
        now = time.time()
        headers[SENT_AT_HEADER] = now
        task_id = headers.get("id")
        if not task_id:
            return
        retries = int(headers.get("retries") or 0)
        eta = headers.get("eta")
        if retries:
            # The retry of a running task re-sends it: it belongs to the attempt that failed.
            event = ExecutionEvent(
                task_id,
                "retry-published",
                now,
                states.RETRY,
                retries,
                values={"eta": eta},
                details={"eta": eta, "queue": routing_key},
            )
        else:
            args, kwargs = _body_arguments(body)
            event = ExecutionEvent(
                task_id,
                "published",
                now,
                states.PENDING,
                1,
                values={
                    "task_name": headers.get("task") or sender,
                    "queue": routing_key,
                    "priority": (properties or {}).get("priority"),
                    "eta": eta,
                    "expires": headers.get("expires"),
                    "published_at": now,
                    "parent_id": headers.get("parent_id"),
                    "root_id": headers.get("root_id"),
                    "group_id": headers.get("group"),
                    "tenant_id": text_or_none(headers.get(TENANT_HEADER)),
                    "schedule_name": headers.get(SCHEDULE_HEADER),
                    "retried_from": headers.get(RETRIED_FROM_HEADER),
                },
                arguments=Arguments(
                    args, kwargs, headers.get("argsrepr"), headers.get("kwargsrepr")
                ),
                details={"queue": routing_key, "eta": eta} if eta else {"queue": routing_key},
            )
        _unsent.set(event)

    def task_sent(self, task_id: str | None) -> None:
        """``send_task`` returned: the message prepared at publish is on the broker."""
        event = _unsent.get()
        if event is not None and event.task_id == task_id:
            self.ops.recorder.record(event)


def _body_arguments(body: Any) -> tuple[Any, Any]:
    if isinstance(body, tuple | list) and len(body) >= 2:
        return body[0], body[1]
    if isinstance(body, dict):  # task protocol 1
        return body.get("args"), body.get("kwargs")
    return None, None
