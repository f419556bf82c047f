"""The JSON API of the live cluster: workers, queues and task types, and the actions on
them. Like the rest of the API, it only reads the request and writes the answer: the
operations layer checks the role, acts, and audits."""

from __future__ import annotations

from flask import jsonify
from werkzeug.wrappers import Response

from celery_ops.dashboard.api import accepted_json, api, json_body, signed_in
from celery_ops.dashboard.auth import door
from celery_ops.operations.control import Answers

# Workers


@api.get("/workers")
@signed_in
def list_workers() -> Response:
    return jsonify({"items": [view.as_dict() for view in door().workers.all()]})


@api.get("/workers/<path:hostname>")
@signed_in
def show_worker(hostname: str) -> Response:
    return jsonify(door().workers.get(hostname).as_dict(detail=True))


@api.delete("/workers/<path:hostname>")
@signed_in
def forget_worker(hostname: str) -> tuple[str, int]:
    door().workers.forget(hostname)
    return "", 204


@api.post("/workers/<path:hostname>/shutdown")
@signed_in
def shutdown_worker(hostname: str) -> Response:
    return _answers(door().workers.shutdown(hostname))


@api.post("/workers/<path:hostname>/pool")
@signed_in
def resize_pool(hostname: str) -> Response:
    return _answers(door().workers.resize_pool(hostname, json_body()))


@api.post("/workers/<path:hostname>/autoscale")
@signed_in
def autoscale(hostname: str) -> Response:
    return _answers(door().workers.autoscale(hostname, json_body()))


@api.post("/workers/<path:hostname>/consume")
@signed_in
def consume(hostname: str) -> Response:
    return _answers(door().workers.consume(hostname, json_body()))


@api.post("/workers/<path:hostname>/cancel-consume")
@signed_in
def cancel_consume(hostname: str) -> Response:
    return _answers(door().workers.cancel_consume(hostname, json_body()))


# Task types


@api.post("/tasks/types/<path:name>/rate-limit")
@signed_in
def rate_limit(name: str) -> Response:
    return _answers(door().tasks.set_rate_limit(name, json_body()))


@api.post("/tasks/types/<path:name>/time-limit")
@signed_in
def time_limit(name: str) -> Response:
    return _answers(door().tasks.set_time_limit(name, json_body()))


# Queues


@api.get("/queues")
@signed_in
def list_queues() -> Response:
    return jsonify({"items": [view.as_dict() for view in door().queues.all()]})


@api.get("/queues/<path:name>/stats")
@signed_in
def queue_stats(name: str) -> Response:
    return jsonify(door().queues.stats(name))


@api.post("/queues/<path:name>/pause")
@signed_in
def pause_queue(name: str) -> Response:
    return jsonify(door().queues.pause(name).as_dict())


@api.post("/queues/<path:name>/resume")
@signed_in
def resume_queue(name: str) -> Response:
    return jsonify(door().queues.resume(name).as_dict())


@api.post("/queues/<path:name>/purge")
@signed_in
def purge_queue(name: str) -> tuple[Response, int]:
    return accepted_json(door().queues.purge(name))


def _answers(answers: Answers) -> Response:
    return jsonify(answers.as_dict())
