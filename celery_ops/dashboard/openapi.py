"""The OpenAPI 3.1 description of /api/, served at /api/openapi.json.

Request bodies are the JSON Schemas of the operations layer's own pydantic models
(celery_ops.operations.requests): what the document says is what the door checks.
"""

from __future__ import annotations

from typing import Any

from celery_ops.core import lifecycle as states
from celery_ops.operations.requests import DispatchRequest, Request, ScheduleChanges, Selection
from celery_ops.version import __version__


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*codes: int) -> dict[str, Any]:
    meaning = {
        400: "Malformed request (the body is not JSON, not an object, or nests too deeply)",
        401: "Not signed in: use HTTP Basic with a dashboard user",
        403: "Signed in without the role this needs; with a session, no CSRF token; or a "
        "state change a browser marked as sent from another site (error: cross_site)",
        404: "No such execution, schedule, queue or job",
        409: "The execution's state does not allow this",
        415: "The body is not sent as application/json",
        422: "A value the action cannot use, or an unknown task name",
        429: "Too many wrong passwords for this user or from this address: wait Retry-After "
        "seconds",
        503: "The store or the broker cannot be reached right now",
    }
    shown = (401, 422, 429, *codes)  # any input may be refused (a NUL in a path, say)
    if 400 in codes:  # a request with a body
        shown = (*shown, 415)
    return {str(code): _json(_ref("Error"), meaning[code]) for code in sorted(set(shown))}


def _linked(response: dict[str, Any], field: str, *operations: str) -> dict[str, Any]:
    """``response`` with OpenAPI links: what a client (or a stateful test) calls next with
    the ``field`` of its body, the path parameter of the same name."""
    parameters = {field: f"$response.body#/{field}"}
    links = {op: {"operationId": op, "parameters": parameters} for op in operations}
    return {**response, "links": links}


def _sent(description: str) -> dict[str, Any]:
    """A task sent: its id, and what to do with it next."""
    response = _json(_ref("TaskId"), description)
    return _linked(response, "task_id", "getTask", "retryTask", "cancelTask")


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
        "200": _linked(_json(done, "Done"), "job_id", "getJob"),
        "202": _linked(
            _json(running, "Running in the background: GET /api/jobs/{job_id}"),
            "job_id",
            "getJob",
        ),
        **_errors(400, 403, 422, 503),
    }


_JSON_ANY: dict[str, Any] = {}


def _request_schemas() -> dict[str, Any]:
    """The bodies the door reads, from its pydantic models."""
    models: tuple[type[Request], ...] = (DispatchRequest, ScheduleChanges, Selection)
    schemas: dict[str, Any] = {}
    for model in models:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
    selection = schemas["Selection"]
    schemas["NewSchedule"] = {
        "allOf": [_ref("ScheduleChanges")],
        "required": ["name", "task"],
        "description": "A schedule: name, task and one of cron, every or at",
    }
    schemas["CancelSelection"] = {
        **selection,
        "title": "CancelSelection",
        "properties": {**selection["properties"], "terminate": {"type": "boolean"}},
    }
    return schemas


def document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
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
                **_request_schemas(),
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
                        "task_name": {"type": ["string", "null"]},
                        "status": {"type": "string", "enum": list(states.ALL_STATUSES)},
                    },
                },
                "Schedule": {
                    "type": "object",
                    "description": "A row of celery_ops_schedules (see docs/scheduling.md)",
                    "properties": {"name": {"type": "string"}, "kind": {"type": "string"}},
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
                        "total": {"type": ["integer", "null"]},
                        "result": {"type": ["object", "null"]},
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
                        "detail": {"type": ["string", "null"]},
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
            "next_cursor": {"type": ["integer", "null"]},
        },
    }
    audit_page = {
        "type": "object",
        "properties": {
            "items": {"type": "array", "items": _ref("AuditEntry")},
            "next_cursor": {"type": ["integer", "null"]},
        },
    }
    schedule_page = {
        "type": "object",
        "properties": {
            "items": {"type": "array", "items": _ref("Schedule")},
            "next_cursor": {"type": ["string", "null"]},
        },
    }
    return {
        "/api/tasks": {
            "get": {
                "operationId": "listTasks",
                "summary": "Executions, newest first (keyset paging with cursor)",
                "parameters": [*filters, *page_params],
                "responses": {"200": _json(execution_page, "A page"), **_errors(403, 422)},
            }
        },
        "/api/tasks/dispatch": {
            "post": {
                "operationId": "dispatchTask",
                "summary": "Send a task",
                "requestBody": _body(_ref("DispatchRequest")),
                "responses": {"201": _sent("Sent"), **_errors(400, 403, 422)},
            }
        },
        "/api/tasks/{task_id}": {
            "get": {
                "operationId": "getTask",
                "summary": "One execution and its timeline",
                "parameters": [_TASK_ID],
                "responses": {"200": _json(_ref("Execution"), "Found"), **_errors(403, 404)},
            }
        },
        "/api/tasks/{task_id}/retry": {
            "post": {
                "operationId": "retryTask",
                "summary": "Send the task again with the exact arguments of its message",
                "parameters": [_TASK_ID],
                "responses": {
                    "201": _sent("The new execution's task id"),
                    **_errors(403, 404, 409),
                },
            }
        },
        "/api/tasks/{task_id}/cancel": {
            "post": {
                "operationId": "cancelTask",
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
                "operationId": "retryTasks",
                "summary": "Retry a selection, or everything a filter matches",
                "requestBody": _body(_ref("Selection")),
                "responses": _bulk_responses(),
            }
        },
        "/api/tasks/cancel": {
            "post": {
                "operationId": "cancelTasks",
                "summary": "Cancel (or terminate) a selection, or everything a filter matches",
                "requestBody": _body(_ref("CancelSelection")),
                "responses": _bulk_responses(),
            }
        },
        "/api/purge": {
            "post": {
                "operationId": "purgeTasks",
                "summary": "Delete execution records (and their timelines): a selection, what "
                "a filter matches, or those older_than a duration",
                "requestBody": _body(_ref("Selection")),
                "responses": _bulk_responses(),
            }
        },
        "/api/jobs/{job_id}": {
            "get": {
                "operationId": "getJob",
                "summary": "A background job: status, progress, result",
                "parameters": [_JOB_ID],
                "responses": {"200": _json(_ref("Job"), "The job"), **_errors(403, 404)},
            }
        },
        "/api/audit": {
            "get": {
                "operationId": "listAudit",
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
                "operationId": "getQueueStats",
                "summary": "Broker backlog and executions by status of one queue",
                "parameters": [_NAME],
                "responses": {"200": _json({"type": "object"}, "Statistics"), **_errors(403, 404)},
            }
        },
        "/api/schedules": {
            "get": {
                "operationId": "listSchedules",
                "summary": "Schedules by name",
                "parameters": [
                    page_params[0],
                    {"name": "cursor", "in": "query", "schema": {"type": "string"}},
                ],
                "responses": {"200": _json(schedule_page, "A page"), **_errors(403, 422)},
            },
            "post": {
                "operationId": "createSchedule",
                "summary": "Create a schedule (one of cron, every, at)",
                "requestBody": _body(_ref("NewSchedule")),
                "responses": {
                    "201": _linked(
                        _json(_ref("Schedule"), "Created"),
                        "name",
                        "getSchedule",
                        "updateSchedule",
                        "runSchedule",
                        "deleteSchedule",
                    ),
                    **_errors(400, 403, 422),
                },
            },
        },
        "/api/schedules/{name}": {
            "get": {
                "operationId": "getSchedule",
                "summary": "One schedule, its next 5 due times and recent runs",
                "parameters": [_NAME],
                "responses": {"200": _json(_ref("Schedule"), "Found"), **_errors(403, 404, 422)},
            },
            "patch": {
                "operationId": "updateSchedule",
                "summary": "Change the fields given",
                "parameters": [_NAME],
                "requestBody": _body(_ref("ScheduleChanges")),
                "responses": {
                    "200": _json(_ref("Schedule"), "Changed"),
                    **_errors(400, 403, 404, 422),
                },
            },
            "delete": {
                "operationId": "deleteSchedule",
                "summary": "Delete a schedule",
                "parameters": [_NAME],
                "responses": {"204": {"description": "Deleted"}, **_errors(403, 404)},
            },
        },
        "/api/schedules/{name}/run": {
            "post": {
                "operationId": "runSchedule",
                "summary": "Send the schedule's task once now",
                "parameters": [_NAME],
                "responses": {
                    "201": _sent("Sent"),
                    **_errors(403, 404, 422),
                },
            }
        },
        "/api/openapi.json": {
            "get": {
                "operationId": "getOpenAPI",
                "summary": "This document",
                "responses": {"200": _json(_JSON_ANY, "OpenAPI 3")},
            }
        },
    }
