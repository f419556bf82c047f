"""The OpenAPI description of the metrics routes."""

from __future__ import annotations

from typing import Any

from celery_ops.core.rollups import COUNTED_STATES, PERCENTILES, RELATIVE_ERROR
from celery_ops.dashboard.openapi_parts import errors, json_content, ref, request_body


def _percentiles(what: str) -> dict[str, Any]:
    return {
        "type": "object",
        "description": f"{what} percentiles in seconds (null: nothing measured), within "
        f"{RELATIVE_ERROR:.0%} of the exact value",
        "properties": {name: {"type": ["number", "null"]} for name in PERCENTILES},
    }


def metrics_schemas() -> dict[str, Any]:
    return {
        "QueuePoint": {
            "type": "object",
            "description": "A queue over one step, from its samples (null: no sample)",
            "required": ["at", "depth", "latency_seconds"],
            "properties": {
                "at": {"type": "string", "format": "date-time"},
                "depth": {"type": ["integer", "null"], "description": "Messages waiting"},
                "latency_seconds": {
                    "type": ["number", "null"],
                    "description": "How long the oldest waiting execution had waited",
                },
            },
        },
        "MetricPoint": {
            "type": "object",
            "description": "One step of a series, from the rollups",
            "required": ["at", "counts", "throughput", "failure_rate", "runtime", "wait"],
            "properties": {
                "at": {"type": "string", "format": "date-time", "description": "Step start"},
                "counts": {
                    "type": "object",
                    "description": "Executions that came to rest in each final state",
                    "properties": {state: {"type": "integer"} for state in COUNTED_STATES},
                },
                "throughput": {
                    "type": "number",
                    "description": "Executions that came to rest, per second",
                },
                "failure_rate": {
                    "type": ["number", "null"],
                    "description": "FAILURE and LOST among them, 0 to 1",
                },
                "runtime": _percentiles("Runtime (of the executions that came to rest)"),
                "wait": _percentiles("Wait from being sent to starting (of those started)"),
            },
        },
    }


def _query(name: str, description: str, **schema: Any) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "description": description,
        "schema": {"type": "string", **schema},
    }


def metrics_paths() -> dict[str, Any]:
    series = {
        "type": "object",
        "required": ["series"],
        "properties": {"series": {"type": "array", "items": ref("MetricPoint")}},
    }
    queue_series = {
        "type": "object",
        "required": ["series"],
        "properties": {"series": {"type": "array", "items": ref("QueuePoint")}},
    }
    period = [
        _query("since", "Start, ISO 8601 (default: 60 steps, or an hour, ago)"),
        _query("until", "End, ISO 8601 (default: now)"),
        _query("step", "One point per step, whole minutes: 1m, 1h, 1d", default="1m"),
    ]
    alert_list = {
        "type": "object",
        "required": ["rules", "items"],
        "properties": {
            "rules": {"type": "array", "items": {"type": "object"}},
            "items": {"type": "array", "items": {"type": "object"}},
        },
    }
    rule_body = {
        "type": "object",
        "required": ["rule"],
        "properties": {"rule": {"type": "string", "description": "A rule's name"}},
    }
    return {
        "/api/alerts": {
            "get": {
                "operationId": "listAlerts",
                "summary": "The alert rules (destinations without credentials) and the latest "
                "alerts raised: status, attempts, what each held back",
                "responses": {"200": json_content(alert_list, "Rules and alerts"), **errors(403)},
            }
        },
        "/api/alerts/test": {
            "post": {
                "operationId": "testAlert",
                "summary": "Send a test notification to a rule's destinations (admin)",
                "requestBody": request_body(rule_body),
                "responses": {
                    "200": json_content({"type": "object"}, "Sent"),
                    **errors(400, 403, 404, 503),
                },
            }
        },
        "/api/queues/{name}/history": {
            "get": {
                "operationId": "getQueueHistory",
                "summary": "A queue's depth and latency per step, from its samples taken once "
                "a minute (the largest of the step)",
                "parameters": [
                    {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}},
                    *period,
                ],
                "responses": {"200": json_content(queue_series, "The series"), **errors(403)},
            }
        },
        "/api/metrics": {
            "get": {
                "operationId": "getMetrics",
                "summary": "Counts, throughput, failure rate and percentiles per step, from "
                "the rollups (never the executions table)",
                "parameters": [
                    _query("task", "Only this task name"),
                    _query("queue", "Only this queue"),
                    *period,
                ],
                "responses": {"200": json_content(series, "The series"), **errors(403)},
            }
        },
    }
