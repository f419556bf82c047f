"""The OpenAPI 3.1 description of /api/, served at /api/openapi.json.

Request bodies are the JSON Schemas of the operations layer's own pydantic models
(celery_ops.operations.requests): what the document says is what the door checks.
"""

from __future__ import annotations

from typing import Any

from celery_ops.core import lifecycle as states
from celery_ops.dashboard.openapi_batches import batches_paths
from celery_ops.dashboard.openapi_cluster import cluster_paths, cluster_schemas
from celery_ops.dashboard.openapi_exports import exports_paths
from celery_ops.dashboard.openapi_limits import limits_paths
from celery_ops.dashboard.openapi_metrics import metrics_paths, metrics_schemas
from celery_ops.dashboard.openapi_parts import errors, json_content, linked, ref, request_body
from celery_ops.operations.requests import DispatchRequest, Request, ScheduleChanges, Selection
from celery_ops.version import __version__


def _sent(description: str) -> dict[str, Any]:
    """A task sent: its id, and what to do with it next."""
    response = json_content(ref("TaskId"), description)
    return linked(response, "task_id", "getTask", "retryTask", "cancelTask")


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
        "200": linked(json_content(done, "Done"), "job_id", "getJob"),
        "202": linked(
            json_content(running, "Running in the background: GET /api/jobs/{job_id}"),
            "job_id",
            "getJob",
        ),
        **errors(400, 403, 422, 503),
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
        "allOf": [ref("ScheduleChanges")],
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
            "Every call needs a dashboard user (HTTP Basic, or a bearer token made with "
            "`ops users token NAME`); actions need the operator role "
            "and are written to the audit log. Bodies are JSON (Content-Type: "
            "application/json).",
        },
        "components": {
            "securitySchemes": {
                "basic": {"type": "http", "scheme": "basic"},
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A dashboard user's token (`ops users token NAME`).",
                },
            },
            "schemas": {
                **_request_schemas(),
                **cluster_schemas(),
                **metrics_schemas(),
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
                        "progress": {
                            "description": "How far the task said it got, in its latest "
                            "report (celery_ops.report_progress); null if it never said",
                            "type": ["object", "null"],
                            "required": ["current", "total", "note", "at"],
                            "properties": {
                                "current": {"type": "number"},
                                "total": {"type": ["number", "null"]},
                                "note": {"type": ["string", "null"]},
                                "at": {"type": "string", "format": "date-time"},
                            },
                        },
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
        "security": [{"basic": []}, {"bearer": []}],
        "paths": {
            **_paths(),
            **cluster_paths(),
            **metrics_paths(),
            **exports_paths(),
            **limits_paths(),
            **batches_paths(),
        },
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
        {
            "name": "dead",
            "in": "query",
            "description": "only the dead set: final failures nobody retried or discarded",
            "schema": {"type": "boolean"},
        },
    ]
    execution_page = {
        "type": "object",
        "properties": {
            "items": {"type": "array", "items": ref("Execution")},
            "next_cursor": {"type": ["integer", "null"]},
        },
    }
    audit_page = {
        "type": "object",
        "properties": {
            "items": {"type": "array", "items": ref("AuditEntry")},
            "next_cursor": {"type": ["integer", "null"]},
        },
    }
    schedule_page = {
        "type": "object",
        "properties": {
            "items": {"type": "array", "items": ref("Schedule")},
            "next_cursor": {"type": ["string", "null"]},
        },
    }
    return {
        "/api/tasks": {
            "get": {
                "operationId": "listTasks",
                "summary": "Executions, newest first (keyset paging with cursor)",
                "parameters": [*filters, *page_params],
                "responses": {
                    "200": json_content(execution_page, "A page"),
                    **errors(403, 422),
                },
            }
        },
        "/api/tasks/dispatch": {
            "post": {
                "operationId": "dispatchTask",
                "summary": "Send a task",
                "requestBody": request_body(ref("DispatchRequest")),
                "responses": {"201": _sent("Sent"), **errors(400, 403, 422)},
            }
        },
        "/api/tasks/{task_id}": {
            "get": {
                "operationId": "getTask",
                "summary": "One execution and its timeline",
                "parameters": [_TASK_ID],
                "responses": {
                    "200": json_content(ref("Execution"), "Found"),
                    **errors(403, 404),
                },
            }
        },
        "/api/tasks/{task_id}/retry": {
            "post": {
                "operationId": "retryTask",
                "summary": "Send the task again with the exact arguments of its message",
                "parameters": [_TASK_ID],
                "responses": {
                    "201": _sent("The new execution's task id"),
                    **errors(403, 404, 409),
                },
            }
        },
        "/api/tasks/{task_id}/cancel": {
            "post": {
                "operationId": "cancelTask",
                "summary": "Revoke a task not started; terminate a running one if asked",
                "parameters": [_TASK_ID],
                "requestBody": request_body(
                    {"type": "object", "properties": {"terminate": {"type": "boolean"}}},
                    required=False,
                ),
                "responses": {
                    "200": json_content({"type": "object"}, "Revoked"),
                    **errors(400, 403, 404, 409, 422),
                },
            }
        },
        "/api/tasks/retry": {
            "post": {
                "operationId": "retryTasks",
                "summary": "Retry a selection, or everything a filter matches",
                "requestBody": request_body(ref("Selection")),
                "responses": _bulk_responses(),
            }
        },
        "/api/tasks/cancel": {
            "post": {
                "operationId": "cancelTasks",
                "summary": "Cancel (or terminate) a selection, or everything a filter matches",
                "requestBody": request_body(ref("CancelSelection")),
                "responses": _bulk_responses(),
            }
        },
        "/api/tasks/discard": {
            "post": {
                "operationId": "discardTasks",
                "summary": "Take a selection, or a filter's matches, out of the dead set "
                "(their records stay, marked discarded)",
                "requestBody": request_body(ref("Selection")),
                "responses": _bulk_responses(),
            }
        },
        "/api/purge": {
            "post": {
                "operationId": "purgeTasks",
                "summary": "Delete execution records (and their timelines): a selection, what "
                "a filter matches, or those older_than a duration",
                "requestBody": request_body(ref("Selection")),
                "responses": _bulk_responses(),
            }
        },
        "/api/jobs/{job_id}": {
            "get": {
                "operationId": "getJob",
                "summary": "A background job: status, progress, result",
                "parameters": [_JOB_ID],
                "responses": {"200": json_content(ref("Job"), "The job"), **errors(403, 404)},
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
                "responses": {"200": json_content(audit_page, "A page"), **errors(403, 422)},
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
                "responses": {"200": json_content(schedule_page, "A page"), **errors(403, 422)},
            },
            "post": {
                "operationId": "createSchedule",
                "summary": "Create a schedule (one of cron, every, at)",
                "requestBody": request_body(ref("NewSchedule")),
                "responses": {
                    "201": linked(
                        json_content(ref("Schedule"), "Created"),
                        "name",
                        "getSchedule",
                        "updateSchedule",
                        "runSchedule",
                        "deleteSchedule",
                    ),
                    **errors(400, 403, 422),
                },
            },
        },
        "/api/schedules/{name}": {
            "get": {
                "operationId": "getSchedule",
                "summary": "One schedule, its next 5 due times and recent runs",
                "parameters": [_NAME],
                "responses": {
                    "200": json_content(ref("Schedule"), "Found"),
                    **errors(403, 404, 422),
                },
            },
            "patch": {
                "operationId": "updateSchedule",
                "summary": "Change the fields given",
                "parameters": [_NAME],
                "requestBody": request_body(ref("ScheduleChanges")),
                "responses": {
                    "200": json_content(ref("Schedule"), "Changed"),
                    **errors(400, 403, 404, 422),
                },
            },
            "delete": {
                "operationId": "deleteSchedule",
                "summary": "Delete a schedule",
                "parameters": [_NAME],
                "responses": {"204": {"description": "Deleted"}, **errors(403, 404)},
            },
        },
        "/api/schedules/{name}/run": {
            "post": {
                "operationId": "runSchedule",
                "summary": "Send the schedule's task once now",
                "parameters": [_NAME],
                "responses": {
                    "201": _sent("Sent"),
                    **errors(403, 404, 422),
                },
            }
        },
        "/api/openapi.json": {
            "get": {
                "operationId": "getOpenAPI",
                "summary": "This document",
                "responses": {"200": json_content(_JSON_ANY, "OpenAPI 3")},
            }
        },
    }
