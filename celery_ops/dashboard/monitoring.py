"""What monitors read: ``GET /metrics`` (Prometheus), ``GET /api/health`` (checks, 503 when
one fails) and ``GET /healthz`` (the process serves, for load balancers).

/metrics and /api/health take a dashboard user (a session or HTTP Basic) or the bearer token
``ops_metrics_token``; neither is ever open. /healthz says nothing about the cluster.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar, cast

from flask import Blueprint, jsonify
from werkzeug.wrappers import Response

from celery_ops.dashboard.api import api, error
from celery_ops.dashboard.auth import actor, door
from celery_ops.dashboard.prometheus import exposition
from celery_ops.operations.actors import MONITOR

F = TypeVar("F", bound=Callable[..., Any])

monitoring = Blueprint("celery_ops_monitoring", __name__)

#: Prometheus's text format.
PROMETHEUS_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def monitor_or_user(view: F) -> F:
    """The bearer token ``ops_metrics_token``, or a signed-in dashboard user."""

    @functools.wraps(view)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        who = actor()
        if not (who.is_user or who.name == MONITOR):
            return error(
                401,
                "unauthorized",
                "send Authorization: Bearer <ops_metrics_token or a user's token>, or sign in "
                "(HTTP Basic) with a dashboard user",
            )
        return view(*args, **kwargs)

    return cast(F, guarded)


@monitoring.get("/metrics")
@monitor_or_user
def prometheus_metrics() -> Response:
    return Response(exposition(door().metrics.snapshot()), content_type=PROMETHEUS_TYPE)


@monitoring.get("/healthz")
def serving() -> Response:
    return jsonify({"status": "serving"})


@api.get("/health")
@monitor_or_user
def health() -> Response:
    checked = door().health.check()
    response = jsonify(checked.as_dict())
    response.status_code = 200 if checked.status == "ok" else 503
    return response
