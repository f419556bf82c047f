"""Queues as the store knows them: which are paused, which the store has seen, how long
their waiting executions have waited."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection, Engine, delete, func, insert, or_, select

from celery_ops.core import lifecycle as states
from celery_ops.core.records import AuditEntry, QueuePause
from celery_ops.store.audit import insert_entry
from celery_ops.store.errors import Duplicate, translated
from celery_ops.store.models import definitions, executions, queue_pauses, schedules

#: Statuses of executions not ended yet: counted whatever their age.
UNDER_WAY = frozenset({states.PENDING, states.RECEIVED, states.STARTED, states.RETRY})
#: Executions read to list the queues the store has seen, and to measure wait times.
RECENT_SAMPLE = 10_000


class QueueStore:
    """Paused queues, and what the executions table says of each queue."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # Pauses

    def pauses(self) -> list[QueuePause]:
        """Every paused queue, by name."""
        with translated(), self.engine.connect() as connection:
            rows = connection.execute(select(queue_pauses).order_by(queue_pauses.c.name))
            return [QueuePause(**row._mapping) for row in rows]

    def pause(self, pause: QueuePause, entry: AuditEntry) -> QueuePause:
        """Remember ``pause``, with its audit row; a queue already paused stays paused as it
        was (by whom and since when), and that earlier pause is returned."""
        try:
            with translated(duplicate="already paused"), self.engine.begin() as connection:
                connection.execute(insert(queue_pauses).values(**_row(pause)))
                insert_entry(connection, entry)
                return pause
        except Duplicate:
            with translated(), self.engine.begin() as connection:
                existing = _pause(connection, pause.name)
                insert_entry(connection, entry)
            return existing or pause

    def resume(self, name: str, entry: AuditEntry) -> QueuePause | None:
        """Forget the pause of ``name``, with its audit row; the pause it ended, if any."""
        with translated(), self.engine.begin() as connection:
            existing = _pause(connection, name)
            if existing is not None:
                connection.execute(delete(queue_pauses).where(queue_pauses.c.name == name))
            insert_entry(connection, entry)
            return existing

    # What the executions say

    def names_seen(self) -> set[str]:
        """Queues named by task definitions, schedules, and the latest executions."""
        latest = (
            select(executions.c.queue).order_by(executions.c.id.desc()).limit(RECENT_SAMPLE)
        ).subquery()
        with translated(), self.engine.connect() as connection:
            found: set[str | None] = set(
                connection.execute(select(latest.c.queue).distinct()).scalars()
            )
            found.update(connection.execute(select(definitions.c.queue).distinct()).scalars())
            found.update(connection.execute(select(schedules.c.queue).distinct()).scalars())
        return {name for name in found if name}

    def counts(
        self, queues: Sequence[str], ended_since: datetime | None, cap: int
    ) -> dict[str, dict[str, int]]:
        """Each queue's executions by status: those still under way (PENDING, RECEIVED,
        STARTED, RETRY) whatever their age, and unless ``ended_since`` is None the others
        that ended since then; each count stops at ``cap``. Every count reads the (status,
        status_at) index, never every row of a big queue; the ones under way are read once
        for all the queues."""
        column = executions.c
        found = {queue: dict.fromkeys(states.ALL_STATUSES, 0) for queue in queues}
        if not found:
            return found
        under_way = (
            select(column.queue, column.status)
            .where(column.status.in_(sorted(UNDER_WAY)), column.queue.in_(list(found)))
            .limit(cap * len(UNDER_WAY) * len(found))
            .subquery()
        )
        grouped = select(under_way.c.queue, under_way.c.status, func.count()).group_by(
            under_way.c.queue, under_way.c.status
        )
        with translated(), self.engine.connect() as connection:
            for row in connection.execute(grouped):
                queue, status, count = str(row[0]), str(row[1]), int(row[2])
                found[queue][status] = min(count, cap)
            for queue in found:
                for status in states.ALL_STATUSES:
                    if status in UNDER_WAY or ended_since is None:
                        continue
                    ended = (
                        select(column.id)
                        .where(
                            column.status == status,
                            column.queue == queue,
                            column.status_at >= ended_since,
                        )
                        .limit(cap)
                        .subquery()
                    )
                    counted = connection.execute(select(func.count()).select_from(ended))
                    found[queue][status] = int(counted.scalar_one())
        return found

    def oldest_waiting(self, queue: str, now: datetime) -> datetime | None:
        """When the longest-waiting PENDING execution of ``queue`` became due: its
        publication, or its ETA if that came later (None: nothing waits)."""
        column = executions.c
        # (status, status_at) is indexed, and a PENDING row's status_at is its publication:
        # this reads the waiting rows oldest first and stops at the first of this queue.
        statement = (
            select(column.status_at, column.eta)
            .where(
                column.status == states.PENDING,
                column.queue == queue,
                or_(column.eta.is_(None), column.eta <= now),
            )
            .order_by(column.status_at)
            .limit(1)
        )
        with translated(), self.engine.connect() as connection:
            row = connection.execute(statement).first()
        if row is None:
            return None
        published: datetime = row.status_at
        eta: datetime | None = row.eta
        return max(published, eta) if eta is not None else published


def _pause(connection: Connection, name: str) -> QueuePause | None:
    row = connection.execute(select(queue_pauses).where(queue_pauses.c.name == name)).first()
    return QueuePause(**row._mapping) if row is not None else None


def _row(pause: QueuePause) -> dict[str, object]:
    return {"name": pause.name, "paused_by": pause.paused_by[:255], "paused_at": pause.paused_at}
