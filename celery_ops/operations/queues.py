"""Queues, workers and registered tasks, as the broker and the store see them (reads)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from celery_ops.core import lifecycle as states
from celery_ops.core.errors import NotFound
from celery_ops.core.filters import ExecutionFilter
from celery_ops.core.records import TaskDefinition, WorkerRecord
from celery_ops.operations.actors import VIEWER
from celery_ops.operations.broker import Backlog
from celery_ops.operations.errors import store_errors
from celery_ops.operations.services import OperationGroup

#: Counts in statistics stop at this many: "10000" reads "10,000 or more".
STATS_CAP = 10_000


@dataclass(frozen=True)
class Backlogs:
    """Each queue's backlog in the broker, and what went wrong reading it, if anything."""

    queues: dict[str, Backlog]
    broker_error: str | None


class QueueOperations(OperationGroup):
    def known(self) -> list[str]:
        """The app's default and declared queues, and those its online workers consume."""
        self._require(VIEWER)
        names = self._services.broker.configured_queues()
        with store_errors():
            for worker in self._services.store.workers():
                if worker.online:
                    names.update(worker.queues)
        return sorted(names)

    def backlogs(self, names: Sequence[str] | None = None) -> Backlogs:
        self._require(VIEWER)
        found, error = self._services.broker.backlogs(self.known() if names is None else names)
        return Backlogs(found, error)

    def stats(self, name: str) -> dict[str, Any]:
        """The broker's backlog of a queue and what the store knows of its executions."""
        self._require(VIEWER)
        backlogs = self.backlogs([name])
        backlog = backlogs.queues.get(name)
        # With the broker unreachable the queue may well exist: only the store can say no.
        in_broker = backlog.in_broker if backlog is not None else True
        with store_errors():
            counts = {
                status: self._services.store.count_executions(
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
            "broker_error": backlogs.broker_error,
            "executions_by_status": counts,
            "counts_capped_at": STATS_CAP,
        }


class WorkerOperations(OperationGroup):
    def list(self) -> list[WorkerRecord]:
        """Every worker the store knows, online ones first."""
        self._require(VIEWER)
        with store_errors():
            return self._services.store.workers()


class TaskOperations(OperationGroup):
    def definitions(self) -> list[TaskDefinition]:
        """Every task registered on a worker, with its defaults."""
        self._require(VIEWER)
        with store_errors():
            return self._services.store.definitions()

    def recent_counts(
        self, since: datetime, statuses: tuple[str, ...], sample: int
    ) -> dict[str, dict[str, int]]:
        """Task name -> status -> count over the latest ``sample`` of each status."""
        self._require(VIEWER)
        with store_errors():
            return self._services.store.recent_counts(since, statuses, sample)
