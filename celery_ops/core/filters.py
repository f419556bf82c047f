"""What a listing of executions is narrowed to: one value, read by the store and built from a
query string by ``celery_ops.operations.filters`` for every front end."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

#: Orders a list of executions can take: newest first (by row id, the order the store first
#: heard of each task), by last change, slowest run first.
LIST_ORDERS = ("newest", "changed", "slowest")
#: A list by last change or by runtime sorts this many of the newest matches: bounded work
#: on any store, where no index serves that order for every filter.
SORTED_WINDOW = 10_000

#: Shorter search text cannot use the trigram and word indexes.
MIN_SEARCH_CHARS = 3


@dataclass(frozen=True)
class ExecutionFilter:
    """What a listing of executions is narrowed to; None (or no status) means any."""

    statuses: tuple[str, ...] = ()
    task_name: str | None = None
    queue: str | None = None
    worker_id: str | None = None
    schedule_name: str | None = None
    tenant_id: str | None = None
    #: The last status change is at or after ``since`` and before ``until``.
    since: datetime | None = None
    until: datetime | None = None
    parent_id: str | None = None
    group_id: str | None = None
    retried_from: str | None = None
    error_type: str | None = None
    batch_id: str | None = None
    #: Text the shown arguments contain (3 characters or more), served by the search index.
    search: str | None = None
    #: Only these task ids.
    task_ids: tuple[str, ...] | None = None
    #: Only the dead set: final failures nobody retried or discarded yet.
    dead: bool | None = None

    def described(self) -> dict[str, Any]:
        """The conditions set, for an audit entry or a confirmation page."""
        described: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value in (None, ()):
                continue
            if isinstance(value, datetime):
                value = value.isoformat()
            elif isinstance(value, tuple):
                value = list(value)
            described[f.name] = value
        return described

    @property
    def is_empty(self) -> bool:
        """Whether it matches every execution."""
        return not self.described()
