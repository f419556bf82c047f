"""Reads of executions, their timelines and workers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Select, func, select

from celery_ops.store.models import execution_events, executions, workers


def get_execution(connection: Connection, task_id: str) -> dict[str, Any] | None:
    row = connection.execute(select(executions).where(executions.c.task_id == task_id)).first()
    return dict(row._mapping) if row is not None else None


def get_timeline(connection: Connection, task_id: str) -> list[dict[str, Any]]:
    rows = connection.execute(
        select(execution_events)
        .where(execution_events.c.task_id == task_id)
        .order_by(execution_events.c.at, execution_events.c.id)
    )
    return [dict(row._mapping) for row in rows]


def get_worker(connection: Connection, hostname: str) -> dict[str, Any] | None:
    row = connection.execute(select(workers).where(workers.c.hostname == hostname)).first()
    return dict(row._mapping) if row is not None else None


@dataclass(frozen=True)
class ExecutionFilter:
    """What a listing of executions is narrowed to; None means any."""

    statuses: tuple[str, ...] = ()
    task_name: str | None = None
    queue: str | None = None
    worker_id: str | None = None
    schedule_name: str | None = None
    tenant_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def count_executions_capped(connection: Connection, where: ExecutionFilter, cap: int) -> int:
    """How many executions match, counting at most ``cap`` (a bounded scan, never a full
    COUNT(*) of a big table): ``cap`` means "that many or more"."""
    inner = _filtered(select(executions.c.id), where).limit(cap).subquery()
    return int(connection.execute(select(func.count()).select_from(inner)).scalar_one())


def list_executions(
    connection: Connection, where: ExecutionFilter, limit: int, before_id: int | None
) -> list[dict[str, Any]]:
    """Newest first (by row id, the order the store first heard of each task), ``limit`` at a
    time below ``before_id``: keyset paging, never OFFSET or COUNT(*)."""
    query = _filtered(select(executions), where).order_by(executions.c.id.desc()).limit(limit)
    if before_id is not None:
        query = query.where(executions.c.id < before_id)
    return [dict(row._mapping) for row in connection.execute(query)]


def _filtered(query: Select[Any], where: ExecutionFilter) -> Select[Any]:
    column = executions.c
    if where.statuses:
        query = query.where(column.status.in_(list(where.statuses)))
    for value, target in (
        (where.task_name, column.task_name),
        (where.queue, column.queue),
        (where.worker_id, column.worker_id),
        (where.schedule_name, column.schedule_name),
        (where.tenant_id, column.tenant_id),
    ):
        if value is not None:
            query = query.where(target == value)
    if where.since is not None:
        query = query.where(column.status_at >= where.since)
    if where.until is not None:
        query = query.where(column.status_at < where.until)
    return query
