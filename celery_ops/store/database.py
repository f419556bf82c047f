"""`Store`: the one entry point to the celery-ops database, safe to share across a fork."""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import Engine, and_
from sqlalchemy.engine import make_url

from celery_ops.lifecycle import ExecutionPatch
from celery_ops.store import maintenance, queries, schema, writes
from celery_ops.store.accounts import AccountStore
from celery_ops.store.engine import create_store_engine
from celery_ops.store.maintenance import ReapResult
from celery_ops.store.models import executions
from celery_ops.store.schedules import ScheduleStore


@dataclass(slots=True)
class WorkerState:
    hostname: str
    at: datetime
    online: bool
    values: dict[str, Any]
    just_started: bool = False


@dataclass(slots=True)
class RecordBatch:
    """Everything one flush writes, in one transaction."""

    executions: list[ExecutionPatch] = field(default_factory=list)
    timeline: list[dict[str, Any]] = field(default_factory=list)
    workers: list[WorkerState] = field(default_factory=list)
    definitions: list[tuple[str, datetime, list[dict[str, Any]]]] = field(default_factory=list)
    dropped_on: str | None = None
    dropped: int = 0


class Store:
    """Owns the engine of one database URL; every read and write of celery-ops goes here."""

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
            with self._lock:
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
        """Dashboard users and the audit log."""
        return AccountStore(self.engine)

    def dispose(self) -> None:
        if self._engine is not None:
            self._engine.dispose()

    # Schema

    def ensure_schema(self, create: bool = True) -> None:
        schema.ensure_schema(self.engine, create)

    def upgrade(self, revision: str = "head") -> None:
        schema.upgrade(self.engine, revision)

    def current_revision(self) -> str | None:
        with self.engine.connect() as connection:
            return schema.current_revision(connection)

    # Recorder

    def write(self, batch: RecordBatch) -> None:
        with self.engine.begin() as connection:
            for worker in batch.workers:
                writes.upsert_worker(
                    connection, worker.hostname, worker.at, worker.online, worker.values
                )
                if worker.just_started:
                    writes.close_previous_run(connection, worker.hostname, worker.at)
            writes.upsert_executions(connection, batch.executions)
            writes.index_search(connection, batch.executions)
            writes.append_timeline(connection, batch.timeline)
            for hostname, at, reported in batch.definitions:
                writes.upsert_definitions(connection, hostname, at, reported)
            if batch.dropped and batch.dropped_on:
                writes.add_dropped_events(connection, batch.dropped_on, batch.dropped)

    def reap_lost_work(self, worker_timeout: float, now: datetime | None = None) -> ReapResult:
        with self.engine.begin() as connection:
            return maintenance.reap_lost_work(connection, now or _utcnow(), worker_timeout)

    # Reads

    def execution(self, task_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as connection:
            return queries.get_execution(connection, task_id)

    def executions(
        self, where: queries.ExecutionFilter, limit: int = 50, before_id: int | None = None
    ) -> list[dict[str, Any]]:
        with self.engine.connect() as connection:
            return queries.list_executions(connection, where, limit, before_id)

    def count_executions(self, where: queries.ExecutionFilter, cap: int = 10_000) -> int:
        with self.engine.connect() as connection:
            return queries.count_executions_capped(connection, where, cap)

    def failure_groups(
        self, since: datetime, limit: int = 100, sample: int = 50_000
    ) -> list[dict[str, Any]]:
        with self.engine.connect() as connection:
            return queries.failure_groups(connection, since, limit, sample)

    def recent_counts(
        self, since: datetime, statuses: tuple[str, ...], sample: int = 50_000
    ) -> dict[str, dict[str, int]]:
        with self.engine.connect() as connection:
            return queries.recent_counts(connection, since, statuses, sample)

    def definitions(self) -> list[dict[str, Any]]:
        with self.engine.connect() as connection:
            return queries.list_definitions(connection)

    def timeline(self, task_id: str) -> list[dict[str, Any]]:
        with self.engine.connect() as connection:
            return queries.get_timeline(connection, task_id)

    def worker(self, hostname: str) -> dict[str, Any] | None:
        with self.engine.connect() as connection:
            return queries.get_worker(connection, hostname)

    def workers(self) -> list[dict[str, Any]]:
        with self.engine.connect() as connection:
            return queries.list_workers(connection)

    # Maintenance

    def count_older_than(self, age_seconds: float, statuses: Sequence[str] | None) -> int:
        condition = maintenance.purge_condition(_cutoff(age_seconds), statuses)
        return maintenance.count_executions(self.engine, condition)

    def purge_matching(
        self,
        where: queries.ExecutionFilter | None = None,
        task_ids: Sequence[str] | None = None,
        chunk_size: int = 1000,
    ) -> int:
        """Delete the executions matching ``where`` (or with these ids), with timelines."""
        condition = queries.filter_condition(
            where or queries.ExecutionFilter(), self.engine.dialect.name
        )
        if task_ids is not None:
            condition = and_(condition, executions.c.task_id.in_(list(task_ids)))
        return maintenance.purge_executions(self.engine, condition, chunk_size, None)

    def purge_older_than(
        self,
        age_seconds: float,
        statuses: Sequence[str] | None,
        chunk_size: int = 1000,
        on_chunk: Callable[[int], None] | None = None,
    ) -> int:
        condition = maintenance.purge_condition(_cutoff(age_seconds), statuses)
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


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


def _cutoff(age_seconds: float) -> datetime:
    return _utcnow() - timedelta(seconds=age_seconds)
