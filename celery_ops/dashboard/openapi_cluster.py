"""The OpenAPI description of the live cluster's routes: workers, queues, task types."""

from __future__ import annotations

from typing import Any

from celery_ops.dashboard.openapi_parts import errors, json_content, ref, request_body
from celery_ops.operations.requests import (
    AutoscaleRequest,
    PoolChange,
    QueueRequest,
    RateLimitRequest,
    Request,
    TimeLimitRequest,
)

_HOSTNAME = {"name": "hostname", "in": "path", "required": True, "schema": {"type": "string"}}
_NAME = {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}
MODELS: tuple[type[Request], ...] = (
    PoolChange,
    AutoscaleRequest,
    QueueRequest,
    RateLimitRequest,
    TimeLimitRequest,
)


def cluster_schemas() -> dict[str, Any]:
    schemas: dict[str, Any] = {}
    for model in MODELS:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
    schemas["Answers"] = {
        "type": "object",
        "description": "What each worker answered the command ({hostname: {ok: ...} or "
        "{error: ...}}), and the workers asked by name that did not answer in time",
        "required": ["command", "replies", "no_reply"],
        "properties": {
            "command": {"type": "string"},
            "replies": {"type": "object", "additionalProperties": {"type": "object"}},
            "no_reply": {"type": "array", "items": {"type": "string"}},
        },
    }
    schemas["Worker"] = {
        "type": "object",
        "description": "A worker from its heartbeats, with its live report when it answered "
        "(`answered`); one worker's answer adds processes, prefetch_count, processed (per "
        "task), active_tasks, reserved_tasks, scheduled_tasks, registered and conf",
        "required": ["hostname", "status", "answered"],
        "properties": {
            "hostname": {"type": "string"},
            "status": {"type": "string", "enum": ["online", "offline"]},
            "answered": {"type": "boolean"},
            "pool": {"type": ["string", "null"]},
            "concurrency": {"type": ["integer", "null"]},
            "queues": {"type": "array", "items": {"type": "string"}},
            "paused_queues": {"type": "array", "items": {"type": "string"}},
            "tasks_processed": {"type": "integer"},
            "running": {"type": ["integer", "null"]},
            "max_rss_kb": {"type": ["integer", "null"]},
            "loadavg": {"type": ["array", "null"], "items": {"type": "number"}},
        },
    }
    number = {"type": ["number", "null"]}
    schemas["Queue"] = {
        "type": "object",
        "description": "A queue: depth in the broker (Redis: summed over its priority lists), "
        "consumers, pause, the store's counts by state (capped), latency (age of the oldest "
        "waiting execution) and wait percentiles over the last hour, in seconds. `queue`, "
        "`backlog` and `executions_by_status` are older names of name, depth and counts.",
        "required": ["name", "depth", "consumers", "paused", "counts", "latency_seconds"],
        "properties": {
            "name": {"type": "string"},
            "depth": {"type": ["integer", "null"]},
            "consumers": {"type": ["integer", "null"]},
            "paused": {"type": "boolean"},
            "paused_by": {"type": ["string", "null"]},
            "paused_at": {"type": ["string", "null"], "format": "date-time"},
            "counts": {"type": "object", "additionalProperties": {"type": "integer"}},
            "latency_seconds": number,
            "wait_p50_seconds": number,
            "wait_p95_seconds": number,
            "queue": {"type": "string"},
            "backlog": {"type": ["integer", "null"]},
        },
    }
    schemas["PauseChange"] = {
        "type": "object",
        "required": ["queue", "paused", "replies"],
        "properties": {
            "queue": {"type": "string"},
            "paused": {"type": "boolean"},
            "paused_by": {"type": ["string", "null"]},
            "paused_at": {"type": ["string", "null"]},
            "replies": {"type": "object"},
            "broker_error": {"type": ["string", "null"]},
        },
    }
    return schemas


def _items(schema: str) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["items"],
        "properties": {"items": {"type": "array", "items": ref(schema)}},
    }


def _action(operation: str, summary: str, body: str | None, parameter: dict[str, Any]) -> Any:
    action: dict[str, Any] = {
        "operationId": operation,
        "summary": summary,
        "parameters": [parameter],
        "responses": {
            "200": json_content(ref("Answers"), "What each worker answered"),
            **errors(403, 404, 409, 503, *((400,) if body else ())),
        },
    }
    if body:
        action["requestBody"] = request_body(ref(body))
    return {"post": action}


def cluster_paths() -> dict[str, Any]:
    done = {
        "type": "object",
        "properties": {
            "job_id": {"type": "string"},
            "status": {"type": "string"},
            "purged": {"type": "integer"},
        },
    }
    return {
        "/api/workers": {
            "get": {
                "operationId": "listWorkers",
                "summary": "Every worker the store has seen, with its live figures",
                "responses": {"200": json_content(_items("Worker"), "The workers"), **errors(403)},
            }
        },
        "/api/workers/{hostname}": {
            "get": {
                "operationId": "getWorker",
                "summary": "One worker: pool, queues, figures, the tasks it holds",
                "parameters": [_HOSTNAME],
                "responses": {"200": json_content(ref("Worker"), "Found"), **errors(403, 404)},
            },
            "delete": {
                "operationId": "forgetWorker",
                "summary": "Forget an offline worker",
                "parameters": [_HOSTNAME],
                "responses": {"204": {"description": "Forgotten"}, **errors(403, 404, 409)},
            },
        },
        "/api/workers/{hostname}/shutdown": _action(
            "shutdownWorker", "Warm shutdown of one worker", None, _HOSTNAME
        ),
        "/api/workers/{hostname}/pool": _action(
            "resizePool", "Grow or shrink a worker's pool", "PoolChange", _HOSTNAME
        ),
        "/api/workers/{hostname}/autoscale": _action(
            "autoscaleWorker", "Set a worker's autoscale range", "AutoscaleRequest", _HOSTNAME
        ),
        "/api/workers/{hostname}/consume": _action(
            "consumeQueue", "Start consuming a queue", "QueueRequest", _HOSTNAME
        ),
        "/api/workers/{hostname}/cancel-consume": _action(
            "cancelConsumeQueue", "Stop consuming a queue", "QueueRequest", _HOSTNAME
        ),
        "/api/tasks/types/{name}/rate-limit": _action(
            "setRateLimit", "A task type's rate limit on the workers", "RateLimitRequest", _NAME
        ),
        "/api/tasks/types/{name}/time-limit": _action(
            "setTimeLimit", "A task type's time limits on the workers", "TimeLimitRequest", _NAME
        ),
        "/api/queues": {
            "get": {
                "operationId": "listQueues",
                "summary": "Every known queue with its figures",
                "responses": {"200": json_content(_items("Queue"), "The queues"), **errors(403)},
            }
        },
        "/api/queues/{name}/stats": {
            "get": {
                "operationId": "getQueueStats",
                "summary": "One queue's figures",
                "parameters": [_NAME],
                "responses": {"200": json_content(ref("Queue"), "Found"), **errors(403, 404)},
            }
        },
        "/api/queues/{name}/pause": {
            "post": {
                "operationId": "pauseQueue",
                "summary": "Every worker stops consuming the queue, until it is resumed",
                "parameters": [_NAME],
                "responses": {
                    "200": json_content(ref("PauseChange"), "Paused"),
                    **errors(403, 503),
                },
            }
        },
        "/api/queues/{name}/resume": {
            "post": {
                "operationId": "resumeQueue",
                "summary": "The workers that consumed the queue consume it again",
                "parameters": [_NAME],
                "responses": {
                    "200": json_content(ref("PauseChange"), "Resumed"),
                    **errors(403, 503),
                },
            }
        },
        "/api/queues/{name}/purge": {
            "post": {
                "operationId": "purgeQueue",
                "summary": "Take every waiting message off the queue; their executions become "
                "REVOKED",
                "parameters": [_NAME],
                "responses": {
                    "200": json_content(done, "Purged: how many messages"),
                    "202": json_content(done, "Still purging: follow the job"),
                    **errors(403, 404, 503),
                },
            }
        },
    }
