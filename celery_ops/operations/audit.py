"""Exactly one audit row per operation: what was asked, by whom, on what, and how it ended.

Every state-changing operation runs inside :meth:`AuditTrail.operation`, which checks the
actor's role first (a refusal is written as ``denied``), runs the operation, and writes one
row: ``ok``, ``partial`` (with counts), or ``failed`` with the reason. Where the change is in
the store, the row is written in the change's own transaction (:meth:`Audited.commit`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

from celery_ops.core.clock import Clock
from celery_ops.core.errors import Denied, OperationError
from celery_ops.core.records import AuditEntry
from celery_ops.operations.actors import Actor
from celery_ops.operations.errors import from_store
from celery_ops.store import StoreError
from celery_ops.store.audit import AuditStore

logger = logging.getLogger("celery_ops.operations")

T = TypeVar("T")

OK, DENIED, FAILED, PARTIAL, ACCEPTED = "ok", "denied", "failed", "partial", "accepted"


@dataclass
class Audited:
    """An operation under way; the block running it may add targets, mark it partial, or
    write its row in the change's transaction with :meth:`commit`."""

    trail: AuditTrail
    actor: Actor
    action: str
    targets: dict[str, Any] = field(default_factory=dict)
    outcome: str = OK
    detail: str | None = None
    written: bool = False

    def entry(self, outcome: str | None = None) -> AuditEntry:
        return self.trail.entry(
            self.actor, self.action, self.targets, outcome or self.outcome, self.detail
        )

    def commit(self, change: Callable[[AuditEntry], T]) -> T:
        """Run ``change``, a store call writing the given entry in its own transaction."""
        result = change(self.entry())
        self.written = True
        return result

    def handed_over(self) -> None:
        """The row was written by someone else, who completes it (a background job)."""
        self.written = True

    def nothing_happened(self) -> None:
        """The operation found nothing to change: no row (the reaper, a sync at start-up)."""
        self.written = True


class AuditTrail:
    """Writes the audit rows of one store."""

    def __init__(self, store: AuditStore, clock: Clock) -> None:
        self.store = store
        self.clock = clock

    def entry(
        self, actor: Actor, action: str, targets: Any, outcome: str, detail: str | None = None
    ) -> AuditEntry:
        return AuditEntry(
            at=self.clock.now(),
            actor=actor.name,
            action=action,
            targets=targets,
            outcome=outcome,
            detail=detail,
            role=actor.role,
            remote_addr=actor.remote_addr,
        )

    def write(self, entry: AuditEntry) -> int | None:
        """Write one row; with the store down, log it instead (the caller's error is what
        the person who asked must hear about)."""
        try:
            return self.store.append(entry)
        except StoreError as exc:
            logger.error("celery-ops: could not write the audit row %r: %s", entry, exc)
            return None

    @contextmanager
    def operation(
        self, actor: Actor, action: str, targets: dict[str, Any], role: str
    ) -> Iterator[Audited]:
        """Check ``role``, run the block, write one row however it ends."""
        audited = Audited(self, actor, action, dict(targets))
        if not actor.may(role):
            audited.detail = f"needs the {role} role"
            self.write(audited.entry(DENIED))
            raise Denied(f"{action} needs the {role} role")
        try:
            yield audited
        except Exception as exc:
            if not audited.written:
                audited.detail = _reason(exc)
                self.write(audited.entry(FAILED))
            if isinstance(exc, StoreError):
                raise from_store(exc) from exc
            raise
        if not audited.written:
            self.write(audited.entry())


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OperationError | StoreError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"
