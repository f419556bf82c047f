"""Claims of unique tasks: who holds a (task name, key), taken race-free at publish.

A claim is one row keyed on (task name, key hash). Taking it is an insert that does nothing
when the row exists (``ON CONFLICT DO NOTHING``, ``INSERT IGNORE``): of producers racing,
the database lets exactly one insert win, with no lock held across statements (River's
design). An expired row is taken over by a compare-and-swap on its holder, so a lost worker
blocks a key for ``ops_unique_for`` at most.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, delete, select, update

from celery_ops.core.clock import as_utc
from celery_ops.core.records import HeldKey
from celery_ops.store.errors import translated
from celery_ops.store.models import unique_claims
from celery_ops.store.upserts import insert_or_nothing

#: Takeovers tried when others take the same expired claim at the same moment.
ATTEMPTS = 5


@dataclass(frozen=True)
class Claim:
    """What a producer asks for: the key of ``task_name`` held by ``task_id``."""

    task_name: str
    key_hash: str
    key_text: str
    task_id: str
    until: str


@dataclass(frozen=True)
class Holder:
    """Who holds a key after a claim: ``task_id``, and whether it is the one that asked."""

    task_id: str
    won: bool


class UniqueStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def claim(self, wanted: Claim, now: datetime, expires_at: datetime) -> Holder:
        """Take the key for ``wanted.task_id``, or say which execution holds it."""
        row = {
            "task_name": wanted.task_name,
            "key_hash": wanted.key_hash,
            "key_text": wanted.key_text[:255],
            "task_id": wanted.task_id,
            "claimed_at": now,
            "expires_at": expires_at,
            "until": wanted.until,
        }
        key = (
            unique_claims.c.task_name == wanted.task_name,
            unique_claims.c.key_hash == wanted.key_hash,
        )
        with translated():
            for _ in range(ATTEMPTS):
                holder = self._attempt(row, key, wanted, now)
                if holder is not None:
                    return holder
        # Contended beyond reason: say the key is held, by whoever holds it now.
        with translated(), self.engine.connect() as connection:
            current = connection.execute(select(unique_claims.c.task_id).where(*key)).scalar()
        return Holder(str(current) if current else wanted.task_id, current is None)

    def _attempt(
        self, row: dict[str, Any], key: tuple[Any, ...], wanted: Claim, now: datetime
    ) -> Holder | None:
        """One try at the claim; None when the row changed under it (try again)."""
        if self.engine.dialect.name == "postgresql":
            # One transaction: at read committed each statement sees what committed before
            # it, the winner's row included. Committed without waiting for the disk: a crash
            # of the database may forget the last claims (a duplicate may then be sent), which
            # is what a claim is worth against a fifth of a unique publish's time.
            with self.engine.begin() as connection:
                connection.exec_driver_sql("SET LOCAL synchronous_commit TO OFF")
                return _attempt(connection, row, key, wanted, now)
        # Elsewhere each step is its own short transaction: a repeatable-read snapshot taken
        # before another producer's insert committed must not hide its row.
        with self.engine.begin() as connection:
            if insert_or_nothing(connection, unique_claims, row):
                return Holder(wanted.task_id, True)
        with self.engine.begin() as connection:
            return _attempt(connection, row, key, wanted, now, inserted=False)

    def forget(self, task_name: str, key_hash: str, task_id: str) -> None:
        """Give up a claim taken for a message that could not be sent."""
        with translated(), self.engine.begin() as connection:
            connection.execute(
                delete(unique_claims).where(
                    unique_claims.c.task_name == task_name,
                    unique_claims.c.key_hash == key_hash,
                    unique_claims.c.task_id == task_id,
                )
            )

    def held(self, limit: int = 100) -> list[HeldKey]:
        """The claims held now, newest first."""
        with translated(), self.engine.connect() as connection:
            rows = connection.execute(
                select(unique_claims).order_by(unique_claims.c.claimed_at.desc()).limit(limit)
            )
            return [HeldKey(**row._mapping) for row in rows]

    def delete_expired(self, now: datetime) -> int:
        """Drop the claims past their expiry (``ops retention``); how many."""
        with translated(), self.engine.begin() as connection:
            result = connection.execute(
                delete(unique_claims).where(unique_claims.c.expires_at <= now)
            )
            return int(result.rowcount or 0)


def release(connection: Connection, task_ids: Sequence[str]) -> None:
    """Free the claims these executions hold (they started or ended, as their task asked):
    part of the recorder's batch write."""
    if task_ids:
        connection.execute(
            delete(unique_claims).where(unique_claims.c.task_id.in_(list(dict.fromkeys(task_ids))))
        )


def _attempt(
    connection: Connection,
    row: dict[str, Any],
    key: tuple[Any, ...],
    wanted: Claim,
    now: datetime,
    inserted: bool | None = None,
) -> Holder | None:
    """Insert (unless ``inserted`` says it was tried), else read the holder, and take the
    row over if it expired; None when it changed in between."""
    if inserted is None and insert_or_nothing(connection, unique_claims, row):
        return Holder(wanted.task_id, True)
    found = connection.execute(
        select(unique_claims.c.task_id, unique_claims.c.expires_at).where(*key)
    ).first()
    if found is None:
        return None  # freed between the two statements
    holder, until = str(found[0]), found[1]
    if holder == wanted.task_id:
        return Holder(holder, True)  # a retry re-sending the same execution
    if as_utc(until) > now:
        return Holder(holder, False)
    taken = connection.execute(
        update(unique_claims)
        .where(*key, unique_claims.c.task_id == holder)
        .values(**{k: v for k, v in row.items() if k != "task_name"})
    ).rowcount
    return Holder(wanted.task_id, True) if taken == 1 else None
