"""Operations on many executions at once: retry, cancel and purge a selection (task ids) or
everything a filter matches. Each sends everything, writes the record of what it sent once
at the end, and counts what it did and what it refused.

They run as background jobs (:mod:`celery_ops.operations.jobs`); ``work`` functions here are
what the job's thread runs.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from celery_ops.core import lifecycle as states
from celery_ops.core.durations import parse_duration
from celery_ops.core.errors import Conflict, InvalidInput
from celery_ops.core.filters import ExecutionFilter
from celery_ops.core.records import Execution
from celery_ops.operations.broker import CeleryBroker
from celery_ops.operations.errors import store_errors
from celery_ops.operations.filters import parse_filter
from celery_ops.operations.jobs import JobResult, Progress
from celery_ops.operations.requests import Selection, parse
from celery_ops.operations.services import Services
from celery_ops.recording.headers import RETRIED_FROM_HEADER, TENANT_HEADER

#: Retry and cancel stop after this many executions (purge has no limit).
BULK_CAP = 100_000
#: Executions read per query, and task ids per IN list.
PAGE = 500


def selection_filter(
    values: Mapping[str, Any], now: datetime, by_age: bool = False
) -> ExecutionFilter:
    """``{"task_ids": [...]}``, ``{"filter": {...}}`` or, where ``by_age`` allows it,
    ``{"older_than": "7d", "status": [...]}``, as the filter it stands for."""
    selection = parse(Selection, values)
    given = [
        key for key in ("task_ids", "filter", "older_than") if getattr(selection, key) is not None
    ]
    if len(given) != 1 or (given == ["older_than"] and not by_age):
        ways = '"task_ids" (a list) or "filter" (an object)'
        raise InvalidInput(f"give one of {ways}" + (' or "older_than"' if by_age else ""))
    if selection.status is not None and given != ["older_than"]:
        raise InvalidInput('"status" goes with "older_than"; in a filter, put it in "filter"')
    if selection.task_ids is not None:
        if not selection.task_ids:
            raise InvalidInput("task_ids is empty: select at least one execution")
        return ExecutionFilter(task_ids=tuple(dict.fromkeys(selection.task_ids)))
    if selection.filter is not None:
        return parse_filter(selection.filter)
    try:
        age = parse_duration(selection.older_than or "", numbers_are_seconds=False)
    except ValueError as exc:
        raise InvalidInput(f"older_than: {exc}") from None
    statuses = parse_filter({"status": selection.status or []}).statuses
    return ExecutionFilter(statuses=statuses, until=now - timedelta(seconds=age))


def described(where: ExecutionFilter) -> dict[str, Any]:
    """A selection for the audit log: the filter, or how many ids and the first of them."""
    if where.task_ids is not None:
        return {"task_ids": list(where.task_ids[:50]), "selected": len(where.task_ids)}
    return {"filter": where.described()}


def matching(services: Services, where: ExecutionFilter, cap: int | None) -> Iterator[Execution]:
    """The executions ``where`` matches, newest first, at most ``cap``; selected ids that
    have no execution come out as a refusal by :func:`missing_ids`."""
    seen = 0
    if where.task_ids is not None:
        ids = where.task_ids
        for start in range(0, len(ids), PAGE):
            chunk = replace(where, task_ids=ids[start : start + PAGE])
            with store_errors():
                rows = services.store.executions(chunk, PAGE)
            for row in rows:
                if cap is not None and seen >= cap:
                    return
                seen += 1
                yield row
        return
    before: int | None = None
    while cap is None or seen < cap:
        size = PAGE if cap is None else min(PAGE, cap - seen)
        with store_errors():
            rows = services.store.executions(where, size, before)
        if not rows:
            return
        for row in rows:
            yield row
        seen += len(rows)
        before = rows[-1].id


def count(services: Services, where: ExecutionFilter, cap: int | None) -> int:
    if where.task_ids is not None:
        return len(where.task_ids)
    with store_errors():
        return services.store.count_executions(where, cap)


# Retry


def resend(broker: CeleryBroker, execution: Execution, producer: Any = None) -> str:
    """Send ``execution``'s task again as a new execution, with the exact arguments, queue,
    priority and tenant of its message; the new task id."""
    if not execution.task_name:
        raise Conflict(
            f"execution {execution.task_id} has no task name recorded: it cannot be re-sent"
        )
    if not execution.can_be_resent:
        raise Conflict(
            f"the original arguments of {execution.task_id} were not kept (too large, not "
            "JSON, recorded only from the worker side, or ops_store_message_args is off): it "
            "cannot be re-sent exactly"
        )
    assert execution.message_args is not None and execution.message_kwargs is not None
    headers = {RETRIED_FROM_HEADER: execution.task_id}
    if execution.tenant_id:
        headers[TENANT_HEADER] = execution.tenant_id
    options: dict[str, Any] = {"headers": headers}
    if execution.queue:
        options["queue"] = execution.queue
    if execution.priority is not None:
        options["priority"] = execution.priority
    new_id = str(uuid.uuid4())
    args = json.loads(execution.message_args)
    kwargs = json.loads(execution.message_kwargs)
    return broker.send(execution.task_name, args, kwargs, new_id, options, producer)


def retry_work(services: Services, where: ExecutionFilter, progress: Progress) -> JobResult:
    result = JobResult("retried", matched=count(services, where, BULK_CAP + 1))
    progress.expect(min(result.matched or 0, BULK_CAP))
    found: set[str] = set()
    try:
        with services.broker.producer() as producer:
            for execution in matching(services, where, BULK_CAP):
                found.add(execution.task_id)
                try:
                    resend(services.broker, execution, producer)
                except Conflict as exc:
                    result.refuse(str(exc))
                else:
                    result.done += 1
                progress.advance()
    finally:
        services.settle()  # one write of everything sent, not one per task
    _refuse_missing(result, where, found)
    _cap(result)
    return result


# Discard (the dead set)


def discard_work(
    services: Services, where: ExecutionFilter, by: str, progress: Progress
) -> JobResult:
    """Take a selection out of the dead set; what is not in it (not a final failure, or
    retried, or discarded already) is refused with why."""
    dead = replace(where, dead=True)
    result = JobResult("discarded", matched=count(services, dead, BULK_CAP + 1))
    progress.expect(min(result.matched or 0, BULK_CAP))
    found: set[str] = set()
    chunk: list[str] = []

    def write() -> None:
        with store_errors():
            result.done += services.store.discard(chunk, services.clock.now(), by)
        progress.advance(len(chunk))
        chunk.clear()

    for execution in matching(services, dead, BULK_CAP):
        found.add(execution.task_id)
        chunk.append(execution.task_id)
        if len(chunk) >= PAGE:
            write()
    if chunk:
        write()
    for task_id in where.task_ids or ():
        if task_id not in found:
            result.refuse(
                f"{task_id} is not in the dead set (not a final failure, retried, or discarded)"
            )
    _cap(result)
    return result


# Cancel


def cancel_work(
    services: Services, where: ExecutionFilter, terminate: bool, progress: Progress
) -> JobResult:
    result = JobResult("cancelled", matched=count(services, where, BULK_CAP + 1))
    progress.expect(min(result.matched or 0, BULK_CAP))
    found: set[str] = set()
    revoke: list[str] = []
    running = 0
    for execution in matching(services, where, BULK_CAP):
        found.add(execution.task_id)
        try:
            running += check_cancellable(execution, terminate)
        except Conflict as exc:
            result.refuse(str(exc))
        else:
            revoke.append(execution.task_id)
        if len(revoke) >= PAGE:
            services.broker.revoke(revoke, terminate=terminate)
            result.done += len(revoke)
            progress.advance(len(revoke))
            revoke = []
    if revoke:
        services.broker.revoke(revoke, terminate=terminate)
        result.done += len(revoke)
        progress.advance(len(revoke))
    if terminate:
        result.extra["terminated"] = running
    _refuse_missing(result, where, found)
    _cap(result)
    return result


def check_cancellable(execution: Execution, terminate: bool) -> int:
    """1 if cancelling ``execution`` terminates it, 0 if it has not started; Conflict when
    it cannot be cancelled."""
    status = execution.status
    if status in states.TERMINAL_STATUSES:
        raise Conflict(f"execution {execution.task_id} already ended ({status}): nothing to cancel")
    if status == states.STARTED:
        if not terminate:
            raise Conflict(
                f"execution {execution.task_id} is running: cancelling it means terminating "
                "its process; ask again with terminate to do that"
            )
        return 1
    return 0


# Purge


def check_purge(where: ExecutionFilter) -> None:
    """Refuse a purge of everything: a forgotten (or misspelt) condition must not empty the
    store."""
    if where.is_empty:
        raise InvalidInput(
            "a purge needs at least one condition (a status, a task, a time range...); "
            "to delete old records give older_than"
        )


def purge_work(services: Services, where: ExecutionFilter, progress: Progress) -> JobResult:
    check_purge(where)
    result = JobResult("deleted")
    progress.expect(count(services, where, None))
    if where.task_ids is not None:
        ids = where.task_ids
        for start in range(0, len(ids), PAGE):
            chunk = replace(where, task_ids=ids[start : start + PAGE])
            with store_errors():
                result.done += services.store.purge(chunk, PAGE, progress.advance)
        return result
    with store_errors():
        result.done = services.store.purge(where, 1000, progress.advance)
    return result


def _refuse_missing(result: JobResult, where: ExecutionFilter, found: set[str]) -> None:
    for task_id in where.task_ids or ():
        if task_id not in found:
            result.refuse(f"no execution with task id {task_id!r}")


def _cap(result: JobResult) -> None:
    if result.matched is not None and result.matched > BULK_CAP:
        result.extra["capped_at"] = BULK_CAP
        result.matched = BULK_CAP
