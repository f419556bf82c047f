"""Executions: read them, and dispatch, retry, cancel and purge them, one or many."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from celery_ops.core import lifecycle as states
from celery_ops.core.clock import as_utc
from celery_ops.core.errors import InvalidInput, NotFound
from celery_ops.core.filters import LIST_ORDERS, ExecutionFilter
from celery_ops.core.records import (
    Discard,
    Execution,
    FailureGroup,
    JobRecord,
    TimelineEntry,
)
from celery_ops.core.workflow import Workflow, build_workflow
from celery_ops.operations import bulk
from celery_ops.operations.actors import OPERATOR, VIEWER
from celery_ops.operations.errors import store_errors
from celery_ops.operations.jobs import Accepted, JobResult, Progress
from celery_ops.operations.requests import DispatchRequest, checked_identifier, parse
from celery_ops.operations.services import OperationGroup
from celery_ops.operations.tasks import check_task_known

#: Executions per page, at most.
MAX_PAGE = 500
#: Statuses of executions not ended yet.
#: The most executions of one workflow the execution page draws.
WORKFLOW_LIMIT = 200
UNDER_WAY = (states.PENDING, states.RECEIVED, states.STARTED, states.RETRY)


@dataclass(frozen=True)
class ExecutionPage:
    """One page of a listing, and the cursor of the next one (None: this was the last)."""

    items: list[Execution]
    next_cursor: int | None


@dataclass(frozen=True)
class Related:
    """The executions an execution links to."""

    children: list[Execution]
    group: list[Execution]
    retries: list[Execution]


@dataclass(frozen=True)
class Cancelled:
    task_id: str
    status_before: str | None
    terminated: bool


def checked_task_id(task_id: Any) -> str:
    """A task id as given in a path or a form."""
    return checked_identifier(task_id, "a task id")


class ExecutionOperations(OperationGroup):
    """Every operation on executions, for one actor."""

    # Reading (viewer)

    def get(self, task_id: str) -> Execution:
        self._require(VIEWER)
        checked_task_id(task_id)
        with store_errors():
            found = self._services.store.execution(task_id)
        if found is None:
            raise NotFound(f"no execution with task id {task_id!r}")
        return found

    def find(self, task_id: str) -> Execution | None:
        """The execution, or None (a task id typed in a search box)."""
        self._require(VIEWER)
        wanted = task_id.strip()
        if not wanted:
            return None
        checked_task_id(wanted)
        with store_errors():
            return self._services.store.execution(wanted)

    def timeline(self, task_id: str) -> list[TimelineEntry]:
        self._require(VIEWER)
        checked_task_id(task_id)
        with store_errors():
            return self._services.store.timeline(task_id)

    def page(
        self,
        where: ExecutionFilter,
        limit: int = 50,
        cursor: int | None = None,
        order: str = "newest",
    ) -> ExecutionPage:
        """Newest first, ``limit`` at a time; ``cursor`` is the last page's ``next_cursor``.
        By last change (``changed``) or slowest first (``slowest``): one page, sorted from
        the newest 10,000 matches."""
        self._require(VIEWER)
        limit = max(1, min(limit, MAX_PAGE))
        if order not in LIST_ORDERS:
            raise InvalidInput(f"order must be one of {', '.join(LIST_ORDERS)}, not {order!r}")
        with store_errors():
            if order != "newest":
                return ExecutionPage(
                    self._services.store.sorted_executions(where, order, limit), None
                )
            rows = self._services.store.executions(where, limit + 1, cursor)
        page, more = rows[:limit], len(rows) > limit
        return ExecutionPage(page, page[-1].id if more and page else None)

    def estimate(self, where: ExecutionFilter, exact_up_to: int = 1000) -> int | None:
        """How many match: exact up to ``exact_up_to``, beyond it the database's estimate
        (never a full count of a big table); None when the database gives none."""
        self._require(VIEWER)
        with store_errors():
            return self._services.store.estimate_executions(where, exact_up_to)

    def versions(self, task_ids: list[str]) -> list[tuple[Any, ...]]:
        """For a page that shows ``task_ids`` (500 at most): each one's status, status time
        and progress time, to tell whether any changed since it was drawn."""
        self._require(VIEWER)
        with store_errors():
            return self._services.store.execution_versions(task_ids[:MAX_PAGE])

    def newest_id(self, where: ExecutionFilter) -> int | None:
        """The row id of the newest match, to tell whether a list has new rows."""
        self._require(VIEWER)
        with store_errors():
            return self._services.store.newest_execution_id(where)

    def related(self, execution: Execution, limit: int = 50) -> Related:
        self._require(VIEWER)
        store = self._services.store
        with store_errors():
            children = store.executions(ExecutionFilter(parent_id=execution.task_id), limit)
            group = (
                store.executions(ExecutionFilter(group_id=execution.group_id), limit)
                if execution.group_id
                else []
            )
            retries = store.executions(ExecutionFilter(retried_from=execution.task_id), limit)
        # A task retrying itself keeps its id: it is not its own child.
        children = [row for row in children if row.task_id != execution.task_id]
        group = [row for row in group if row.task_id != execution.task_id]
        return Related(children, group, retries)

    def workflow(self, execution: Execution, limit: int = WORKFLOW_LIMIT) -> Workflow | None:
        """The chain, group or chord ``execution`` belongs to, as a tree; None for a task
        that is part of none (alone, with nothing it sent)."""
        self._require(VIEWER)
        root = execution.root_id or execution.task_id
        with store_errors():
            rows = self._services.store.workflow(root, execution.group_id, limit)
        if execution.task_id not in {row.task_id for row in rows}:
            # Its root was purged, or it is not where its root says: start from it instead.
            with store_errors():
                rows = self._services.store.workflow(execution.task_id, execution.group_id, limit)
        if len(rows) <= 1:
            return None
        return build_workflow(rows, limit)

    def under_way(self, cap: int) -> dict[str, int]:
        """PENDING, RECEIVED, STARTED and RETRY executions, whatever their age, each count
        stopping at ``cap``."""
        self._require(VIEWER)
        with store_errors():
            return self._services.store.count_by_status(UNDER_WAY, cap)

    def count(self, where: ExecutionFilter, cap: int = 10_000) -> int:
        """How many match, counting at most ``cap`` ("10000" reads "10,000 or more")."""
        self._require(VIEWER)
        with store_errors():
            return self._services.store.count_executions(where, cap)

    def failure_groups(
        self, since: datetime, limit: int = 200, sample: int = 20_000
    ) -> list[FailureGroup]:
        """Failures since ``since`` by task and exception type, over the latest ``sample``."""
        self._require(VIEWER)
        with store_errors():
            return self._services.store.failure_groups(since, limit, sample)

    # One execution (operator)

    def dispatch(self, request: Mapping[str, Any]) -> str:
        """Send a task: ``{task, args, kwargs, queue, countdown, eta, priority}``; the new id."""
        with self._operation("dispatch", {"task": request.get("task")}, OPERATOR) as audited:
            sent = parse(DispatchRequest, request)
            check_task_known(self._services, sent.task)
            options: dict[str, Any] = {}
            if sent.queue is not None:
                options["queue"] = sent.queue
            if sent.countdown is not None:
                options["countdown"] = sent.countdown
            if sent.eta is not None:
                options["eta"] = as_utc(sent.eta)
            if sent.priority is not None:
                options["priority"] = sent.priority
            task_id = self._services.broker.send(
                sent.task, sent.args or [], sent.kwargs or {}, str(uuid.uuid4()), options
            )
            audited.targets["created"] = task_id
            self._services.settle()
            return task_id

    def retry(self, task_id: str) -> str:
        """Send the task again as a new execution, with the exact arguments of its message;
        the new execution's task id (its ``retried_from`` names this one)."""
        with self._operation("retry", {"task_id": task_id}, OPERATOR) as audited:
            checked_task_id(task_id)
            with store_errors():
                execution = self._services.store.execution(task_id)
            if execution is None:
                raise NotFound(f"no execution with task id {task_id!r}")
            new_id = bulk.resend(self._services.broker, execution)
            audited.targets["created"] = new_id
            self._services.settle()
            return new_id

    def cancel(self, task_id: str, terminate: bool = False) -> Cancelled:
        """Revoke a task that has not started; terminate a running one only when asked."""
        action = "terminate" if terminate is True else "cancel"
        with self._operation(action, {"task_id": task_id}, OPERATOR):
            if not isinstance(terminate, bool):
                raise InvalidInput("terminate must be true or false")
            checked_task_id(task_id)
            with store_errors():
                execution = self._services.store.execution(task_id)
            if execution is None:
                raise NotFound(f"no execution with task id {task_id!r}")
            terminates = bool(bulk.check_cancellable(execution, terminate))
            self._services.broker.revoke([task_id], terminate=terminates)
            return Cancelled(task_id, execution.status, terminates)

    # Many executions (operator), in the background

    def retry_many(self, selection: Mapping[str, Any]) -> Accepted:
        """Retry ``{"task_ids": [...]}`` or ``{"filter": {...}}`` (a listing's filter)."""
        services = self._services
        return self._start(
            "retry-many",
            selection,
            lambda where, progress: bulk.retry_work(services, where, progress),
        )

    def cancel_many(self, selection: Mapping[str, Any], terminate: bool = False) -> Accepted:
        """Revoke a selection or a filter's matches; terminate the running ones if asked."""
        services = self._services

        def check() -> None:
            if not isinstance(terminate, bool):
                raise InvalidInput("terminate must be true or false")

        return self._start(
            "terminate-many" if terminate is True else "cancel-many",
            selection,
            lambda where, progress: bulk.cancel_work(services, where, terminate, progress),
            check,
        )

    def discard_many(self, selection: Mapping[str, Any]) -> Accepted:
        """Take ``{"task_ids": [...]}`` or ``{"filter": {...}}`` out of the dead set (the
        final failures nobody retried): their records stay, marked discarded."""
        services, by = self._services, self.actor.name
        return self._start(
            "discard-many",
            selection,
            lambda where, progress: bulk.discard_work(services, where, by, progress),
        )

    def discarded(self, task_id: str) -> Discard | None:
        """Whether (when, by whom) an execution was discarded from the dead set."""
        self._require(VIEWER)
        checked_task_id(task_id)
        with store_errors():
            return self._services.store.discarded(task_id)

    def purge(self, selection: Mapping[str, Any]) -> Accepted:
        """Delete the records (and timelines) of a selection, of what a filter matches, or of
        executions ``{"older_than": "7d", "status": [...]}``."""
        services = self._services
        return self._start(
            "purge", selection, lambda where, progress: bulk.purge_work(services, where, progress)
        )

    def _start(
        self,
        action: str,
        selection: Mapping[str, Any],
        work: Callable[[ExecutionFilter, Progress], JobResult],
        check: Callable[[], None] | None = None,
    ) -> Accepted:
        with self._operation(action, {}, OPERATOR) as audited:
            if check is not None:
                check()
            by_age = action == "purge"
            where = bulk.selection_filter(selection, self._services.clock.now(), by_age)
            audited.targets.update(bulk.described(where))
            if action == "purge":
                bulk.check_purge(where)
            accepted = self._services.jobs.start(
                self.actor, action, audited.targets, functools.partial(work, where)
            )
            audited.handed_over()  # the job wrote the row, and completes it when it ends
            return accepted

    def job(self, job_id: str) -> JobRecord:
        """A background job's record: status, progress, result."""
        self._require(VIEWER)
        return self._services.jobs.get(job_id)
