"""The broker, as the operations see it: send a task, revoke tasks, count a queue's backlog.

The one place operations talk to Celery's app; its failures leave it as
:class:`~celery_ops.core.errors.Unavailable`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from celery_ops.operations.errors import broker_unavailable

#: Task ids per revoke broadcast: one message, however many workers hear it.
REVOKE_CHUNK = 1000


@dataclass(frozen=True)
class Backlog:
    """A queue as the broker sees it."""

    messages: int
    consumers: int
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
    ) -> None:
        try:
            self.app.send_task(task, args, kwargs, task_id=task_id, producer=producer, **options)
        except Exception as exc:
            if _is_connection_error(exc):
                raise broker_unavailable(exc) from exc
            raise

    def revoke(self, task_ids: Sequence[str], terminate: bool = False) -> None:
        """Tell every worker not to run these tasks (and to kill them if running and asked)."""
        try:
            for start in range(0, len(task_ids), REVOKE_CHUNK):
                chunk = list(task_ids[start : start + REVOKE_CHUNK])
                self.app.control.revoke(chunk, terminate=terminate)
        except Exception as exc:
            if _is_connection_error(exc):
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


def _backlog(connection: Any, name: str) -> Backlog:
    channel = connection.channel()
    try:
        declared = channel.queue_declare(queue=name, passive=True)
        return Backlog(int(declared.message_count), int(declared.consumer_count))
    except Exception as exc:
        if "NOT_FOUND" not in str(exc) and "404" not in str(exc):
            raise
        return Backlog(0, 0, in_broker=False)
    finally:
        channel.close()


def _is_connection_error(exc: Exception) -> bool:
    # kombu's OperationalError and the transports' socket errors; not a bad argument.
    return isinstance(exc, OSError | ConnectionError) or type(exc).__name__ in (
        "OperationalError",
        "ConnectionError",
        "TimeoutError",
    )
