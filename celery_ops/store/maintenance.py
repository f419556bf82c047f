"""Keeping the store true and small: the lost-work reaper, purge and retention."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, Connection, Engine, and_, delete, insert, or_, select, update

from celery_ops.core.records import AuditEntry
from celery_ops.store.audit import insert_entry
from celery_ops.store.errors import translated
from celery_ops.store.models import (
    discarded,
    execution_events,
    executions,
    search_text,
    workers,
)
from celery_ops.store.writes import mark_lost


@dataclass(frozen=True)
class ReapResult:
    workers_offline: int
    executions_lost: int

    @property
    def changed(self) -> bool:
        return bool(self.workers_offline or self.executions_lost)


def reap_lost_work(
    connection: Connection,
    now: datetime,
    worker_timeout: float,
    audit: Callable[[ReapResult], AuditEntry] | None = None,
) -> ReapResult:
    """Workers silent for ``worker_timeout`` go offline; what they held becomes LOST.

    That is work they had STARTED, and work they had RECEIVED but not started (a message
    that comes back is a redelivery, which outranks LOST and revives the row). When anything
    changed, ``audit`` gives the entry written in the same transaction.

    Both statements are idempotent single UPDATEs, so any number of processes may run the
    reaper at the same time.
    """
    cutoff = now - timedelta(seconds=worker_timeout)
    offline = connection.execute(
        update(workers)
        .where(workers.c.status == "online", workers.c.last_heartbeat < cutoff)
        .values(status="offline", stopped_at=now)
    ).rowcount
    dead_hosts = select(workers.c.hostname).where(
        or_(workers.c.status == "offline", workers.c.last_heartbeat < cutoff)
    )
    # Only rows older than the cutoff: anything newer came from a newer run of that worker.
    lost = mark_lost(
        connection,
        and_(
            executions.c.worker_id.in_(dead_hosts.scalar_subquery()),
            executions.c.status_at < cutoff,
        ),
        now,
        f"the worker stopped sending heartbeats for {worker_timeout:g}s while the task ran",
    )
    result = ReapResult(workers_offline=int(offline or 0), executions_lost=lost)
    if audit is not None and result.changed:
        insert_entry(connection, audit(result))
    return result


def purge_executions(
    engine: Engine,
    condition: ColumnElement[bool],
    chunk_size: int,
    on_chunk: Callable[[int], None] | None = None,
) -> int:
    """Delete matching executions and their timelines, ``chunk_size`` rows per transaction.

    Short transactions keep each lock brief, so workers keep recording during a long purge.
    """
    deleted = 0
    while True:
        with translated(), engine.begin() as connection:
            chunk = connection.execute(
                select(executions.c.id, executions.c.task_id)
                .where(condition)
                .order_by(executions.c.id)
                .limit(chunk_size)
            ).all()
            if not chunk:
                return deleted
            task_ids = [row.task_id for row in chunk]
            connection.execute(
                delete(execution_events).where(execution_events.c.task_id.in_(task_ids))
            )
            connection.execute(delete(search_text).where(search_text.c.task_id.in_(task_ids)))
            connection.execute(delete(discarded).where(discarded.c.task_id.in_(task_ids)))
            connection.execute(delete(executions).where(executions.c.id.in_([r.id for r in chunk])))
        deleted += len(chunk)
        if on_chunk is not None:
            on_chunk(len(chunk))


def discard(connection: Connection, task_ids: list[str], at: datetime, by: str) -> int:
    """Discard from the dead set those of ``task_ids`` not discarded yet; how many."""
    wanted = list(dict.fromkeys(task_ids))
    if not wanted:
        return 0
    already: set[str] = set(
        connection.execute(
            select(discarded.c.task_id).where(discarded.c.task_id.in_(wanted))
        ).scalars()
    )
    rows = [
        {"task_id": task_id, "discarded_at": at, "discarded_by": by[:255]}
        for task_id in wanted
        if task_id not in already
    ]
    if rows:
        connection.execute(insert(discarded), rows)
    return len(rows)
