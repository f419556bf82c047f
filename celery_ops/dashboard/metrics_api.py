"""The API of the metrics: series from the rollups. Like the rest of the API, it reads the
request and writes the answer; the operations layer checks, reads and refuses."""

from __future__ import annotations

from flask import jsonify, request
from werkzeug.wrappers import Response

from celery_ops.dashboard.api import api, signed_in
from celery_ops.dashboard.auth import door


@api.get("/metrics")
@signed_in
def metric_series() -> Response:
    # task, queue, since, until, step; the door refuses any other parameter.
    points = door().metrics.series(request.args.to_dict())
    return jsonify({"series": [point.as_dict() for point in points]})


@api.get("/queues/<path:name>/history")
@signed_in
def queue_history(name: str) -> Response:
    # since, until, step; the door refuses any other parameter.
    points = door().metrics.queue_history(name, request.args.to_dict())
    return jsonify({"series": [point.as_dict() for point in points]})
