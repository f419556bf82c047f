"""Schedules and their runs: every query beat and the schedule write path make.

Rows come back as :class:`~celery_ops.core.records.ScheduleRow` with their JSON columns as
text; what the values mean is ``celery_ops.scheduling``'s business. The one rule kept here is the
claim: a due time is fired by the beat whose insert of ``(schedule_id, due_at)`` into the
runs table succeeded, and by no one else.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    Integer,
    and_,
    bindparam,
    case,
    delete,
    func,
    insert,
    or_,
    select,
    union_all,
    update,
)
from sqlalchemy.dialects import mysql, postgresql, sqlite

from celery_ops.core.records import AuditEntry, ScheduleRow, ScheduleRun
from celery_ops.store.audit import insert_entry
from celery_ops.store.errors import NotFound, translated
from celery_ops.store.models import executions, schedule_runs, schedules

# Keep IN lists and multi-row statements well under every backend's parameter limit.
_CHUNK = 500


#: What beat reads of a due row: its definition and run count, not its bookkeeping.
_FIRING_COLUMNS = (
    "id", "name", "task", "kind", "cron_expression", "timezone", "interval_seconds", "run_at",
    "args", "kwargs", "options", "queue", "priority", "misfire", "start_at", "end_at",
    "max_runs", "total_runs", "next_run_at",
)  # fmt: skip


def _due_statement() -> Any:
    """Rows due at ``b_now`` (at most ``b_limit``) and the first row due after it."""
    column = schedules.c
    wanted = [column[name] for name in _FIRING_COLUMNS]
    enabled = column.enabled == True  # noqa: E712
    now = bindparam("b_now", type_=column.next_run_at.type)
    due_now = (
        select(*wanted)
        .where(enabled, column.next_run_at <= now)
        .order_by(column.next_run_at)
        .limit(bindparam("b_limit", type_=Integer()))
        .subquery()
    )
    next_one = (
        select(*wanted)
        .where(enabled, column.next_run_at > now)
        .order_by(column.next_run_at)
        .limit(1)
        .subquery()
    )
    return union_all(select(due_now), select(next_one))


def _advance_statement() -> Any:
    """Move a schedule on after a due time, only if it still holds the due time beat read.

    The run count and last task move whenever this beat fired; the timing, the switch and
    the error only when no edit or other beat changed ``next_run_at`` meanwhile.
    """
    column = schedules.c
    # Typed parameters: datetimes must be stored exactly as the column stores them.
    expected = bindparam("b_expected", type_=column.next_run_at.type)
    still_ours = or_(
        column.next_run_at == expected,
        and_(column.next_run_at.is_(None), expected.is_(None)),
    )

    def if_still_ours(name: str, target: Any) -> Any:
        return case((still_ours, bindparam(name, type_=target.type)), else_=target)

    def when_fired(name: str, target: Any) -> Any:
        return func.coalesce(bindparam(name, type_=target.type), target)

    # Order matters on MariaDB, which assigns left to right and lets later expressions see
    # earlier assignments: everything reading next_run_at comes before it changes.
    return (
        update(schedules)
        .where(column.id == bindparam("b_id"))
        .ordered_values(
            (column.enabled, if_still_ours("b_enabled", column.enabled)),
            (column.last_error, if_still_ours("b_error", column.last_error)),
            (column.total_runs, column.total_runs + bindparam("b_fired")),
            (column.last_run_at, when_fired("b_fired_at", column.last_run_at)),
            (column.last_task_id, when_fired("b_task_id", column.last_task_id)),
            (column.next_run_at, if_still_ours("b_next", column.next_run_at)),
        )
    )


# Built once: constructing these is most of their cost, and beat runs them every round.
_DUE = _due_statement()
_ADVANCE = _advance_statement()
_MARK_SENT = (
    update(schedule_runs)
    .where(schedule_runs.c.id.in_(bindparam("b_ids", expanding=True)))
    .values(sent_at=bindparam("b_sent_at", type_=schedule_runs.c.sent_at.type))
)


@dataclass(frozen=True, slots=True)
class NewRun:
    """A due time a beat (or an operator's "run now") wants to claim."""

    schedule_id: int
    schedule_name: str
    due_at: datetime
    task_id: str
    origin: str = "schedule"


@dataclass(frozen=True, slots=True)
class Claim:
    """A due time this beat won: send ``task_id`` for ``schedule_id``, then mark run ``id``."""

    id: int
    schedule_id: int
    due_at: datetime
    task_id: str


@dataclass(frozen=True, slots=True)
class Advance:
    """The state of a schedule row after one of its due times was handled."""

    schedule_id: int
    expected_next_run_at: datetime | None
    next_run_at: datetime | None
    enabled: bool
    last_error: str | None
    fired_task_id: str | None = None
    fired_at: datetime | None = None


class ScheduleStore:
    """The schedule tables of one database; each method is one short transaction."""

    def __init__(self, engine: Engine, connection: Connection | None = None) -> None:
        self.engine = engine
        self._connection = connection

    @contextmanager
    def bound(self) -> Iterator[ScheduleStore]:
        """This store on one connection for a while (a beat tick): one pool checkout and
        one liveness ping instead of one per call."""
        if self._connection is not None:
            yield self
            return
        with self.engine.connect() as connection:
            yield ScheduleStore(self.engine, connection)

    @contextmanager
    def _begin(self, duplicate: str | None = None) -> Iterator[Connection]:
        with translated(duplicate):
            if self._connection is None:
                with self.engine.begin() as connection:
                    yield connection
            else:
                with self._connection.begin():
                    yield self._connection

    # The write path (celery_ops.operations.schedules)

    def insert(self, rows: Sequence[dict[str, Any]], audit: AuditEntry | None = None) -> None:
        """Insert new schedules (and the audit entry, in the same transaction);
        :class:`Duplicate` when a name is taken, and then none is saved."""
        with self._begin(duplicate="a schedule of that name already exists") as connection:
            for chunk in _chunks(rows):
                connection.execute(insert(schedules), chunk)
            if audit is not None:
                insert_entry(connection, audit)

    def update(self, name: str, values: dict[str, Any], audit: AuditEntry | None = None) -> None:
        """Change a schedule (with its audit entry); :class:`NotFound` if there is none."""
        # A rename onto a name taken is the one constraint an update can break.
        with self._begin(duplicate="a schedule of that name already exists") as connection:
            result = connection.execute(
                update(schedules).where(schedules.c.name == name).values(**values)
            )
            if not result.rowcount:
                raise NotFound(name)
            if audit is not None:
                insert_entry(connection, audit)

    def delete(self, name: str, audit: AuditEntry | None = None) -> None:
        """Delete a schedule (its runs stay); :class:`NotFound` if there is none."""
        with self._begin() as connection:
            result = connection.execute(delete(schedules).where(schedules.c.name == name))
            if not result.rowcount:
                raise NotFound(name)
            if audit is not None:
                insert_entry(connection, audit)

    def get(self, name: str) -> ScheduleRow | None:
        with self._begin() as connection:
            row = connection.execute(select(schedules).where(schedules.c.name == name)).first()
            return ScheduleRow(**row._mapping) if row is not None else None

    def page(
        self, after_name: str | None = None, limit: int = 100, source: str | None = None
    ) -> list[ScheduleRow]:
        """Schedules by name, ``limit`` at a time after ``after_name`` (keyset paging)."""
        query = select(schedules).order_by(schedules.c.name).limit(limit)
        if after_name is not None:
            query = query.where(schedules.c.name > after_name)
        if source is not None:
            query = query.where(schedules.c.source == source)
        with self._begin() as connection:
            return [ScheduleRow(**row._mapping) for row in connection.execute(query)]

    def names(self, source: str) -> set[str]:
        with self._begin() as connection:
            query = select(schedules.c.name).where(schedules.c.source == source)
            return set(connection.execute(query).scalars())

    def recent_runs(self, schedule_id: int, limit: int = 10) -> list[ScheduleRun]:
        """The newest runs of a schedule with the outcome of the execution each one sent."""
        query = (
            select(
                schedule_runs,
                executions.c.status,
                executions.c.completed_at,
                executions.c.error_type,
            )
            .select_from(
                schedule_runs.outerjoin(executions, executions.c.task_id == schedule_runs.c.task_id)
            )
            .where(schedule_runs.c.schedule_id == schedule_id)
            .order_by(schedule_runs.c.due_at.desc())
            .limit(limit)
        )
        with self._begin() as connection:
            return [ScheduleRun(**row._mapping) for row in connection.execute(query)]

    # Beat

    def due(self, now: datetime, limit: int) -> tuple[list[ScheduleRow], datetime | None]:
        """Enabled rows due at ``now``, soonest first, and the due time of the next one.

        Beat's one query per tick: both halves walk the ``(enabled, next_run_at)`` index.
        """
        with self._begin() as connection:
            parameters = {"b_now": now, "b_limit": limit}
            rows = [ScheduleRow(**row._mapping) for row in connection.execute(_DUE, parameters)]
        due = sorted((r for r in rows if _next_run(r) <= now), key=_next_run)
        following = [_next_run(r) for r in rows if _next_run(r) > now]
        return due, (following[0] if following else None)

    def uncomputed(self, limit: int) -> list[ScheduleRow]:
        """Enabled rows whose next due time nobody computed yet (written by plain SQL)."""
        query = (
            select(schedules)
            .where(
                schedules.c.enabled == True,  # noqa: E712
                schedules.c.next_run_at.is_(None),
                schedules.c.last_error.is_(None),
            )
            .limit(limit)
        )
        with self._begin() as connection:
            return [ScheduleRow(**row._mapping) for row in connection.execute(query)]

    def claim(
        self,
        runs: Sequence[NewRun],
        advances: Sequence[Advance],
        claimed_by: str,
        claimed_at: datetime,
    ) -> list[Claim]:
        """Claim due times and move their schedules on, in one transaction.

        ``runs`` are candidate rows for the runs table; the ones another beat inserted first
        are left alone. The claims
        this beat won come back; ``advances`` then apply only where the row still holds the
        due time this beat read, so a concurrent edit or another beat's move wins.
        """
        with self._begin() as connection:
            claims = self._insert_runs(connection, runs, claimed_by, claimed_at)
            won = {claim.schedule_id: claim for claim in claims}
            self._advance(connection, advances, won)
        return claims

    def mark_sent(self, run_ids: Iterable[int], sent_at: datetime) -> None:
        ids = list(run_ids)
        if not ids:
            return
        with self._begin() as connection:
            for chunk in _chunks(ids):
                connection.execute(_MARK_SENT, {"b_ids": list(chunk), "b_sent_at": sent_at})

    def mark_duplicates(self, duplicates: dict[int, tuple[str, str]]) -> None:
        """Runs whose unique task was refused, ``{run id: (refused id, holder id)}``: each run,
        and its schedule's last task, now name the execution holding the key."""
        with self._begin() as connection:
            for run_id, (refused, holder) in duplicates.items():
                connection.execute(
                    update(schedule_runs)
                    .where(schedule_runs.c.id == run_id)
                    .values(
                        task_id=holder,
                        error=f"not sent: a duplicate of {holder}, which holds its unique key",
                    )
                )
                connection.execute(
                    update(schedules)
                    .where(schedules.c.last_task_id == refused)
                    .values(last_task_id=holder)
                )

    def mark_failed(self, failures: dict[int, str], schedule_errors: dict[int, str]) -> None:
        """Record why runs could not be sent, on the runs and on their schedules."""
        with self._begin() as connection:
            for run_id, error in failures.items():
                connection.execute(
                    update(schedule_runs).where(schedule_runs.c.id == run_id).values(error=error)
                )
            for schedule_id, error in schedule_errors.items():
                connection.execute(
                    update(schedules).where(schedules.c.id == schedule_id).values(last_error=error)
                )

    def set_errors(self, errors: dict[int, tuple[str, datetime | None]]) -> None:
        """Mark rows beat cannot evaluate: ``last_error`` and the next due time to try."""
        with self._begin() as connection:
            for schedule_id, (error, next_run_at) in errors.items():
                connection.execute(
                    update(schedules)
                    .where(schedules.c.id == schedule_id)
                    .values(last_error=error, next_run_at=next_run_at)
                )

    def set_next_run(self, values: Sequence[tuple[int, datetime | None, bool]]) -> None:
        """Fill in the first due time of rows written without one (only if still empty)."""
        if not values:
            return
        statement = (
            update(schedules)
            .where(schedules.c.id == bindparam("b_id"), schedules.c.next_run_at.is_(None))
            .values(
                next_run_at=bindparam("b_next", type_=schedules.c.next_run_at.type),
                enabled=bindparam("b_enabled", type_=schedules.c.enabled.type),
            )
        )
        with self._begin() as connection:
            connection.execute(
                statement,
                [{"b_id": i, "b_next": n, "b_enabled": e} for i, n, e in values],
            )

    def stale_claims(self, older_than: datetime, limit: int) -> list[ScheduleRun]:
        """Claims never marked sent nor failed: their beat died between claim and send."""
        query = (
            select(schedule_runs)
            .where(
                schedule_runs.c.sent_at.is_(None),
                schedule_runs.c.error.is_(None),
                schedule_runs.c.claimed_at < older_than,
            )
            .order_by(schedule_runs.c.claimed_at)
            .limit(limit)
        )
        with self._begin() as connection:
            return [ScheduleRun(**row._mapping) for row in connection.execute(query)]

    def take_over(self, run: ScheduleRun, claimed_by: str, claimed_at: datetime) -> bool:
        """Claim an abandoned run for this beat; False when another beat took it first."""
        with self._begin() as connection:
            result = connection.execute(
                update(schedule_runs)
                .where(
                    schedule_runs.c.id == run.id,
                    schedule_runs.c.claimed_by == run.claimed_by,
                    schedule_runs.c.claimed_at == run.claimed_at,
                    schedule_runs.c.sent_at.is_(None),
                )
                .values(claimed_by=claimed_by, claimed_at=claimed_at)
            )
            return bool(result.rowcount)

    def delete_runs_before(self, cutoff: datetime, chunk_size: int = 1000) -> int:
        """Forget runs older than ``cutoff``, in short transactions."""
        deleted = 0
        while True:
            with self._begin() as connection:
                ids: list[int] = list(
                    connection.execute(
                        select(schedule_runs.c.id)
                        .where(schedule_runs.c.due_at < cutoff)
                        .limit(chunk_size)
                    ).scalars()
                )
                if not ids:
                    return deleted
                connection.execute(delete(schedule_runs).where(schedule_runs.c.id.in_(ids)))
                deleted += len(ids)

    def count(self) -> int:
        with self._begin() as connection:
            return int(connection.execute(select(func.count()).select_from(schedules)).scalar_one())

    # Internals

    def _insert_runs(
        self,
        connection: Connection,
        runs: Sequence[NewRun],
        claimed_by: str,
        claimed_at: datetime,
    ) -> list[Claim]:
        if not runs:
            return []
        rows = [
            {
                "schedule_id": run.schedule_id,
                "schedule_name": run.schedule_name,
                "due_at": run.due_at,
                "task_id": run.task_id,
                "origin": run.origin,
                "claimed_by": claimed_by,
                "claimed_at": claimed_at,
            }
            for run in runs
        ]
        statement = _claim_statement(connection.dialect.name)
        claims: list[Claim] = []
        for chunk in _chunks(rows):
            if connection.dialect.name in ("postgresql", "sqlite"):
                # The rows an insert skipped as duplicates are not returned: ours are the rest.
                mine = connection.execute(statement, chunk)
            else:
                connection.execute(statement, chunk)
                # Ours are the rows carrying our name and this claim's timestamp.
                mine = connection.execute(
                    select(*_CLAIMED).where(
                        schedule_runs.c.schedule_id.in_([row["schedule_id"] for row in chunk]),
                        schedule_runs.c.claimed_by == claimed_by,
                        schedule_runs.c.claimed_at == claimed_at,
                    )
                )
            claims.extend(Claim(r.id, r.schedule_id, r.due_at, r.task_id) for r in mine)
        return claims

    def _advance(
        self, connection: Connection, advances: Sequence[Advance], won: dict[int, Claim]
    ) -> None:
        if not advances:
            return
        parameters = []
        for advance in advances:
            claim = won.get(advance.schedule_id)
            fired = claim is not None and advance.fired_task_id is not None
            parameters.append(
                {
                    "b_id": advance.schedule_id,
                    "b_expected": advance.expected_next_run_at,
                    "b_enabled": advance.enabled,
                    "b_error": advance.last_error,
                    "b_fired": 1 if fired else 0,
                    "b_fired_at": advance.fired_at if fired else None,
                    "b_task_id": claim.task_id if fired and claim else None,
                    "b_next": advance.next_run_at,
                }
            )
        connection.execute(_ADVANCE, parameters)


_CLAIMED = (
    schedule_runs.c.id,
    schedule_runs.c.schedule_id,
    schedule_runs.c.due_at,
    schedule_runs.c.task_id,
)


@functools.cache
def _claim_statement(dialect: str) -> Any:
    """Insert runs, skipping due times already claimed; returns the claimed ones where the
    backend can say which rows an insert really wrote (RETURNING skips the duplicates)."""
    if dialect == "postgresql":
        return postgresql.insert(schedule_runs).on_conflict_do_nothing().returning(*_CLAIMED)
    if dialect == "sqlite":
        return sqlite.insert(schedule_runs).on_conflict_do_nothing().returning(*_CLAIMED)
    if dialect in ("mysql", "mariadb"):
        # Not INSERT IGNORE, which would also hide errors other than the duplicate key.
        statement = mysql.insert(schedule_runs)
        return statement.on_duplicate_key_update(id=schedule_runs.c.id)
    raise NotImplementedError(f"celery-ops does not support {dialect}")


def _next_run(row: ScheduleRow) -> datetime:
    assert row.next_run_at is not None  # due() reads only rows that have one
    return row.next_run_at


def _chunks(items: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]
