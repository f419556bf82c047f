"""What an operator can do to executions: dispatch, retry, cancel and purge.

One implementation behind the dashboard, the JSON API and users' own code. Nothing here
knows about HTTP: failures are :class:`ActionError` subclasses that say what went wrong; the
API maps each kind to its status code.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from celery_ops import lifecycle as states
from celery_ops.headers import RETRIED_FROM_HEADER, TENANT_HEADER
from celery_ops.store.queries import ExecutionFilter

#: Counts in statistics stop at this many: "10000" reads "10,000 or more".
STATS_CAP = 10_000
#: Longest wait for the record of a task just sent (a slow store must not hang the page).
SETTLE_TIMEOUT = 2.0

if TYPE_CHECKING:
    from celery_ops.extension import CeleryOps


@dataclass(frozen=True)
class Backlog:
    """A queue as the broker sees it."""

    messages: int
    consumers: int
    #: False when the broker has no such queue; on Redis that just means it is empty.
    in_broker: bool = True


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


class ActionError(Exception):
    """An action refused; ``str()`` is a sentence for the operator."""


class NotFound(ActionError):
    """No execution (or queue, schedule) by that name."""


class UnknownTask(ActionError):
    """The task name is registered neither in this app nor on any worker."""


class InvalidInput(ActionError):
    """A value the action cannot use (not JSON, wrong type, out of range)."""


class Conflict(ActionError):
    """The execution is in a state where this action makes no sense."""


@dataclass(frozen=True)
class Cancelled:
    task_id: str
    status_before: str | None
    terminated: bool


class Operations:
    """The operator actions of one app."""

    def __init__(self, ops: CeleryOps) -> None:
        self._ops = ops

    def dispatch(
        self,
        task: Any,
        args: Any = None,
        kwargs: Any = None,
        queue: str | None = None,
        countdown: float | None = None,
        eta: str | datetime | None = None,
        priority: int | None = None,
    ) -> str:
        """Send ``task`` now (or later); returns the new task id."""
        self.check_task(task)
        arguments = _list(args, "args")
        keywords = _mapping(kwargs, "kwargs")
        options: dict[str, Any] = {}
        if queue is not None:
            options["queue"] = _text(queue, "queue")
        if countdown is not None:
            options["countdown"] = _number(countdown, "countdown", minimum=0)
        if eta is not None:
            options["eta"] = _time(eta, "eta")
        if priority is not None:
            options["priority"] = int(_number(priority, "priority", minimum=0, maximum=255))
        task_id = str(uuid.uuid4())
        self._ops.app.send_task(task, arguments, keywords, task_id=task_id, **options)
        self._settle()
        return task_id

    def retry(self, task_id: str) -> str:
        """Send the task again as a new execution, with the exact arguments of its message."""
        row = self._execution(task_id)
        if not row.get("task_name"):
            raise Conflict(f"execution {task_id} has no task name recorded: it cannot be re-sent")
        if row.get("message_args") is None or row.get("message_kwargs") is None:
            raise Conflict(
                f"the original arguments of {task_id} were not kept (too large, not JSON, "
                "recorded only from the worker side, or ops_store_message_args is off): it "
                "cannot be re-sent exactly"
            )
        args = json.loads(row["message_args"])
        kwargs = json.loads(row["message_kwargs"])
        headers = {RETRIED_FROM_HEADER: task_id}
        if row.get("tenant_id"):
            headers[TENANT_HEADER] = row["tenant_id"]
        options: dict[str, Any] = {"headers": headers}
        if row.get("queue"):
            options["queue"] = row["queue"]
        if row.get("priority") is not None:
            options["priority"] = row["priority"]
        new_id = str(uuid.uuid4())
        self._ops.app.send_task(row["task_name"], args, kwargs, task_id=new_id, **options)
        self._settle()
        return new_id

    def cancel(self, task_id: str, terminate: bool = False) -> Cancelled:
        """Revoke a task that has not started; terminate a running one only when asked."""
        row = self._execution(task_id)
        status = row.get("status")
        if status in states.TERMINAL_STATUSES:
            raise Conflict(f"execution {task_id} already ended ({status}): nothing to cancel")
        if status == states.STARTED and not terminate:
            raise Conflict(
                f"execution {task_id} is running: cancelling it means terminating its "
                "process; ask again with terminate=true to do that"
            )
        self._ops.app.control.revoke(task_id, terminate=terminate and status == states.STARTED)
        return Cancelled(task_id, status, terminate and status == states.STARTED)

    def purge(self, statuses: Sequence[str] | None, older_than_seconds: float) -> int:
        """Delete execution records (with their timelines); returns how many."""
        unknown = sorted({s.upper() for s in statuses or ()} - set(states.ALL_STATUSES))
        if unknown:
            raise InvalidInput(f"unknown status {', '.join(unknown)}")
        if not older_than_seconds > 0:
            raise InvalidInput("older_than must be a duration above zero")
        wanted = [s.upper() for s in statuses] if statuses else None
        return self._ops.store.purge_older_than(older_than_seconds, wanted)

    def count_purgeable(self, statuses: Sequence[str] | None, older_than_seconds: float) -> int:
        wanted = [s.upper() for s in statuses] if statuses else None
        return self._ops.store.count_older_than(older_than_seconds, wanted)

    def queue_stats(self, name: str) -> dict[str, Any]:
        """The broker's backlog of a queue and what the store knows of its executions."""
        backlogs, broker_error = self.backlogs([name])
        backlog = backlogs.get(name)
        # With the broker unreachable the queue may well exist: only the store can say no.
        in_broker = backlog.in_broker if backlog is not None else True
        counts = {
            status: self._ops.store.count_executions(
                ExecutionFilter(statuses=(status,), queue=name), cap=STATS_CAP
            )
            for status in states.ALL_STATUSES
        }
        if not in_broker and not any(counts.values()):
            raise NotFound(f"no queue named {name!r} in the broker or the store")
        return {
            "queue": name,
            "backlog": backlog.messages if backlog else None,
            "consumers": backlog.consumers if backlog else None,
            "broker_error": broker_error,
            "executions_by_status": counts,
            "counts_capped_at": STATS_CAP,
        }

    def backlogs(self, names: Sequence[str]) -> tuple[dict[str, Backlog], str | None]:
        """Messages waiting and consumers of each queue, read from the broker over one
        connection; with the broker unreachable, nothing and what went wrong."""
        found: dict[str, Backlog] = {}
        try:
            with self._ops.app.connection_for_read() as connection:
                connection.ensure_connection(max_retries=1)
                for name in names:
                    found[name] = _backlog(connection, name)
        except Exception as exc:
            return found, f"{type(exc).__name__}: {exc}"
        return found, None

    def known_queues(self) -> list[str]:
        """The app's default and declared queues, and those its workers consume."""
        conf = self._ops.app.conf
        names = {conf.task_default_queue, *(queue.name for queue in conf.task_queues or ())}
        for worker in self._ops.store.workers():
            if worker["status"] == "online" and worker["queues"]:
                names.update(json.loads(worker["queues"]))
        return sorted(names)

    def check_task(self, name: Any) -> None:
        if not isinstance(name, str) or not name:
            raise InvalidInput("task must be a task name")
        if name in self._ops.app.tasks:
            return
        if name not in self._ops.store.schedules.known_task_names():
            raise UnknownTask(
                f"unknown task {name!r}: not registered in this app nor seen on any worker"
            )

    def _settle(self) -> None:
        """Write what this process just sent, so that the operator who sent it can open it
        at once (the recorder otherwise writes within ops_flush_interval)."""
        self._ops.recorder.flush(timeout=SETTLE_TIMEOUT)

    def _execution(self, task_id: str) -> dict[str, Any]:
        row = self._ops.store.execution(task_id)
        if row is None:
            raise NotFound(f"no execution with task id {task_id!r}")
        return row


def _list(value: Any, name: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise InvalidInput(f"{name} must be a JSON list")
    return value


def _mapping(value: Any, name: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidInput(f"{name} must be a JSON object")
    return value


def _text(value: Any, name: str) -> str:
    if not isinstance(value, str) or not value or len(value) > 255:
        raise InvalidInput(f"{name} must be a name of 1 to 255 characters")
    return value


def _number(
    value: Any, name: str, minimum: float | None = None, maximum: float | None = None
) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInput(f"{name} must be a number")
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise InvalidInput(f"{name} must be between {minimum} and {maximum}")
    return float(value)


def _time(value: Any, name: str) -> datetime:
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise InvalidInput(f"{name} must be an ISO 8601 time") from None
    else:
        raise InvalidInput(f"{name} must be an ISO 8601 time")
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
