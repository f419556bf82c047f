"""Cluster-wide limits: their definitions, and the admissions that enforce them.

An admission is one short transaction in the process about to run a task. It locks the gate
row of each limit the task is under (so that workers checking the same limit take turns),
counts that limit's permits (the starts within the rate's period, the slots not yet given
back or expired), and either adds the task's permits or says how long to wait. Slots expire:
a worker killed while holding one blocks it ``ops_limit_slot_ttl`` at most.
"""

from __future__ import annotations

import json
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import Connection, Engine, delete, func, select, update

from celery_ops.core.clock import as_utc
from celery_ops.core.limits import TaskLimit, parse_concurrency, parse_key, parse_rate
from celery_ops.core.records import AuditEntry
from celery_ops.store.audit import insert_entry
from celery_ops.store.errors import translated
from celery_ops.store.models import limit_gates, limit_permits, limits
from celery_ops.store.upserts import insert_or_nothing

RATE, SLOT = "rate", "slot"
#: Seconds a task refused by a concurrency limit waits before it asks again.
SLOT_RETRY_SECONDS = 1.0


@dataclass(frozen=True)
class Gate:
    """One limit a task is under: ``count`` starts per ``seconds`` (rate), or ``count``
    running at once (slot, held ``seconds`` at most), for one key of one task type."""

    task_name: str
    key_hash: str
    kind: str
    count: int
    seconds: float


@dataclass(frozen=True)
class Admission:
    admitted: bool
    #: Seconds until the limit may let it through (refused only).
    wait: float = 0.0
    reason: str | None = None
    #: The start time the permits were recorded at (admitted only): the time asked for, or
    #: the newest start already counted when that is later (its caller took the time before
    #: waiting for the gate), so that starts are counted in the order they were let through.
    at: datetime | None = None


class LimitStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # Definitions

    def all(self) -> list[TaskLimit]:
        """Every task type's limits (those without any left out)."""
        with translated(), self.engine.connect() as connection:
            rows = connection.execute(select(limits).order_by(limits.c.task_name)).all()
        found = [_limit(dict(row._mapping)) for row in rows]
        return [limit for limit in found if limit.limits]

    def put(
        self,
        limit: TaskLimit,
        at: datetime,
        by: str,
        audit: AuditEntry | None = None,
        source: str = "live",
    ) -> None:
        """Set a task type's limits (its row, whatever it held), with its audit entry."""
        row = _row(limit, at, by, source)
        with translated(), self.engine.begin() as connection:
            if not insert_or_nothing(connection, limits, row):
                connection.execute(
                    update(limits).where(limits.c.task_name == limit.task_name).values(**row)
                )
            if audit is not None:
                insert_entry(connection, audit)

    def seed(self, configured: Mapping[str, TaskLimit], at: datetime, by: str) -> list[str]:
        """Write the settings' limits where nobody edited them live; the task names changed."""
        changed = []
        with translated(), self.engine.begin() as connection:
            existing = {
                row.task_name: row
                for row in connection.execute(select(limits.c.task_name, limits.c.source)).all()
            }
            stored = {
                row.task_name: _limit(dict(row._mapping))
                for row in connection.execute(select(limits)).all()
            }
            for name, limit in configured.items():
                row = existing.get(name)
                if row is not None and (row.source != "config" or stored[name] == limit):
                    continue
                values = _row(limit, at, by, "config")
                if row is None:
                    connection.execute(limits.insert(), values)
                else:
                    connection.execute(
                        update(limits).where(limits.c.task_name == name).values(**values)
                    )
                changed.append(name)
            # A limit the settings no longer name ends, unless it was edited live.
            for name, row in existing.items():
                if row.source == "config" and name not in configured:
                    connection.execute(delete(limits).where(limits.c.task_name == name))
                    changed.append(name)
        return changed

    # Admissions

    def admit(self, task_id: str, gates: Sequence[Gate], now: datetime) -> Admission:
        """Let ``task_id`` through every gate, or say which refused and for how long."""
        ordered = sorted(gates, key=lambda g: (g.task_name, g.key_hash, g.kind))
        with translated(), self.engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                # Permits are short-lived: a crash of the database may forget the last ones
                # (a limit lets a few more through once), not worth a disk flush per task.
                connection.exec_driver_sql("SET LOCAL synchronous_commit TO OFF")
            made = _GATES_MADE.setdefault(self.engine, set())
            for gate in ordered:
                _lock(connection, gate, gate in made)
            now = max([now, *(_newest_start(connection, g) for g in ordered if g.kind == RATE)])
            for gate in ordered:
                refused = _check(connection, gate, now)
                if refused is not None:
                    return refused
            for gate in ordered:
                expires = now + timedelta(seconds=gate.seconds)
                connection.execute(
                    limit_permits.insert(),
                    {
                        "task_name": gate.task_name,
                        "key_hash": gate.key_hash,
                        "kind": gate.kind,
                        "task_id": task_id,
                        "at": now,
                        "expires_at": expires,
                    },
                )
        made.update(ordered)  # committed: from now on they exist for everyone
        return Admission(True, at=now)

    def release(self, task_id: str) -> None:
        """Give back the slots ``task_id`` holds (it ended)."""
        with translated(), self.engine.begin() as connection:
            connection.execute(
                delete(limit_permits).where(
                    limit_permits.c.task_id == task_id, limit_permits.c.kind == SLOT
                )
            )

    def running(self, task_name: str) -> int:
        """Slots of ``task_name`` held now (every key)."""
        with translated(), self.engine.connect() as connection:
            return int(
                connection.execute(
                    select(func.count())
                    .select_from(limit_permits)
                    .where(limit_permits.c.task_name == task_name, limit_permits.c.kind == SLOT)
                ).scalar_one()
            )


def free_slots(connection: Connection, task_ids: Sequence[str]) -> None:
    """Give back the slots of these runs (they ended): part of the recorder's batch write."""
    if task_ids:
        connection.execute(
            delete(limit_permits).where(
                limit_permits.c.task_id.in_(list(dict.fromkeys(task_ids))),
                limit_permits.c.kind == SLOT,
            )
        )


#: Gates this process knows exist, per database (gate rows are never deleted).
_GATES_MADE: weakref.WeakKeyDictionary[Engine, set[Gate]] = weakref.WeakKeyDictionary()


def _lock(connection: Connection, gate: Gate, made: bool) -> None:
    if not made:
        row = {"task_name": gate.task_name, "key_hash": gate.key_hash, "kind": gate.kind}
        insert_or_nothing(connection, limit_gates, row)
    if connection.dialect.name != "sqlite":  # SQLite's BEGIN IMMEDIATE already serializes
        connection.execute(
            select(limit_gates.c.kind)
            .where(
                limit_gates.c.task_name == gate.task_name,
                limit_gates.c.key_hash == gate.key_hash,
                limit_gates.c.kind == gate.kind,
            )
            .with_for_update()
        )


def _newest_start(connection: Connection, gate: Gate) -> datetime:
    """The latest start counted by a rate gate (the epoch when none)."""
    permits = limit_permits.c
    newest = connection.execute(
        select(func.max(permits.at)).where(
            permits.task_name == gate.task_name,
            permits.key_hash == gate.key_hash,
            permits.kind == gate.kind,
        )
    ).scalar()
    return as_utc(newest) if newest is not None else _EPOCH


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def _check(connection: Connection, gate: Gate, now: datetime) -> Admission | None:
    permits = limit_permits.c
    same = (
        permits.task_name == gate.task_name,
        permits.key_hash == gate.key_hash,
        permits.kind == gate.kind,
    )
    if gate.kind == RATE:
        window_start = now - timedelta(seconds=gate.seconds)
        connection.execute(delete(limit_permits).where(*same, permits.at <= window_start))
        found = connection.execute(
            select(func.count(), func.min(permits.at)).where(*same, permits.at > window_start)
        ).one()
        counted, oldest = int(found[0]), found[1]
        if counted >= gate.count and oldest is not None:
            wait = (as_utc(oldest) + timedelta(seconds=gate.seconds) - now).total_seconds()
            return Admission(
                False,
                max(wait, 0.001),
                f"rate limit {gate.count} per {gate.seconds:g}s reached",
            )
        return None
    connection.execute(delete(limit_permits).where(*same, permits.expires_at <= now))
    held = int(connection.execute(select(func.count()).where(*same)).scalar_one())
    if held >= gate.count:
        return Admission(
            False, SLOT_RETRY_SECONDS, f"concurrency limit {gate.count} reached ({held} running)"
        )
    return None


def _limit(row: Mapping[str, Any]) -> TaskLimit:
    """A stored row, read leniently: a row written by SQL that makes no sense limits nothing."""
    try:
        rate = parse_rate(row["rate"]) if row["rate"] else None
        concurrency = parse_concurrency(row["concurrency"]) if row["concurrency"] else None
        rate_key = parse_key(json.loads(row["rate_key"])) if row["rate_key"] else ()
        slot_key = parse_key(json.loads(row["concurrency_key"])) if row["concurrency_key"] else ()
    except (ValueError, TypeError):
        return TaskLimit(str(row["task_name"]))
    return TaskLimit(str(row["task_name"]), rate, rate_key, concurrency, slot_key)


def _row(limit: TaskLimit, at: datetime, by: str, source: str) -> dict[str, Any]:
    return {
        "task_name": limit.task_name,
        "rate": limit.rate.text if limit.rate else None,
        "rate_key": json.dumps(list(limit.rate_key)) if limit.rate_key else None,
        "concurrency": limit.concurrency,
        "concurrency_key": json.dumps(list(limit.concurrency_key))
        if limit.concurrency_key
        else None,
        "source": source,
        "updated_at": at,
        "updated_by": by[:255],
    }
