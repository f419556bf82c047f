"""The producer's side: a task is recorded as PENDING once its message is on the broker.

Any process that sends a task through an app with celery-ops is a producer: a web app, beat,
a worker retrying a task or running a canvas. Every message an app sends goes through its
``app.amqp.send_task_message``; celery-ops wraps that function of the app it was added to. The
wrapper stamps the sending time into the message's headers, and records the message once the
original returned, that is once the broker took it.

A wrapper rather than ``before_task_publish``/``after_task_publish`` handlers: a signal names
no app, so a handler has to find out which app is sending, and each of Celery's signal
dispatches takes a lock and rebuilds its list of receivers (doing without them takes a seventh
off what recording costs a producer per message). The wrapper
also reads the headers as they were sent, after every ``before_task_publish`` handler
(another library's, say one adding a ``tenant_id``) had its say.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from celery_ops.core import lifecycle as states
from celery_ops.recording.events import ExecutionEvent
from celery_ops.recording.headers import (
    MESSAGE_COLUMNS,
    RETRIED_FROM_HEADER,
    SENT_AT_HEADER,
    header_columns,
)
from celery_ops.recording.payload import Arguments, text_or_none
from celery_ops.signals.guard import never_raises

#: Set on a message a limit held back and sent again (``celery_ops.signals.limits``).
HELD_BACK_HEADER = "ops_held_back"

if TYPE_CHECKING:
    from celery import Celery

    from celery_ops.signals.host import RecordingHost

SendTaskMessage = Callable[..., Any]


def record_sent_messages(ops: RecordingHost) -> None:
    """Make ``ops.app`` record every task message it sends."""
    amqp = ops.app.amqp
    create_sender = _sender_factory(amqp)
    send: SendTaskMessage | None = None

    @never_raises
    def record_sent(
        name: str, message: Any, headers: dict[str, Any], options: Any, now: float
    ) -> None:
        event = published_event(ops.app, name, message, headers, options, now)
        if event is not None:
            ops.recorder.record(event)

    def send_task_message(
        producer: Any, name: str, message: Any, *args: Any, **options: Any
    ) -> Any:
        nonlocal send
        if send is None:
            send = create_sender()
        now = time.time()
        headers = _stamped_headers(message, now)
        result = send(producer, name, message, *args, **options)
        if headers is not None:
            record_sent(name, message, headers, options, now)
        return result

    amqp.send_task_message = send_task_message


def _sender_factory(amqp: Any) -> Callable[[], SendTaskMessage]:
    """How to get the app's own ``send_task_message``, without making it before it is needed.

    Celery builds it on first use (a cached property), reading the app's configuration as it
    is then; building it when ``init_app`` runs could read a configuration not complete yet.
    """
    descriptor = getattr(type(amqp), "send_task_message", None)
    build = getattr(descriptor, "func", None)
    if callable(build):
        return lambda: build(amqp)
    # Not Celery's cached property (an AMQP subclass overriding it): take it as it is.
    original: SendTaskMessage = amqp.send_task_message
    return lambda: original


def _stamped_headers(message: Any, now: float) -> dict[str, Any] | None:
    """The message's headers, with the sending time added; None if it cannot carry it."""
    try:
        headers = message.headers
    except AttributeError:
        return None
    if not isinstance(headers, dict):
        return None
    headers[SENT_AT_HEADER] = now
    return headers


def published_event(
    app: Celery,
    name: str,
    message: Any,
    headers: dict[str, Any],
    options: dict[str, Any],
    now: float,
) -> ExecutionEvent | None:
    """The event of a message sent at ``now``; None for one without a task id (protocol 1)."""
    task_id = headers.get("id")
    if not task_id or headers.get(HELD_BACK_HEADER):
        # A message a limit held back, sent again: its "throttled" entry is recorded.
        return None
    queue = _queue_name(options)
    if headers.get("replaced_task_nesting"):
        running = app.current_task
        if running is not None and running.request.id == task_id:
            # Task.replace(): the replacement takes over the running task's id. What was sent
            # first stays the row's; the timeline says by what it was replaced.
            return ExecutionEvent(
                task_id,
                "replaced",
                now,
                None,
                int(getattr(running.request, "retries", 0) or 0) + 1,
                details={"by": headers.get("task") or name, "queue": queue},
            )
    retries = int(headers.get("retries") or 0)
    eta = headers.get("eta")
    if retries:
        # The retry of a running task re-sends it: it belongs to the attempt that failed.
        return ExecutionEvent(
            task_id,
            "retry-published",
            now,
            states.RETRY,
            retries,
            values={"eta": eta},
            details={"eta": eta, "queue": queue},
        )
    values = header_columns(headers, _SENT_COLUMNS)
    values["task_name"] = headers.get("task") or name
    values["queue"] = queue
    values["published_at"] = now
    properties = message.properties
    priority = properties.get("priority") if isinstance(properties, dict) else None
    if priority is not None:
        values["priority"] = priority
    args, kwargs = _body_arguments(message.body)
    return ExecutionEvent(
        task_id,
        "published",
        now,
        states.PENDING,
        1,
        values=values,
        arguments=Arguments(args, kwargs, headers.get("argsrepr"), headers.get("kwargsrepr")),
        # Not stored on the timeline: the row holds all it says (its published_at, queue and
        # eta), and the timeline is read with it (``celery_ops.store.queries.get_timeline``).
        on_timeline=False,
    )


#: What the producer reads of the headers it sent: what a worker reads too, and the
#: operator's retry that sent it.
_SENT_COLUMNS = (*MESSAGE_COLUMNS, ("retried_from", RETRIED_FROM_HEADER))


def _queue_name(options: dict[str, Any]) -> str | None:
    """The queue the message was sent to, as the router or the caller named it.

    Celery's ``send_task`` always passes the routed queue; a caller that named only an
    exchange gets its routing key instead.
    """
    queue = options.get("queue")
    if queue is None:
        return text_or_none(options.get("routing_key"))
    if isinstance(queue, str):
        return queue
    return text_or_none(getattr(queue, "name", None))


def _body_arguments(body: Any) -> tuple[Any, Any]:
    if isinstance(body, tuple | list) and len(body) >= 2:
        return body[0], body[1]
    if isinstance(body, dict):  # task protocol 1
        return body.get("args"), body.get("kwargs")
    return None, None
