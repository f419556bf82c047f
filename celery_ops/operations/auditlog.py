"""Reading the audit log (admins)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from celery_ops.core.clock import parse_instant
from celery_ops.core.errors import InvalidInput
from celery_ops.core.records import AuditEntry
from celery_ops.operations.actors import ADMIN
from celery_ops.operations.errors import store_errors
from celery_ops.operations.services import OperationGroup
from celery_ops.store.audit import AuditQuery

MAX_PAGE = 500
QUERY_KEYS = frozenset({"actor", "action", "since", "until"})


@dataclass(frozen=True)
class AuditPage:
    entries: list[AuditEntry]
    next_cursor: int | None


class AuditLog(OperationGroup):
    def page(
        self, filters: Mapping[str, Any], limit: int = 50, cursor: int | None = None
    ) -> AuditPage:
        """Entries newest first, narrowed by ``actor``, ``action``, ``since``, ``until``."""
        self._require(ADMIN)
        unknown = sorted(set(filters) - QUERY_KEYS)
        if unknown:
            raise InvalidInput(
                f"unknown filter {', '.join(unknown)}: use actor, action, since, until"
            )
        values: dict[str, Any] = {}
        for key in QUERY_KEYS:
            raw = filters.get(key)
            text = str(raw).strip() if raw is not None else ""
            if not text:
                continue
            if "\x00" in text or len(text) > 255:
                raise InvalidInput(f"{key}: at most 255 characters and no NUL character")
            if key in ("since", "until"):
                try:
                    values[key] = parse_instant(text, key)
                except ValueError as exc:
                    raise InvalidInput(str(exc)) from None
            else:
                values[key] = text
        limit = max(1, min(limit, MAX_PAGE))
        query = AuditQuery(**values, before_id=cursor, limit=limit + 1)
        with store_errors():
            entries = self._services.store.audit.page(query)
        page, more = entries[:limit], len(entries) > limit
        return AuditPage(page, page[-1].id if more and page else None)
