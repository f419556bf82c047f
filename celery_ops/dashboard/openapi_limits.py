"""The OpenAPI description of the limit routes."""

from __future__ import annotations

from typing import Any

from celery_ops.dashboard.openapi_parts import errors, json_content, request_body

_TASK = {"name": "task_name", "in": "path", "required": True, "schema": {"type": "string"}}
_KEY = {
    "type": ["array", "null"],
    "items": {"type": "string"},
    "description": "Argument names whose values make separate limits (per tenant, say)",
}


def limits_paths() -> dict[str, Any]:
    limit = {
        "type": "object",
        "required": ["task", "rate", "rate_key", "concurrency", "concurrency_key"],
        "properties": {
            "task": {"type": "string"},
            "rate": {"type": ["string", "null"], "examples": ["10/s", "100/m"]},
            "rate_key": {"type": "array", "items": {"type": "string"}},
            "concurrency": {"type": ["integer", "null"], "minimum": 1},
            "concurrency_key": {"type": "array", "items": {"type": "string"}},
        },
    }
    change = {
        "description": 'One of {"rate": "10/s"} or {"concurrency": 2} (null removes that '
        'part), with an optional "key"',
        "oneOf": [
            {
                "type": "object",
                "required": ["rate"],
                "properties": {"rate": {"type": ["string", "null"]}, "key": _KEY},
                "additionalProperties": False,
            },
            {
                "type": "object",
                "required": ["concurrency"],
                "properties": {
                    "concurrency": {"type": ["integer", "null"], "minimum": 1},
                    "key": _KEY,
                },
                "additionalProperties": False,
            },
        ],
    }
    listing = {"type": "object", "properties": {"items": {"type": "array", "items": limit}}}
    return {
        "/api/limits": {
            "get": {
                "operationId": "listLimits",
                "summary": "Every task type's cluster-wide rate and concurrency limits",
                "responses": {"200": json_content(listing, "The limits"), **errors(403)},
            }
        },
        "/api/limits/{task_name}": {
            "put": {
                "operationId": "setLimit",
                "summary": "Set a task type's rate or concurrency limit live (audited); it "
                "wins over the settings; workers follow within seconds",
                "parameters": [_TASK],
                "requestBody": request_body(change),
                "responses": {"200": json_content(limit, "The limits now"), **errors(403, 422)},
            },
            "delete": {
                "operationId": "removeLimit",
                "summary": "End both limits of a task type (audited)",
                "parameters": [_TASK],
                "responses": {"204": {"description": "Removed"}, **errors(403, 422)},
            },
        },
    }
