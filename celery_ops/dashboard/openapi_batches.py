"""The OpenAPI description of the batch routes."""

from __future__ import annotations

from typing import Any

from celery_ops.dashboard.openapi_parts import errors, json_content

_BATCH_ID = {"name": "batch_id", "in": "path", "required": True, "schema": {"type": "string"}}


def batches_paths() -> dict[str, Any]:
    callback = {
        "type": "object",
        "properties": {"set": {"type": "boolean"}, "sent_at": {"type": ["string", "null"]}},
    }
    batch = {
        "type": "object",
        "required": ["id", "total", "state", "callbacks"],
        "properties": {
            "id": {"type": "string"},
            "name": {"type": ["string", "null"]},
            "created_at": {"type": "string", "format": "date-time"},
            "created_by": {"type": "string"},
            "total": {"type": "integer"},
            "allow_failures": {"type": "boolean"},
            "state": {"type": "string", "enum": ["running", "finished", "cancelled"]},
            "callbacks": {
                "type": "object",
                "properties": {name: callback for name in ("success", "failure", "finish")},
            },
            "cancelled_at": {"type": ["string", "null"]},
            "progress": {
                "type": "object",
                "description": "total, ended, succeeded, failed, counts by status, fraction",
            },
            "members": {"type": "array", "items": {"type": "object"}},
        },
    }
    listing = {"type": "object", "properties": {"items": {"type": "array", "items": batch}}}
    cancelled = {
        "type": "object",
        "properties": {"id": {"type": "string"}, "revoked": {"type": "integer"}},
    }
    return {
        "/api/batches": {
            "get": {
                "operationId": "listBatches",
                "summary": "The latest batches of tasks (celery_ops.batch), newest first",
                "responses": {"200": json_content(listing, "Batches"), **errors(403)},
            }
        },
        "/api/batches/{batch_id}": {
            "get": {
                "operationId": "getBatch",
                "summary": "One batch: its progress, callbacks and first 100 members",
                "parameters": [_BATCH_ID],
                "responses": {"200": json_content(batch, "The batch"), **errors(403, 404, 422)},
            }
        },
        "/api/batches/{batch_id}/cancel": {
            "post": {
                "operationId": "cancelBatch",
                "summary": "Cancel a batch: revoke its members that have not started (audited)",
                "parameters": [_BATCH_ID],
                "responses": {
                    "200": json_content(cancelled, "Cancelled"),
                    **errors(403, 404, 422),
                },
            }
        },
    }
