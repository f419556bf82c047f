"""The API of the metrics (series from the rollups, a queue's history) and of the alerts.
Like the rest of the API, it reads the request and writes the answer; the operations layer
checks, reads and refuses."""

from __future__ import annotations

from flask import jsonify, request
from werkzeug.wrappers import Response

from celery_ops.core.clock import as_utc
from celery_ops.dashboard.api import api, json_body, signed_in
from celery_ops.dashboard.auth import door
from celery_ops.dashboard.pages.alerts import destination


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


@api.get("/alerts")
@signed_in
def list_alerts() -> Response:
    alerts = door().alerts
    rules = [
        {
            "name": rule.name,
            "on": rule.on,
            "task": rule.task,
            "queue": rule.queue,
            "threshold": rule.threshold,
            "throttle_seconds": rule.throttle,
            "destinations": [destination(url) for url in rule.notify],
        }
        for rule in alerts.rules()
    ]
    items = [
        {
            "id": a.id,
            "rule": a.rule,
            "kind": a.kind,
            "key": a.alert_key,
            "first_at": as_utc(a.first_at).isoformat(),
            "last_at": as_utc(a.last_at).isoformat(),
            "held": a.held,
            "subject": a.subject,
            "body": a.body,
            "status": a.status,
            "attempts": a.attempts,
            "last_error": a.last_error,
            "sent_at": as_utc(a.sent_at).isoformat() if a.sent_at else None,
        }
        for a in alerts.recent(200)
    ]
    return jsonify({"rules": rules, "items": items})


@api.post("/alerts/test")
@signed_in
def test_alert() -> Response:
    body = json_body()
    door().alerts.send_test(str(body.get("rule", "")) if isinstance(body, dict) else "")
    return jsonify({"sent": True})
