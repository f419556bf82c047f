"""The OpenAPI description of the export routes."""

from __future__ import annotations

from typing import Any

from celery_ops.dashboard.openapi_parts import errors, json_content, linked, request_body
from celery_ops.operations.exports import FORMATS

_EXPORT_ID = {"name": "export_id", "in": "path", "required": True, "schema": {"type": "string"}}


def exports_paths() -> dict[str, Any]:
    started = {"type": "object", "required": ["id"], "properties": {"id": {"type": "string"}}}
    status = {
        "type": "object",
        "required": ["id", "status", "done", "total"],
        "properties": {
            "id": {"type": "string"},
            "status": {"type": "string", "enum": ["queued", "running", "done", "failed"]},
            "done": {"type": "integer", "description": "Executions written so far"},
            "total": {"type": ["integer", "null"], "description": "Executions to write"},
        },
    }
    body = {
        "type": "object",
        "properties": {
            "filter": {
                "type": "object",
                "description": "The same keys as GET /api/tasks's query: status, task, queue, "
                "worker, schedule, tenant, since, until, search...",
            },
            "format": {"type": "string", "enum": list(FORMATS), "default": "csv"},
        },
    }
    return {
        "/api/exports": {
            "post": {
                "operationId": "startExport",
                "summary": "Export what a filter matches, as CSV or JSON Lines, in the "
                "background (audited); the file is kept a day",
                "requestBody": request_body(body),
                "responses": {
                    "202": linked(
                        json_content(started, "Started"),
                        "id",
                        "getExport",
                        "downloadExport",
                        parameter="export_id",
                    ),
                    **errors(400, 403),
                },
            }
        },
        "/api/exports/{export_id}": {
            "get": {
                "operationId": "getExport",
                "summary": "How far an export got",
                "parameters": [_EXPORT_ID],
                "responses": {"200": json_content(status, "The export"), **errors(403, 404)},
            }
        },
        "/api/exports/{export_id}/download": {
            "get": {
                "operationId": "downloadExport",
                "summary": "The file of a finished export, streamed",
                "parameters": [_EXPORT_ID],
                "responses": {
                    "200": {
                        "description": "The file",
                        "content": {
                            "text/csv": {"schema": {"type": "string"}},
                            "application/jsonl": {"schema": {"type": "string"}},
                        },
                    },
                    **errors(403, 404, 409),
                },
            }
        },
    }
