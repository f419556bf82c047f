"""`Store`: the one entry point to the celery-ops database, safe to share across a fork."""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from celery_ops.core.filters import ExecutionFilter
from celery_ops.core.records import (
    AuditEntry,
    Discard,
    Execution,
    FailureGroup,
    TaskDefinition,
    TimelineEntry,
    WorkerRecord,
)
from celery_ops.store import maintenance, queries, schema, writes
from celery_ops.store.accounts import AccountStore
from celery_ops.store.alerts import AlertStore
from celery_ops.store.audit import AuditStore, insert_entry
from celery_ops.store.batches import RecordBatch
from celery_ops.store.engine import create_store_engine
from celery_ops.store.errors import translated
from celery_ops.store.exports import ExportStore
from celery_ops.store.jobs import JobStore
from celery_ops.store.limits import LimitStore
from celery_ops.store.maintenance import ReapResult
from celery_ops.store.queues import QueueStore
from celery_ops.store.relay import RelayStore
from celery_ops.store.rollups import MetricsStore
from celery_ops.store.schedules import ScheduleStore
from celery_ops.store.task_batches import TaskBatchStore
from celery_ops.store.throttle import ThrottleStore
from celery_ops.store.unique import UniqueStore


class Store:
    """Owns the engine of one database URL; every read and write of celery-ops goes here.

    Every method raises :class:`~celery_ops.store.errors.StoreError` subclasses only.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self._engine: Engine | None = None
        self._lock = threading.Lock()
        # A pooled connection must never be used by two processes: after a fork the child
        # forgets the parent's connections without closing them (the parent still owns them).
        ref = weakref.ref(self)
        os.register_at_fork(after_in_child=lambda: _after_fork(ref))

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            with self._lock, translated():
                if self._engine is None:
                    self._engine = create_store_engine(self.url)
        return self._engine

    @property
    def safe_url(self) -> str:
        """The URL without its password, for messages and logs."""
        return redact_url(self.url)

    @property
    def schedules(self) -> ScheduleStore:
        """The schedules and their runs (beat and the schedule write path)."""
        return ScheduleStore(self.engine)

    @property
    def accounts(self) -> AccountStore:
        """Dashboard users."""
        return AccountStore(self.engine)

    @property
    def audit(self) -> AuditStore:
        """The audit log."""
        return AuditStore(self.engine)

    @property
    def throttle(self) -> ThrottleStore:
        """Wrong passwords counted, for sign-in throttling."""
        return ThrottleStore(self.engine)

    @property
    def relay(self) -> RelayStore:
        """Relayed batches written once, and cluster-wide leases."""
        return RelayStore(self.engine)

    @property
    def queues(self) -> QueueStore:
        """Paused queues, and what the executions say of each queue."""
        return QueueStore(self.engine)

    @property
    def alerts(self) -> AlertStore:
        """Alerts raised by the rules of ops_alerts, and their delivery."""
        return AlertStore(self.engine)

    @property
    def metrics(self) -> MetricsStore:
        """The rollups: counts and histograms per minute, hour and day."""
        return MetricsStore(self.engine)

    @property
    def jobs(self) -> JobStore:
        """Background jobs and their progress."""
        return JobStore(self.engine)

    @property
    def limits(self) -> LimitStore:
        """Cluster-wide limits of task types, and their admissions."""
        return LimitStore(self.engine)

    @property
    def task_batches(self) -> TaskBatchStore:
        """Batches of tasks (celery_ops.batch) and the claims of their callbacks."""
        return TaskBatchStore(self.engine)

    @property
    def unique(self) -> UniqueStore:
        """The keys of unique tasks and who holds them."""
        return UniqueStore(self.engine)

    @property
    def exports(self) -> ExportStore:
        """The files of exports, kept for their download."""
        return ExportStore(self.engine)

    def dispose(self) -> None:
        if self._engine is not None:
            self._engine.dispose()

    # Schema

    def ensure_schema(self, create: bool = True) -> None:
        with translated():
            schema.ensure_schema(self.engine, create)

    def upgrade(self, revision: str = "head") -> None:
        """Migrate to ``revision``; :class:`SchemaError` names a revision that does not exist."""
        with translated():
            schema.upgrade(self.engine, revision)

    def current_revision(self) -> str | None:
        with translated(), self.engine.connect() as connection:
            return schema.current_revision(connection)

    # Recorder

    def write(self, batch: RecordBatch) -> None:
        with translated(), self.engine.begin() as connection:
            writes.write_batch(connection, batch)

    def reap_lost_work(
        self,
        worker_timeout: float,
        now: datetime,
        audit: Callable[[ReapResult], AuditEntry] | None = None,
    ) -> ReapResult:
        with translated(), self.engine.begin() as connection:
            return maintenance.reap_lost_work(connection, now, worker_timeout, audit)

    # Reads

    def execution(self, task_id: str) -> Execution | None:
        with translated(), self.engine.connect() as connection:
            return queries.get_execution(connection, task_id)

    def executions(
        self, where: ExecutionFilter, limit: int = 50, before_id: int | None = None
    ) -> list[Execution]:
        """Newest first, ``limit`` at a time below row id ``before_id`` (keyset paging)."""
        with translated(), self.engine.connect() as connection:
            return queries.list_executions(connection, where, limit, before_id)

    def sorted_executions(
        self, where: ExecutionFilter, order: str, limit: int = 50
    ) -> list[Execution]:
        """One page of the newest matches in ``order`` (queries.LIST_ORDERS)."""
        with translated(), self.engine.connect() as connection:
            return queries.list_executions(connection, where, limit, None, order)

    def execution_versions(
        self, task_ids: list[str]
    ) -> list[tuple[str, str | None, datetime | None, datetime | None]]:
        """Task id, status, status time and progress time of each of ``task_ids`` found."""
        with translated(), self.engine.connect() as connection:
            return queries.execution_versions(connection, task_ids)

    def newest_execution_id(self, where: ExecutionFilter) -> int | None:
        with translated(), self.engine.connect() as connection:
            return queries.newest_id(connection, where)

    def estimate_executions(self, where: ExecutionFilter, exact_up_to: int) -> int | None:
        """Exact up to ``exact_up_to``, else the planner's estimate; None: no estimate."""
        with translated(), self.engine.connect() as connection:
            return queries.estimate_executions(connection, where, exact_up_to)

    def count_executions(self, where: ExecutionFilter, cap: int | None = 10_000) -> int:
        """How many executions match, counting at most ``cap`` (None: all of them)."""
        with translated(), self.engine.connect() as connection:
            return queries.count_executions(connection, where, cap)

    def count_by_status(self, statuses: tuple[str, ...], cap: int) -> dict[str, int]:
        """Executions of each status, whatever their age, each count stopping at ``cap``."""
        with translated(), self.engine.connect() as connection:
            return queries.count_by_status(connection, statuses, cap)

    def longest_running(self, limit: int = 500) -> list[Execution]:
        """The executions STARTED longest ago, ``limit`` at most."""
        with translated(), self.engine.connect() as connection:
            return queries.longest_running(connection, limit)

    def failure_groups(
        self, since: datetime, limit: int = 100, sample: int = 50_000
    ) -> list[FailureGroup]:
        with translated(), self.engine.connect() as connection:
            return queries.failure_groups(connection, since, limit, sample)

    def recent_counts(
        self, since: datetime, statuses: tuple[str, ...], sample: int = 50_000
    ) -> dict[str, dict[str, int]]:
        with translated(), self.engine.connect() as connection:
            return queries.recent_counts(connection, since, statuses, sample)

    def definitions(self) -> list[TaskDefinition]:
        with translated(), self.engine.connect() as connection:
            return queries.list_definitions(connection)

    def known_task_names(self) -> set[str]:
        """Task names some worker has registered (``celery_ops_definitions``)."""
        with translated(), self.engine.connect() as connection:
            return queries.known_task_names(connection)

    def workflow(
        self, root_task_id: str, group_id: str | None = None, limit: int = 200
    ) -> list[Execution]:
        """The executions of the workflow rooted at ``root_task_id`` (with the members of
        ``group_id``), at most ``limit``."""
        with translated(), self.engine.connect() as connection:
            return queries.get_workflow(connection, root_task_id, group_id, limit)

    def timeline(self, task_id: str) -> list[TimelineEntry]:
        with translated(), self.engine.connect() as connection:
            return queries.get_timeline(connection, task_id)

    def worker(self, hostname: str) -> WorkerRecord | None:
        with translated(), self.engine.connect() as connection:
            return queries.get_worker(connection, hostname)

    def workers(self) -> list[WorkerRecord]:
        with translated(), self.engine.connect() as connection:
            return queries.list_workers(connection)

    def forget_worker(self, hostname: str, entry: AuditEntry) -> bool:
        """Delete an offline worker's row, with its audit row; whether there was one (an
        online worker's row stays: its next heartbeat would write it again)."""
        with translated(), self.engine.begin() as connection:
            forgotten = writes.delete_offline_worker(connection, hostname)
            insert_entry(connection, entry)
            return forgotten

    # The dead set

    def discard(self, task_ids: list[str], at: datetime, by: str) -> int:
        """Mark these final failures discarded (their records stay); how many were not yet."""
        with translated(), self.engine.begin() as connection:
            return maintenance.discard(connection, task_ids, at, by)

    def discarded(self, task_id: str) -> Discard | None:
        """When and by whom ``task_id`` was discarded from the dead set, if it was."""
        with translated(), self.engine.connect() as connection:
            return queries.get_discard(connection, task_id)

    # Maintenance

    def purge(
        self,
        where: ExecutionFilter,
        chunk_size: int = 1000,
        on_chunk: Callable[[int], None] | None = None,
    ) -> int:
        """Delete the executions matching ``where``, with their timelines, ``chunk_size``
        per transaction; ``on_chunk`` hears of each chunk deleted."""
        with translated():
            condition = queries.filter_condition(where, self.engine.dialect.name)
        return maintenance.purge_executions(self.engine, condition, chunk_size, on_chunk)


def redact_url(url: str) -> str:
    """``url`` without its password; the part after any ``@`` if it does not parse."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url.split("@")[-1]


def _after_fork(ref: weakref.ref[Store]) -> None:
    store = ref()
    if store is not None:
        store._lock = threading.Lock()
        if store._engine is not None:
            store._engine.dispose(close=False)
