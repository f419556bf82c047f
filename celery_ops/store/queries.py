"""Reads of single executions and their timelines."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select

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
