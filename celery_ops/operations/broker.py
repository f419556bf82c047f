"""The broker, as the operations see it: send a task, revoke tasks, count a queue's backlog.

The one place operations talk to Celery's app; its failures leave it as
:class:`~celery_ops.core.errors.Unavailable`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from kombu.entity import Queue

from celery_ops.operations.errors import broker_unavailable

#: Task ids per revoke broadcast: one message, however many workers hear it.
REVOKE_CHUNK = 1000


@dataclass(frozen=True)
class Backlog:
    """A queue as the broker sees it."""

    messages: int
    #: None where the broker does not count them (Redis).
    consumers: int | None
    #: False when the broker has no such queue; on Redis that just means it is empty.
    in_broker: bool = True


class CeleryBroker:
    """The broker of one Celery app."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def knows_task(self, name: str) -> bool:
        """Whether this app registered ``name`` (workers may know more)."""
        return name in self.app.tasks

    @property
    def default_timezone(self) -> str:
        """The app's time zone (``timezone`` setting), for cron schedules that name none."""
        return str(self.app.conf.timezone or "UTC")

    def configured_queues(self) -> set[str]:
        """The app's default queue and the queues it declares."""
        conf = self.app.conf
        return {conf.task_default_queue, *(queue.name for queue in conf.task_queues or ())}

    @contextmanager
    def producer(self) -> Iterator[Any]:
        """One broker connection for many sends."""
        try:
            with self.app.producer_or_acquire() as producer:
                yield producer
        except OSError as exc:
            raise broker_unavailable(exc) from exc

    def send(
        self,
        task: str,
        args: list[Any],
        kwargs: dict[str, Any],
        task_id: str,
        options: dict[str, Any],
        producer: Any = None,
    ) -> str:
        """Send ``task`` as ``task_id``; the id of the execution that will run it, which is
        another one's when the task is unique and its key is held (nothing is sent then)."""
        try:
            sent = self.app.send_task(
                task, args, kwargs, task_id=task_id, producer=producer, **options
            )
            return str(getattr(sent, "id", None) or task_id)
        except Exception as exc:
            if is_connection_error(exc):
                raise broker_unavailable(exc) from exc
            raise

    def send_signature(self, signature: Mapping[str, Any]) -> str:
        """Send a task signature kept as JSON (a batch's callback); the new task id."""
        try:
            return str(self.app.signature(dict(signature)).apply_async().id)
        except Exception as exc:
            if is_connection_error(exc):
                raise broker_unavailable(exc) from exc
            raise

    def revoke(self, task_ids: Sequence[str], terminate: bool = False) -> None:
        """Tell every worker not to run these tasks (and to kill them if running and asked)."""
        try:
            for start in range(0, len(task_ids), REVOKE_CHUNK):
                chunk = list(task_ids[start : start + REVOKE_CHUNK])
                self.app.control.revoke(chunk, terminate=terminate)
        except Exception as exc:
            if is_connection_error(exc):
                raise broker_unavailable(exc) from exc
            raise

    def backlogs(self, names: Sequence[str]) -> tuple[dict[str, Backlog], str | None]:
        """Messages waiting and consumers of each queue, read over one connection; with the
        broker unreachable, what was read and what went wrong."""
        found: dict[str, Backlog] = {}
        try:
            with self.app.connection_for_read() as connection:
                connection.ensure_connection(max_retries=1)
                for name in names:
                    found[name] = _backlog(connection, name)
        except Exception as exc:
            return found, f"{type(exc).__name__}: {exc}"
        return found, None


@dataclass(frozen=True)
class TakenMessage:
    """A task message taken off a queue, not yet acknowledged."""

    task_id: str | None
    task: str | None
    #: The attempt it would have been (1 for a first run; a retry's message says more).
    attempt: int
    message: Any


def take_messages(
    broker: CeleryBroker,
    name: str,
    on_chunk: Callable[[list[TakenMessage]], None],
    chunk_size: int = 500,
) -> int:
    """Take the messages waiting in queue ``name`` one by one, ``chunk_size`` at a time: each
    chunk is handed to ``on_chunk``, then acknowledged (gone for good). If ``on_chunk`` raises,
    that chunk goes back to the queue and the error propagates. How many were taken for good.

    Messages are taken, not purged, because a broker's purge only returns a count: the task
    ids are in the messages.
    """
    taken = 0
    try:
        with broker.app.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1)
            if not _backlog(connection, name).in_broker:
                return 0
            channel = connection.channel()
            try:
                queue = Queue(name, channel=channel)  # type: ignore[no-untyped-call]
                while True:
                    chunk = _take(queue, chunk_size, broker.app.conf.accept_content)
                    if not chunk:
                        return taken
                    try:
                        on_chunk(chunk)
                    except BaseException:
                        for item in chunk:
                            item.message.reject(requeue=True)
                        raise
                    for item in chunk:
                        item.message.ack()
                    taken += len(chunk)
            finally:
                channel.close()
    except Exception as exc:
        if is_connection_error(exc):
            raise broker_unavailable(exc) from exc
        raise


def _take(queue: Any, limit: int, accept: Any) -> list[TakenMessage]:
    chunk: list[TakenMessage] = []
    while len(chunk) < limit:
        message = queue.get(no_ack=False, accept=accept)
        if message is None:
            break
        headers = message.headers or {}
        body = {} if "id" in headers else _protocol_1_body(message)
        task_id = headers.get("id") or body.get("id")
        task = headers.get("task") or body.get("task")
        retries = headers.get("retries", body.get("retries", 0))
        attempt = int(retries) + 1 if isinstance(retries, int) else 1
        chunk.append(TakenMessage(task_id, task, attempt, message))
    return chunk


def _protocol_1_body(message: Any) -> dict[str, Any]:
    # Task message protocol 1 keeps the id in the body; a body that cannot be read is
    # purged all the same, counted without an id.
    try:
        body = message.decode()
    except Exception:
        return {}
    return body if isinstance(body, dict) else {}


def _backlog(connection: Any, name: str) -> Backlog:
    channel = connection.channel()
    try:
        declared = channel.queue_declare(queue=name, passive=True)
        counts_consumers = connection.transport.driver_type == "amqp"
        consumers = int(declared.consumer_count) if counts_consumers else None
        return Backlog(int(declared.message_count), consumers)
    except Exception as exc:
        if "NOT_FOUND" not in str(exc) and "404" not in str(exc):
            raise
        return Backlog(0, 0, in_broker=False)
    finally:
        channel.close()


def is_connection_error(exc: Exception) -> bool:
    # kombu's OperationalError and the transports' socket errors; not a bad argument.
    return isinstance(exc, OSError | ConnectionError) or type(exc).__name__ in (
        "OperationalError",
        "ConnectionError",
        "TimeoutError",
    )
