"""Cluster-wide limits through the JSON API: list them, set one live, remove one."""

from __future__ import annotations

from flask import Response, jsonify

from celery_ops.dashboard.api import api, json_body, signed_in
from celery_ops.dashboard.auth import door


@api.get("/limits")
@signed_in
def list_limits() -> Response:
    return jsonify({"items": [limit.as_dict() for limit in door().limits.all()]})


@api.put("/limits/<path:task_name>")
@signed_in
def set_limit(task_name: str) -> Response:
    return jsonify(door().limits.set(task_name, json_body()).as_dict())


@api.delete("/limits/<path:task_name>")
@signed_in
def remove_limit(task_name: str) -> tuple[str, int]:
    door().limits.remove(task_name)
    return "", 204
