"""The rollups' rows: kept by the write path from what each execution upsert returns.

Every write of an execution row copies the columns that decide its contribution into
``was_*`` (before they change) and returns both, so the change to the rollups is folded in
Python from the rows the write touched: no statement per task, no scan, exact under concurrent
writers (the row is locked while it is copied). See ``celery_ops.core.rollups``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, NamedTuple, cast

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    and_,
    case,
    delete,
    func,
    literal_column,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import mysql, postgresql, sqlite

from celery_ops.core.clock import to_storage
from celery_ops.core.records import QueueSample
from celery_ops.core.rollups import (
    COUNTED_STATES,
    GRAINS,
    MINUTE,
    CountedRow,
    RollupDeltas,
    floor_to,
)
from celery_ops.store.errors import translated
from celery_ops.store.models import executions, queue_samples, rollups
from celery_ops.store.upserts import SetClause, upsert

_t = executions.c

#: The columns of an execution that decide what it contributes, in CountedRow's order.
COUNTED_COLUMNS = (
    _t.task_name,
    _t.queue,
    _t.status,
    _t.status_at,
    _t.started_at,
    _t.execution_time_ms,
    _t.wait_time_ms,
)

#: What an execution upsert returns: the row after the write, then before it.
RETURNED = (
    *COUNTED_COLUMNS,
    _t.was_status,
    _t.was_status_at,
    _t.was_started_at,
    _t.was_execution_time_ms,
    _t.was_wait_time_ms,
    _t.had_task_name,
    _t.had_queue,
)


def may_count(t: Any) -> ColumnElement[bool]:
    """The written rows that count in the rollups, or did before the write: the others
    (sent, received: most writes) change nothing there."""
    # Constants inlined: the PostgreSQL statement is kept as text without bound constants.
    counted: list[ColumnElement[str]] = [literal_column(f"'{state}'") for state in COUNTED_STATES]
    return or_(
        t.status.in_(counted),
        t.was_status.in_(counted),
        t.wait_time_ms.is_not(None),
        t.was_wait_time_ms.is_not(None),
    )


def remembered(t: Any) -> list[tuple[str, Any]]:
    """The upsert's assignments that keep the row as it was before the write.

    A row with ``was_status`` NULL was stored before rollups existed and is counted nowhere:
    it becomes "" (its old state counts as nothing), and from then on it is counted.
    """
    # Constants inlined: the PostgreSQL statement is kept as text without bound constants.
    nothing: ColumnElement[str] = literal_column("''")
    return [
        (
            "was_status",
            case((t.was_status.is_(None), nothing), else_=func.coalesce(t.status, nothing)),
        ),
        ("was_status_at", t.status_at),
        ("was_started_at", t.started_at),
        ("was_execution_time_ms", t.execution_time_ms),
        ("was_wait_time_ms", t.wait_time_ms),
        ("had_task_name", t.task_name.is_not(None)),
        ("had_queue", t.queue.is_not(None)),
    ]


def _naive(moment: datetime | None) -> datetime | None:
    # Rows read through SQLAlchemy's types are aware, through the driver (unnest) naive.
    return None if moment is None else to_storage(moment)


def counted_row(row: Sequence[Any]) -> CountedRow:
    """An execution's contribution columns, as read in :data:`COUNTED_COLUMNS` order."""
    task_name, queue, status, status_at, started_at, runtime, wait = row[:7]
    return CountedRow(
        task_name, queue, status, _naive(status_at), _naive(started_at), runtime, wait
    )


def fold_returned(returned: Iterable[Sequence[Any]], deltas: RollupDeltas) -> None:
    """Fold the rows an execution upsert returned (:data:`RETURNED`) into ``deltas``."""
    for row in returned:
        after = counted_row(row)
        was_status = row[7]
        # Inserted, counted as nothing until now, or in a state that counted nothing.
        if not was_status or (was_status not in _COUNTED and row[11] is None):
            deltas.change(None, after)
            continue
        before = CountedRow(
            after.task_name if row[12] else None,
            after.queue if row[13] else None,
            was_status,
            _naive(row[8]),
            _naive(row[9]),
            row[10],
            row[11],
        )
        deltas.change(before, after)


_COUNTED = frozenset(COUNTED_STATES)
_ROLLUP_KEY = ("grain", "at", "task_name", "queue", "measure", "bucket")


def apply(connection: Connection, deltas: RollupDeltas) -> None:
    """Add ``deltas`` to the rollups, every grain in one statement."""
    changes = deltas.rows()
    if not changes:
        return
    rows = [{**key._asdict(), "count": count} for key, count in changes]
    upsert(connection, rollups, rows, _ROLLUP_KEY, _added, cache_as="add")


def _added(new: Any) -> SetClause:
    return [("count", rollups.c["count"] + new["count"])]


class BackfillChunk(NamedTuple):
    scanned: int
    counted: int
    #: The last execution id read; None: there was none past ``after_id``.
    last_id: int | None


def backfill(connection: Connection, after_id: int, chunk_size: int) -> BackfillChunk:
    """Count the executions stored before rollups existed, ``chunk_size`` ids past
    ``after_id``."""
    id_list: list[int] = list(
        connection.execute(
            select(_t.id).where(_t.id > after_id).order_by(_t.id).limit(chunk_size)
        ).scalars()
    )
    if not id_list:
        return BackfillChunk(0, 0, None)
    uncounted = and_(_t.id >= id_list[0], _t.id <= id_list[-1], _t.was_status.is_(None))
    # Locked: a write of one of them now would see it counted, or wait and take it away.
    found = connection.execute(
        select(_t.id, *COUNTED_COLUMNS).where(uncounted).with_for_update()
    ).all()
    if found:
        deltas = RollupDeltas()
        deltas.add(counted_row(row[1:]) for row in found)
        connection.execute(
            update(executions)
            .where(_t.id.in_([row.id for row in found]), _t.was_status.is_(None))
            .values(was_status="")
        )
        apply(connection, deltas)
    return BackfillChunk(len(id_list), len(found), id_list[-1])


def forget_before(connection: Connection, cutoffs: dict[int, datetime]) -> int:
    """Delete the rollups of each grain older than its cut-off."""
    removed = 0
    for grain in GRAINS:
        cutoff = cutoffs.get(grain)
        if cutoff is None:
            continue
        result = connection.execute(
            delete(rollups).where(rollups.c.grain == grain, rollups.c.at < to_storage(cutoff))
        )
        removed += int(result.rowcount or 0)
    return removed


def read(
    connection: Connection,
    grain: int,
    since: datetime,
    until: datetime,
    task_name: str | None = None,
    queue: str | None = None,
) -> list[tuple[datetime, str, int, int]]:
    """(period start, measure, bucket, count) summed over tasks and queues not asked for."""
    r = rollups.c
    conditions: list[ColumnElement[bool]] = [
        r.grain == grain,
        r.at >= to_storage(since),
        r.at < to_storage(until),
    ]
    if task_name is not None:
        conditions.append(r.task_name == task_name)
    if queue is not None:
        conditions.append(r.queue == queue)
    query = (
        select(r.at, r.measure, r.bucket, func.sum(r["count"]))
        .where(*conditions)
        .group_by(r.at, r.measure, r.bucket)
    )
    found: list[tuple[datetime, str, int, int]] = []
    for row in connection.execute(query):
        at, measure, bucket, count = cast(tuple[datetime, str, int, int], row)
        found.append((to_storage(at), measure, int(bucket), int(count)))
    return found


class MetricsStore:
    """The rollups: read by period, counted from old executions, kept for their retention."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def read(
        self,
        grain: int,
        since: datetime,
        until: datetime,
        task_name: str | None = None,
        queue: str | None = None,
    ) -> list[tuple[datetime, str, int, int]]:
        """(period start, measure, bucket, count) at ``grain`` in [since, until)."""
        with translated(), self.engine.connect() as connection:
            return read(connection, grain, since, until, task_name, queue)

    def totals(
        self,
        grain: int,
        since: datetime,
        until: datetime,
        measures: Sequence[str],
        task_name: str | Sequence[str] | None = None,
        queue: str | None = None,
    ) -> dict[tuple[str, str, str, int], int]:
        """(task name, queue, measure, bucket) -> count at ``grain`` in [since, until)."""
        with translated(), self.engine.connect() as connection:
            return totals(connection, grain, since, until, measures, task_name, queue)

    def backfill(self, after_id: int = 0, chunk_size: int = 5000) -> BackfillChunk:
        """Count one chunk of executions stored before rollups existed (see :func:`backfill`)."""
        with translated(), self.engine.begin() as connection:
            return backfill(connection, after_id, chunk_size)

    def forget_before(self, cutoffs: dict[int, datetime]) -> int:
        """Delete each grain's rollups older than its cut-off (queue samples: the minute's)."""
        with translated(), self.engine.begin() as connection:
            removed = forget_before(connection, cutoffs)
            if MINUTE in cutoffs:
                old = queue_samples.c.at < to_storage(cutoffs[MINUTE])
                removed += int(connection.execute(delete(queue_samples).where(old)).rowcount or 0)
            return removed

    def add_queue_samples(self, samples: Sequence[QueueSample]) -> int:
        """Keep each sample unless its queue already has one for that minute; how many were
        kept (several samplers may run: the first of each minute wins)."""
        if not samples:
            return 0
        rows = [
            {
                "queue": sample.queue,
                "at": floor_to(to_storage(sample.at), MINUTE),
                "depth": sample.depth,
                "latency_seconds": sample.latency_seconds,
            }
            for sample in samples
        ]
        with translated(), self.engine.begin() as connection:
            dialect = connection.dialect.name
            if dialect in ("mysql", "mariadb"):
                statement: Any = mysql.insert(queue_samples).prefix_with("IGNORE")
            else:
                module = postgresql if dialect == "postgresql" else sqlite
                statement = module.insert(queue_samples).on_conflict_do_nothing()
            return int(connection.execute(statement, rows).rowcount or 0)

    def queue_samples(self, queue: str, since: datetime, until: datetime) -> list[QueueSample]:
        """The samples of ``queue`` in [since, until), oldest first."""
        q = queue_samples.c
        query = (
            select(q.queue, q.at, q.depth, q.latency_seconds)
            .where(q.queue == queue, q.at >= to_storage(since), q.at < to_storage(until))
            .order_by(q.at)
        )
        with translated(), self.engine.connect() as connection:
            return [QueueSample(**row._mapping) for row in connection.execute(query)]


def totals(
    connection: Connection,
    grain: int,
    since: datetime,
    until: datetime,
    measures: Sequence[str],
    task_name: str | Sequence[str] | None = None,
    queue: str | None = None,
) -> dict[tuple[str, str, str, int], int]:
    """(task name, queue, measure, bucket) -> count summed over [since, until), of one task
    name or several."""
    r = rollups.c
    conditions = [
        r.grain == grain,
        r.at >= to_storage(since),
        r.at < to_storage(until),
        r.measure.in_(list(measures)),
    ]
    if isinstance(task_name, str):
        conditions.append(r.task_name == task_name)
    elif task_name is not None:
        conditions.append(r.task_name.in_(list(task_name)))
    if queue is not None:
        conditions.append(r.queue == queue)
    query = (
        select(r.task_name, r.queue, r.measure, r.bucket, func.sum(r["count"]))
        .where(*conditions)
        .group_by(r.task_name, r.queue, r.measure, r.bucket)
    )
    found: dict[tuple[str, str, str, int], int] = {}
    for row in connection.execute(query):
        task, queue, measure, bucket, count = cast(tuple[str, str, str, int, int], row)
        found[(task, queue, measure, int(bucket))] = int(count)
    return found
