"""Batches of tasks with callbacks: made, grown, read, cancelled, and settled.

Settling is what the recorder asks for after it wrote the end of a batch's member: the
batch's counts are read, and each callback they call for is claimed by a conditional update
of its ``*_sent_at`` (of every process that settles the same batch at once, exactly one
claims it) and sent by the one that claimed it.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from celery_ops.core import lifecycle as states
from celery_ops.core.errors import InvalidInput, NotFound
from celery_ops.core.filters import ExecutionFilter
from celery_ops.core.records import BatchRecord
from celery_ops.core.task_batches import CALLBACKS, FAILURE_CALLBACK, BatchProgress
from celery_ops.operations.actors import OPERATOR, VIEWER
from celery_ops.operations.errors import store_errors
from celery_ops.operations.requests import checked_identifier
from celery_ops.operations.services import OperationGroup
from celery_ops.store import NotFound as StoreNotFound

#: Members revoked by one cancel, at most (the rest are refused when they come).
CANCEL_PAGE = 10_000
MAX_NAME = 255


class BatchOperations(OperationGroup):
    # Made by the user's code (celery_ops.batch), an operator's role

    def create(
        self,
        members: int,
        name: str | None = None,
        callbacks: Mapping[str, Mapping[str, Any] | None] | None = None,
        allow_failures: bool = False,
    ) -> str:
        """A new batch expecting ``members`` members; its id (members carry it)."""
        batch_id = str(uuid.uuid4())
        targets = {"batch": batch_id, "name": name, "members": members}
        with self._operation("batch-create", targets, OPERATOR):
            if name is not None and (not isinstance(name, str) or len(name) > MAX_NAME):
                raise InvalidInput(f"a batch's name is text of at most {MAX_NAME} characters")
            if not isinstance(members, int) or members < 0:
                raise InvalidInput("a batch has zero or more members")
            given = dict(callbacks or {})
            unknown = sorted(set(given) - set(CALLBACKS))
            if unknown:
                raise InvalidInput(f"unknown callback(s) {', '.join(unknown)}")
            row: dict[str, Any] = {
                "id": batch_id,
                "name": name,
                "created_at": self._services.clock.now(),
                "created_by": self.actor.name,
                "total": members,
                "allow_failures": bool(allow_failures),
            }
            for which in CALLBACKS:
                signature = given.get(which)
                row[f"on_{which}"] = _signature_text(signature) if signature else None
            with store_errors():
                self._services.store.task_batches.create(row)
        return batch_id

    def grow(self, batch_id: str, members: int) -> None:
        """Count ``members`` more in an open batch (before they are sent)."""
        with self._operation("batch-add", {"batch": batch_id, "members": members}, OPERATOR):
            checked_identifier(batch_id, "a batch id")
            if not isinstance(members, int) or members < 1:
                raise InvalidInput("add one member or more")
            try:
                self._services.store.task_batches.grow(batch_id, members)
            except StoreNotFound as exc:
                raise NotFound(str(exc)) from None

    # Reading (viewer)

    def get(self, batch_id: str) -> tuple[BatchRecord, BatchProgress]:
        self._require(VIEWER)
        checked_identifier(batch_id, "a batch id")
        store = self._services.store.task_batches
        with store_errors():
            record = store.get(batch_id)
            if record is None:
                raise NotFound(f"no batch {batch_id!r}")
            return record, BatchProgress(record.total, store.counts(batch_id))

    def page(self, limit: int = 50) -> list[BatchRecord]:
        self._require(VIEWER)
        with store_errors():
            return self._services.store.task_batches.page(max(1, min(limit, 500)))

    # Cancelling (operator)

    def cancel(self, batch_id: str) -> int:
        """Mark the batch cancelled and revoke its members that have not started; how many."""
        with self._operation("batch-cancel", {"batch": batch_id}, OPERATOR) as audited:
            record, _ = self.get(batch_id)
            with store_errors():
                self._services.store.task_batches.cancel(record.id, self._services.clock.now())
            revoked = self._revoke_waiting(record.id)
            audited.targets["revoked"] = revoked
            return revoked

    # The recorder's (the product itself)

    def settle(self, batch_ids: Iterable[str]) -> list[str]:
        """Send the callbacks the counts of these batches call for, each exactly once over
        every process; what this process sent (``"<batch>:<callback>"``)."""
        sent = []
        store = self._services.store.task_batches
        for batch_id in dict.fromkeys(batch_ids):
            with store_errors():
                record = store.get(batch_id)
                if record is None:
                    continue
                progress = BatchProgress(record.total, store.counts(batch_id))
            for which in progress.due():
                if getattr(record, f"{which}_sent_at") is not None:
                    continue
                with store_errors():
                    if not store.claim(batch_id, which, self._services.clock.now()):
                        continue  # another process claimed it
                try:
                    self._send(record, which)
                except Exception:
                    # Not sent: the claim goes back, for the next settling to send it.
                    with store_errors():
                        store.unclaim(batch_id, which)
                    raise
                sent.append(f"{batch_id}:{which}")
        return sent

    def _send(self, record: BatchRecord, which: str) -> None:
        targets = {"batch": record.id, "callback": which}
        with self._operation("batch-callback", targets, OPERATOR) as audited:
            if which == FAILURE_CALLBACK and not record.allow_failures:
                with store_errors():
                    self._services.store.task_batches.cancel(record.id, self._services.clock.now())
                audited.targets["revoked"] = self._revoke_waiting(record.id)
            text = getattr(record, f"on_{which}")
            if text:
                audited.targets["task_id"] = self._services.broker.send_signature(json.loads(text))

    def _revoke_waiting(self, batch_id: str) -> int:
        waiting = ExecutionFilter(
            batch_id=batch_id, statuses=(states.PENDING, states.RECEIVED, states.RETRY)
        )
        with store_errors():
            rows = self._services.store.executions(waiting, CANCEL_PAGE)
        ids = [row.task_id for row in rows]
        if ids:
            self._services.broker.revoke(ids)
        return len(ids)


def _signature_text(signature: Mapping[str, Any]) -> str:
    try:
        return json.dumps(dict(signature))
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"a callback must be a task signature JSON can hold: {exc}") from None
