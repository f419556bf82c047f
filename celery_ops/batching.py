"""Batches of tasks with callbacks and progress (*contract*):

    batch = celery_ops.batch(
        [resize.s(image) for image in images],
        name="thumbnails",
        on_success=notify.si("done"), on_failure=alert.si("failed"), on_finish=cleanup.si(),
        allow_failures=False,
    )
    batch.id; batch.add([resize.s(extra)]); batch.progress()

Members are ordinary tasks carrying the batch's id (header ``ops_batch``). ``on_failure`` is
sent at the first member that fails for good (after its retries), ``on_success`` when every
member succeeded, ``on_finish`` when every member reached a final state; each exactly once,
claimed in the store by whichever process records the deciding end. Without
``allow_failures``, the first failure also cancels the batch: its members that have not
started are revoked (they end REVOKED, and ``on_finish`` still comes).

Inside a member, ``celery_ops.current_batch()`` is its batch: what it ``.add()``s is counted
before it ends, so the batch stays open until those end too.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from celery_ops.core.task_batches import BatchProgress
from celery_ops.extension import CeleryOps, get_ops
from celery_ops.operations import Actor
from celery_ops.recording.headers import BATCH_HEADER


class Batch:
    """A batch of one app's tasks; ``id`` is what its members carry."""

    def __init__(self, ops: CeleryOps, batch_id: str) -> None:
        self.ops = ops
        self.id = batch_id

    def add(self, signatures: Iterable[Any]) -> list[str]:
        """Send more members while the batch is open; their task ids."""
        members = list(signatures)
        if not members:
            return []
        self.ops.operations(Actor.code()).batches.grow(self.id, len(members))
        return [_send(member, self.id) for member in members]

    def progress(self) -> BatchProgress:
        """How many members ended, by status, out of how many."""
        _, progress = self.ops.operations(Actor.code()).batches.get(self.id)
        return progress

    def __repr__(self) -> str:
        return f"<Batch {self.id}>"


def batch(
    signatures: Iterable[Any],
    name: str | None = None,
    on_success: Any = None,
    on_failure: Any = None,
    on_finish: Any = None,
    allow_failures: bool = False,
) -> Batch:
    """Send ``signatures`` as one batch (see the module's documentation)."""
    members = list(signatures)
    callbacks = {"success": on_success, "failure": on_failure, "finish": on_finish}
    apps = [signature.app for signature in members] + [
        callback.app for callback in callbacks.values() if callback is not None
    ]
    if not apps:
        raise ValueError("a batch needs at least one member or callback, to know its app")
    ops = get_ops(apps[0])
    given: dict[str, Mapping[str, Any] | None] = {
        which: dict(callback) if callback is not None else None
        for which, callback in callbacks.items()
    }
    batch_id = ops.operations(Actor.code()).batches.create(
        len(members), name, given, allow_failures
    )
    for member in members:
        _send(member, batch_id)
    return Batch(ops, batch_id)


def current_batch() -> Batch | None:
    """The batch of the task running in this thread, or None."""
    from celery import current_task

    task = current_task
    batch_id = getattr(getattr(task, "request", None), BATCH_HEADER, None) if task else None
    if not batch_id:
        return None
    return Batch(get_ops(task.app), str(batch_id))


def _send(signature: Any, batch_id: str) -> str:
    headers = dict(signature.options.get("headers") or {})
    headers[BATCH_HEADER] = batch_id
    return str(signature.apply_async(headers=headers).id)
