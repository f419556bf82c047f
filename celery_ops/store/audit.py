"""The audit log: one row per operation, written in the transaction of the change it records
wherever the change is in the store."""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, RowMapping, insert, select, update

from celery_ops.core.records import AuditEntry
from celery_ops.store.errors import translated
from celery_ops.store.models import audit_log

#: Longest detail kept (an error message, a list of refusals).
MAX_DETAIL_CHARS = 2000


def insert_entry(connection: Connection, entry: AuditEntry) -> int:
    """Write ``entry`` on ``connection`` (inside the caller's transaction); its id."""
    result = connection.execute(insert(audit_log), _row(entry))
    key = result.inserted_primary_key
    return int(key[0]) if key else 0


@dataclass(frozen=True)
class AuditQuery:
    """Which entries to read: newest first, ``limit`` at a time below ``before_id``."""

    actor: str | None = None
    action: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    before_id: int | None = None
    limit: int = 50


class AuditStore:
    """The ``celery_ops_audit_log`` table of one database."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def append(self, entry: AuditEntry) -> int:
        """Write one entry in its own transaction; its id."""
        with translated(), self.engine.begin() as connection:
            return insert_entry(connection, entry)

    def complete(self, entry_id: int, outcome: str, targets: Any, detail: str | None) -> None:
        """Finish an entry written when a long operation was accepted."""
        values = {"outcome": outcome, "targets": _json(targets), "detail": _detail(detail)}
        with translated(), self.engine.begin() as connection:
            connection.execute(update(audit_log).where(audit_log.c.id == entry_id).values(values))

    def page(self, query: AuditQuery) -> list[AuditEntry]:
        """Entries matching ``query``, newest first (keyset paging by id)."""
        column = audit_log.c
        statement = select(audit_log).order_by(column.id.desc()).limit(query.limit)
        if query.before_id is not None:
            statement = statement.where(column.id < query.before_id)
        if query.actor is not None:
            statement = statement.where(column.actor == query.actor)
        if query.action is not None:
            statement = statement.where(column.action == query.action)
        if query.since is not None:
            statement = statement.where(column.at >= query.since)
        if query.until is not None:
            statement = statement.where(column.at < query.until)
        with translated(), self.engine.connect() as connection:
            return [_entry(row._mapping) for row in connection.execute(statement)]


def _row(entry: AuditEntry) -> dict[str, Any]:
    return {
        "at": entry.at,
        "actor": entry.actor[:255],
        "role": entry.role,
        "action": entry.action,
        "targets": _json(entry.targets),
        "outcome": entry.outcome,
        "detail": _detail(entry.detail),
        "remote_addr": (entry.remote_addr or None) and entry.remote_addr[:64],
    }


def _entry(row: RowMapping) -> AuditEntry:
    values = dict(row)
    with contextlib.suppress(ValueError):  # written by hand: shown as it is
        values["targets"] = json.loads(values["targets"]) if values["targets"] else None
    return AuditEntry(**values)


def _json(targets: Any) -> str:
    return json.dumps(targets, default=str, ensure_ascii=False)


def _detail(detail: str | None) -> str | None:
    return (detail or "")[:MAX_DETAIL_CHARS] or None
