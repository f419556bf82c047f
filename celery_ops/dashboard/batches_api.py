"""Batches of tasks through the JSON API: list them, one with its progress and members,
cancel one."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify

from celery_ops.core.filters import ExecutionFilter
from celery_ops.core.records import BatchRecord
from celery_ops.core.task_batches import BatchProgress
from celery_ops.dashboard.api import api, execution_json, signed_in
from celery_ops.dashboard.auth import door

#: Members listed with a batch; the rest through GET /api/tasks?batch=<id>.
MEMBERS_SHOWN = 100


@api.get("/batches")
@signed_in
def list_batches() -> Response:
    return jsonify({"items": [batch_json(record) for record in door().batches.page(50)]})


@api.get("/batches/<batch_id>")
@signed_in
def show_batch(batch_id: str) -> Response:
    operations = door()
    record, progress = operations.batches.get(batch_id)
    members = operations.executions.page(ExecutionFilter(batch_id=batch_id), MEMBERS_SHOWN)
    return jsonify(
        batch_json(record, progress) | {"members": [execution_json(row) for row in members.items]}
    )


@api.post("/batches/<batch_id>/cancel")
@signed_in
def cancel_batch(batch_id: str) -> Response:
    return jsonify({"id": batch_id, "revoked": door().batches.cancel(batch_id)})


def batch_json(record: BatchRecord, progress: BatchProgress | None = None) -> dict[str, Any]:
    shown: dict[str, Any] = {
        "id": record.id,
        "name": record.name,
        "created_at": record.created_at.isoformat(),
        "created_by": record.created_by,
        "total": record.total,
        "allow_failures": record.allow_failures,
        "state": batch_state(record),
        "callbacks": {
            which: {
                "set": getattr(record, f"on_{which}") is not None,
                "sent_at": _iso(getattr(record, f"{which}_sent_at")),
            }
            for which in ("success", "failure", "finish")
        },
        "cancelled_at": _iso(record.cancelled_at),
    }
    if progress is not None:
        shown["progress"] = progress.as_dict()
    return shown


def batch_state(record: BatchRecord) -> str:
    if record.finish_sent_at is not None:
        return "finished"
    if record.cancelled_at is not None:
        return "cancelled"
    return "running"


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None
