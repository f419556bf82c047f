"""Batches of tasks: their rows, their members' counts, and the claim of each callback."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Engine, func, select, update

from celery_ops.core.records import BatchRecord
from celery_ops.store.errors import NotFound, translated
from celery_ops.store.models import executions, task_batches

#: The column each callback's claim sets.
SENT_AT = {
    "success": task_batches.c.success_sent_at,
    "failure": task_batches.c.failure_sent_at,
    "finish": task_batches.c.finish_sent_at,
}


class TaskBatchStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def create(self, row: dict[str, Any]) -> None:
        with translated(), self.engine.begin() as connection:
            connection.execute(task_batches.insert(), row)

    def get(self, batch_id: str) -> BatchRecord | None:
        with translated(), self.engine.connect() as connection:
            row = connection.execute(
                select(task_batches).where(task_batches.c.id == batch_id)
            ).first()
            return BatchRecord(**row._mapping) if row is not None else None

    def page(self, limit: int, before: datetime | None = None) -> list[BatchRecord]:
        """Newest first."""
        query = select(task_batches).order_by(task_batches.c.created_at.desc()).limit(limit)
        if before is not None:
            query = query.where(task_batches.c.created_at < before)
        with translated(), self.engine.connect() as connection:
            return [BatchRecord(**row._mapping) for row in connection.execute(query)]

    def grow(self, batch_id: str, members: int) -> None:
        """Count ``members`` more, while the batch is open (not finished, not cancelled)."""
        with translated(), self.engine.begin() as connection:
            grown = connection.execute(
                update(task_batches)
                .where(
                    task_batches.c.id == batch_id,
                    task_batches.c.finish_sent_at.is_(None),
                    task_batches.c.cancelled_at.is_(None),
                )
                .values(total=task_batches.c.total + members)
            ).rowcount
            if not grown:
                raise NotFound(f"no open batch {batch_id!r} (finished or cancelled?)")

    def counts(self, batch_id: str) -> dict[str, int]:
        """Its members recorded so far, by status."""
        with translated(), self.engine.connect() as connection:
            rows = connection.execute(
                select(executions.c.status, func.count())
                .where(executions.c.batch_id == batch_id)
                .group_by(executions.c.status)
            )
            return {str(row[0]): int(row[1]) for row in rows if row[0] is not None}

    def claim(self, batch_id: str, callback: str, at: datetime) -> bool:
        """Whether this process is the one to send ``callback`` (exactly one ever is)."""
        sent_at = SENT_AT[callback]
        with translated(), self.engine.begin() as connection:
            claimed = connection.execute(
                update(task_batches)
                .where(task_batches.c.id == batch_id, sent_at.is_(None))
                .values({sent_at: at})
            ).rowcount
            return bool(claimed == 1)

    def unclaim(self, batch_id: str, callback: str) -> None:
        """Give a claimed callback back (its message could not be sent)."""
        with translated(), self.engine.begin() as connection:
            connection.execute(
                update(task_batches)
                .where(task_batches.c.id == batch_id)
                .values({SENT_AT[callback]: None})
            )

    def cancel(self, batch_id: str, at: datetime) -> bool:
        """Mark it cancelled; False when it already was."""
        with translated(), self.engine.begin() as connection:
            return bool(
                connection.execute(
                    update(task_batches)
                    .where(task_batches.c.id == batch_id, task_batches.c.cancelled_at.is_(None))
                    .values(cancelled_at=at)
                ).rowcount
                == 1
            )
