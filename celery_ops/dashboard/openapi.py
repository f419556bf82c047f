"""The OpenAPI 3 description of /api/, served at /api/openapi.json."""

from __future__ import annotations

from typing import Any

from celery_ops.core import lifecycle as states
from celery_ops.version import __version__


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*codes: int) -> dict[str, Any]:
    meaning = {
        400: "Malformed request (the body is not JSON, or not an object)",
        401: "Not signed in: use HTTP Basic with a dashboard user",
        403: "Signed in without the role this needs (or, with a session, no CSRF token)",
        404: "No such execution, schedule, queue or job",
        409: "The execution's state does not allow this",
        422: "A value the action cannot use, or an unknown task name",
        503: "The store or the broker cannot be reached right now",
    }
    return {str(code): _json(_ref("Error"), meaning[code]) for code in (401, *codes)}


def _body(schema: dict[str, Any], required: bool = True) -> dict[str, Any]:
    return {"required": required, "content": {"application/json": {"schema": schema}}}


_TASK_ID = {"name": "task_id", "in": "path", "required": True, "schema": {"type": "string"}}
_NAME = {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}
#: Filters of GET /api/tasks that name one value.
_NAMED_FILTERS = ("task", "queue", "worker", "schedule", "tenant", "error_type", "parent", "group",
                  "retried_from")  # fmt: skip
_JOB_ID = {"name": "job_id", "in": "path", "required": True, "schema": {"type": "string"}}


def _bulk_responses() -> dict[str, Any]:
    done = {
        "type": "object",
        "description": "The job ended at once: its counts (retried/cancelled/deleted, "
        "matched, refused, errors)",
        "properties": {"job_id": {"type": "string"}, "status": {"type": "string"}},
    }
    running = {
        "type": "object",
        "properties": {"job_id": {"type": "string"}, "status": {"type": "string"}},
    }
    return {
        "200": _json(done, "Done"),
        "202": _json(running, "Running in the background: GET /api/jobs/{job_id}"),
        **_errors(400, 403, 422, 503),
    }


_SELECTION: dict[str, Any] = {
    "task_ids": {"type": "array", "items": {"type": "string"}, "maxItems": 100_000},
    "filter": {
        "type": "object",
        "description": "The query parameters of GET /api/tasks (status, task, queue, ...)",
    },
}
_JSON_ANY: dict[str, Any] = {}

_SCHEDULE_FIELDS: dict[str, Any] = {
    "task": {"type": "string"},
    "cron": {"type": "string", "description": "5 fields, or 6 with seconds last"},
    "every": {
        "type": "number",
        "minimum": 0,
        "exclusiveMinimum": True,
        "description": "interval in seconds",
    },
    "at": {"type": "string", "format": "date-time", "description": "run once at"},
    "timezone": {"type": "string", "description": "IANA name, for cron"},
    "args": {"type": "array"},
    "kwargs": {"type": "object"},
    "queue": {"type": "string"},
    "priority": {"type": "integer", "minimum": 0, "maximum": 255},
    "options": {"type": "object"},
    "enabled": {"type": "boolean"},
    "max_runs": {"type": "integer", "minimum": 1},
    "misfire": {"type": "string", "enum": ["once", "skip"]},
    "description": {"type": "string"},
    "start_at": {"type": "string", "format": "date-time"},
    "end_at": {"type": "string", "format": "date-time"},
}


def document() -> dict[str, Any]:
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "celery-ops API",
            "version": __version__,
            "description": "Executions, schedules and operator actions of one Celery app. "
            "Every call needs a dashboard user (HTTP Basic); actions need the operator role "
            "and are written to the audit log. Bodies are JSON (Content-Type: "
            "application/json).",
        },
        "components": {
            "securitySchemes": {"basic": {"type": "http", "scheme": "basic"}},
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error", "detail"],
                    "properties": {"error": {"type": "string"}, "detail": {"type": "string"}},
                },
                "TaskId": {
                    "type": "object",
                    "required": ["task_id"],
                    "properties": {"task_id": {"type": "string"}},
                },
                "Execution": {
                    "type": "object",
                    "description": "A row of celery_ops_executions (see docs/recording.md)",
                    "properties": {
                        "id": {"type": "integer"},
                        "task_id": {"type": "string"},
                        "task_name": {"type": "string", "nullable": True},
                        "status": {"type": "string", "enum": list(states.ALL_STATUSES)},
                    },
                },
                "Schedule": {
                    "type": "object",
                    "description": "A row of celery_ops_schedules (see docs/scheduling.md)",
                    "properties": {"name": {"type": "string"}, "kind": {"type": "string"}},
                },
                "Selection": {
                    "type": "object",
                    "description": "Either task_ids or filter",
                    "properties": _SELECTION,
                },
                "CancelSelection": {
                    "type": "object",
                    "description": "Either task_ids or filter; terminate running ones if asked",
                    "properties": {**_SELECTION, "terminate": {"type": "boolean"}},
                },
                "PurgeSelection": {
                    "type": "object",
                    "description": "One of task_ids, filter, or older_than (with status)",
                    "properties": {
                        **_SELECTION,
                        "older_than": {"type": "string", "example": "7d"},
                        "status": {
                            "oneOf": [
                                {"type": "string"},
                                {"type": "array", "items": {"type": "string"}},
                            ]
                        },
                    },
                },
                "Job": {
                    "type": "object",
                    "required": ["id", "action", "status", "done", "total", "result"],
                    "properties": {
                        "id": {"type": "string"},
                        "action": {"type": "string"},
                        "status": {
                            "type": "string",
                            "enum": ["queued", "running", "done", "failed"],
                        },
                        "done": {"type": "integer"},
                        "total": {"type": "integer", "nullable": True},
                        "result": {"type": "object", "nullable": True},
                    },
                },
                "AuditEntry": {
                    "type": "object",
                    "required": ["at", "actor", "action", "targets", "outcome", "detail"],
                    "properties": {
                        "at": {"type": "string", "format": "date-time"},
                        "actor": {"type": "string"},
                        "action": {"type": "string"},
                        "targets": {},
                        "outcome": {"type": "string"},
                        "detail": {"type": "string", "nullable": True},
                    },
                },
            },
        },
        "security": [{"basic": []}],
        "paths": _paths(),
    }


def _paths() -> dict[str, Any]:
    page_params = [
        {
            "name": "limit",
            "in": "query",
            "schema": {"type": "integer", "minimum": 1, "maximum": 500},
        },
        {
            "name": "cursor",
            "in": "query",
            "schema": {"type": "integer", "minimum": 1, "maximum": 2**63 - 1},
        },
    ]
    filters = [
        {
            "name": "status",
            "in": "query",
            "schema": {"type": "string", "enum": list(states.ALL_STATUSES)},
        },
        *({"name": name, "in": "query", "schema": {"type": "string"}} for name in _NAMED_FILTERS),
        {
            "name": "search",
            "in": "query",
            "description": "text the shown arguments contain (3+ characters); `text` is "
            "accepted as another name for it",
            "schema": {"type": "string"},
        },
        {"name": "since", "in": "query", "schema": {"type": "string", "format": "date-time"}},
        {"name": "until", "in": "query", "schema": {"type": "string", "format": "date-time"}},
    ]
    execution_page = {
        "type": "object",
        "properties": {
            "items": {"type": "array", "items": _ref("Execution")},
            "next_cursor": {"type": "integer", "nullable": True},
        },
    }
    audit_page = {
        "type": "object",
        "properties": {
            "items": {"type": "array", "items": _ref("AuditEntry")},
            "next_cursor": {"type": "integer", "nullable": True},
        },
    }
    schedule_page = {
        "type": "object",
        "properties": {
            "items": {"type": "array", "items": _ref("Schedule")},
            "next_cursor": {"type": "string", "nullable": True},
        },
    }
    return {
        "/api/tasks": {
            "get": {
                "summary": "Executions, newest first (keyset paging with cursor)",
                "parameters": [*filters, *page_params],
                "responses": {"200": _json(execution_page, "A page"), **_errors(403, 422)},
            }
        },
        "/api/tasks/dispatch": {
            "post": {
                "summary": "Send a task",
                "requestBody": _body(
                    {
                        "type": "object",
                        "required": ["task"],
                        "properties": {
                            "task": {"type": "string"},
                            "args": {"type": "array"},
                            "kwargs": {"type": "object"},
                            "queue": {"type": "string"},
                            "countdown": {"type": "number", "minimum": 0},
                            "eta": {"type": "string", "format": "date-time"},
                            "priority": {"type": "integer", "minimum": 0, "maximum": 255},
                        },
                    }
                ),
                "responses": {"201": _json(_ref("TaskId"), "Sent"), **_errors(400, 403, 422)},
            }
        },
        "/api/tasks/{task_id}": {
            "get": {
                "summary": "One execution and its timeline",
                "parameters": [_TASK_ID],
                "responses": {"200": _json(_ref("Execution"), "Found"), **_errors(403, 404)},
            }
        },
        "/api/tasks/{task_id}/retry": {
            "post": {
                "summary": "Send the task again with the exact arguments of its message",
                "parameters": [_TASK_ID],
                "responses": {
                    "201": _json(_ref("TaskId"), "The new execution's task id"),
                    **_errors(403, 404, 409),
                },
            }
        },
        "/api/tasks/{task_id}/cancel": {
            "post": {
                "summary": "Revoke a task not started; terminate a running one if asked",
                "parameters": [_TASK_ID],
                "requestBody": _body(
                    {"type": "object", "properties": {"terminate": {"type": "boolean"}}},
                    required=False,
                ),
                "responses": {
                    "200": _json({"type": "object"}, "Revoked"),
                    **_errors(400, 403, 404, 409, 422),
                },
            }
        },
        "/api/tasks/retry": {
            "post": {
                "summary": "Retry a selection, or everything a filter matches",
                "requestBody": _body(_ref("Selection")),
                "responses": _bulk_responses(),
            }
        },
        "/api/tasks/cancel": {
            "post": {
                "summary": "Cancel (or terminate) a selection, or everything a filter matches",
                "requestBody": _body(_ref("CancelSelection")),
                "responses": _bulk_responses(),
            }
        },
        "/api/purge": {
            "post": {
                "summary": "Delete execution records (and their timelines): a selection, what "
                "a filter matches, or those older_than a duration",
                "requestBody": _body(_ref("PurgeSelection")),
                "responses": _bulk_responses(),
            }
        },
        "/api/jobs/{job_id}": {
            "get": {
                "summary": "A background job: status, progress, result",
                "parameters": [_JOB_ID],
                "responses": {"200": _json(_ref("Job"), "The job"), **_errors(403, 404)},
            }
        },
        "/api/audit": {
            "get": {
                "summary": "The audit log, newest first (admin role)",
                "parameters": [
                    *(
                        {"name": name, "in": "query", "schema": {"type": "string"}}
                        for name in ("actor", "action")
                    ),
                    *(
                        {
                            "name": name,
                            "in": "query",
                            "schema": {"type": "string", "format": "date-time"},
                        }
                        for name in ("since", "until")
                    ),
                    *page_params,
                ],
                "responses": {"200": _json(audit_page, "A page"), **_errors(403, 422)},
            }
        },
        "/api/queues/{name}/stats": {
            "get": {
                "summary": "Broker backlog and executions by status of one queue",
                "parameters": [_NAME],
                "responses": {"200": _json({"type": "object"}, "Statistics"), **_errors(403, 404)},
            }
        },
        "/api/schedules": {
            "get": {
                "summary": "Schedules by name",
                "parameters": [
                    page_params[0],
                    {"name": "cursor", "in": "query", "schema": {"type": "string"}},
                ],
                "responses": {"200": _json(schedule_page, "A page"), **_errors(403, 422)},
            },
            "post": {
                "summary": "Create a schedule (one of cron, every, at)",
                "requestBody": _body(
                    {
                        "type": "object",
                        "required": ["name", "task"],
                        "properties": {"name": {"type": "string"}, **_SCHEDULE_FIELDS},
                    }
                ),
                "responses": {"201": _json(_ref("Schedule"), "Created"), **_errors(400, 403, 422)},
            },
        },
        "/api/schedules/{name}": {
            "get": {
                "summary": "One schedule, its next 5 due times and recent runs",
                "parameters": [_NAME],
                "responses": {"200": _json(_ref("Schedule"), "Found"), **_errors(403, 404, 422)},
            },
            "patch": {
                "summary": "Change the fields given",
                "parameters": [_NAME],
                "requestBody": _body({"type": "object", "properties": _SCHEDULE_FIELDS}),
                "responses": {
                    "200": _json(_ref("Schedule"), "Changed"),
                    **_errors(400, 403, 404, 422),
                },
            },
            "delete": {
                "summary": "Delete a schedule",
                "parameters": [_NAME],
                "responses": {"204": {"description": "Deleted"}, **_errors(403, 404)},
            },
        },
        "/api/schedules/{name}/run": {
            "post": {
                "summary": "Send the schedule's task once now",
                "parameters": [_NAME],
                "responses": {
                    "201": _json(_ref("TaskId"), "Sent"),
                    **_errors(403, 404, 422),
                },
            }
        },
        "/api/openapi.json": {
            "get": {
                "summary": "This document",
                "responses": {"200": _json(_JSON_ANY, "OpenAPI 3")},
            }
        },
    }
