"""The JSON API under /api/: HTTP Basic or a session, JSON errors. Every call goes through
the operations layer, which decides by role and audits each state change; this module only
reads the request and writes the answer. Described by /api/openapi.json."""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar, cast

from flask import Blueprint, jsonify, request
from flask_wtf.csrf import CSRFError, validate_csrf
from werkzeug.exceptions import BadRequest, HTTPException, UnsupportedMediaType
from werkzeug.wrappers import Response
from wtforms import ValidationError

from celery_ops.core.clock import as_utc
from celery_ops.core.errors import (
    Conflict,
    Denied,
    InvalidInput,
    NotFound,
    OperationError,
    Throttled,
    Unavailable,
)
from celery_ops.core.records import (
    AuditEntry,
    Execution,
    JobRecord,
    Progress,
    ScheduleRun,
    TimelineEntry,
)
from celery_ops.dashboard import openapi
from celery_ops.dashboard.auth import actor, door, used_basic_auth
from celery_ops.operations.filters import parse_filter
from celery_ops.operations.jobs import Accepted
from celery_ops.scheduling.definition import Schedule

F = TypeVar("F", bound=Callable[..., Any])

api = Blueprint("celery_ops_api", __name__, url_prefix="/api")

MAX_PAGE = 500
#: The largest row id any backend stores (BIGINT).
MAX_ID = 2**63 - 1
#: Query parameters of a listing that are not filter conditions.
PAGING = frozenset({"limit", "cursor"})
_STATUS_OF: dict[type[OperationError], tuple[int, str]] = {
    Throttled: (429, "too_many_attempts"),
    Denied: (403, "forbidden"),
    NotFound: (404, "not_found"),
    Conflict: (409, "conflict"),
    InvalidInput: (422, "unprocessable"),
    Unavailable: (503, "unavailable"),
}
_STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def error(status: int, code: str, detail: str) -> Response:
    response = jsonify({"error": code, "detail": detail})
    response.status_code = status
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Basic realm="celery-ops"'
    return response


def signed_in(view: F) -> F:
    """Signed in (Basic or session); a session's state change also needs its CSRF token.
    What the user may do is the operations layer's to decide."""

    @functools.wraps(view)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        if not actor().is_user:
            return error(401, "unauthorized", "sign in: HTTP Basic with a dashboard user")
        if request.method in _STATE_CHANGING and not used_basic_auth():
            _check_csrf()
        return view(*args, **kwargs)

    return cast(F, guarded)


def _check_csrf() -> None:
    # A session cookie rides along with any request the browser makes: a page of this
    # site must prove it sent this one.
    try:
        validate_csrf(request.headers.get("X-CSRFToken", ""))
    except ValidationError as exc:
        raise CSRFError(str(exc)) from None


def status_of(exc: OperationError) -> tuple[int, str]:
    """The HTTP status and error code of an operation's refusal."""
    return next(
        (found for kind, found in _STATUS_OF.items() if isinstance(exc, kind)), (500, "error")
    )


@api.errorhandler(OperationError)
def _operation_error(exc: OperationError) -> Response:
    response = error(*status_of(exc), str(exc))
    if isinstance(exc, Throttled):
        response.headers["Retry-After"] = str(exc.retry_after)
    return response


@api.errorhandler(CSRFError)
def _csrf_error(exc: CSRFError) -> Response:
    return error(403, "csrf", f"missing or invalid X-CSRFToken header: {exc.description}")


@api.errorhandler(HTTPException)
def _http_error(exc: HTTPException) -> Response:
    code = (exc.name or "error").lower().replace(" ", "_")
    return error(exc.code or 500, code, exc.description or "")


# Executions


@api.get("/tasks")
@signed_in
def list_tasks() -> Response:
    limit = _int_arg("limit", 50, 1, MAX_PAGE)
    cursor = _int_arg("cursor", None, 1, MAX_ID)
    where = parse_filter(_query(), other_keys=PAGING)
    page = door().executions.page(where, limit, cursor)
    return jsonify(
        {"items": [execution_json(row) for row in page.items], "next_cursor": page.next_cursor}
    )


@api.get("/tasks/<path:task_id>")
@signed_in
def show_task(task_id: str) -> Response:
    executions = door().executions
    row = executions.get(task_id)
    timeline = [timeline_json(entry) for entry in executions.timeline(task_id)]
    return jsonify(execution_json(row) | {"timeline": timeline})


@api.post("/tasks/dispatch")
@signed_in
def dispatch() -> tuple[Response, int]:
    task_id = door().executions.dispatch(json_body())
    return jsonify({"task_id": task_id}), 201


@api.post("/tasks/<path:task_id>/retry")
@signed_in
def retry(task_id: str) -> tuple[Response, int]:
    new_id = door().executions.retry(task_id)
    return jsonify({"task_id": new_id, "retried_from": task_id}), 201


@api.post("/tasks/<path:task_id>/cancel")
@signed_in
def cancel(task_id: str) -> Response:
    terminate = json_body(optional=True).get("terminate", False)
    done = door().executions.cancel(task_id, terminate=terminate)
    return jsonify(
        {
            "task_id": done.task_id,
            "status_before": done.status_before,
            "terminated": done.terminated,
        }
    )


@api.post("/tasks/retry")
@signed_in
def retry_many() -> tuple[Response, int]:
    return accepted_json(door().executions.retry_many(json_body()))


@api.post("/tasks/cancel")
@signed_in
def cancel_many() -> tuple[Response, int]:
    body = json_body()
    terminate = body.pop("terminate", False)
    return accepted_json(door().executions.cancel_many(body, terminate=terminate))


@api.post("/tasks/discard")
@signed_in
def discard_many() -> tuple[Response, int]:
    return accepted_json(door().executions.discard_many(json_body()))


@api.post("/purge")
@signed_in
def purge() -> tuple[Response, int]:
    return accepted_json(door().executions.purge(json_body()))


@api.get("/jobs/<job_id>")
@signed_in
def show_job(job_id: str) -> Response:
    return jsonify(job_json(door().executions.job(job_id)))


# Schedules


@api.get("/schedules")
@signed_in
def list_schedules() -> Response:
    limit = _int_arg("limit", 100, 1, MAX_PAGE)
    after = request.args.get("cursor") or None
    page = door().schedules.page(after, limit + 1)
    more = len(page) > limit
    page = page[:limit]
    return jsonify(
        {
            "items": [schedule_json(s) for s in page],
            "next_cursor": page[-1].name if more and page else None,
        }
    )


@api.post("/schedules")
@signed_in
def create_schedule() -> tuple[Response, int]:
    body = json_body()
    name, task = body.pop("name", None), body.pop("task", None)
    if not isinstance(name, str) or not isinstance(task, str):
        raise InvalidInput("name and task are required strings")
    schedule = door().schedules.add(name, task, **_fields(body))
    return jsonify(schedule_json(schedule)), 201


@api.get("/schedules/<path:name>")
@signed_in
def show_schedule(name: str) -> Response:
    schedules = door().schedules
    schedule = schedules.get(name)
    upcoming: list[str] = []
    problem = None
    if schedule.enabled:
        try:
            upcoming = [t.isoformat() for t in schedules.upcoming(name, 5)]
        except InvalidInput as exc:  # a row beat cannot evaluate is still shown, with why
            problem = str(exc)
    runs = [run_json(run) for run in schedules.recent_runs(name)]
    extra = {"upcoming": upcoming, "problem": problem, "recent_runs": runs}
    return jsonify(schedule_json(schedule) | extra)


@api.patch("/schedules/<path:name>")
@signed_in
def update_schedule(name: str) -> Response:
    changes = _fields(json_body())
    if not changes:
        raise InvalidInput("nothing to change")
    return jsonify(schedule_json(door().schedules.update(name, **changes)))


@api.delete("/schedules/<path:name>")
@signed_in
def delete_schedule(name: str) -> tuple[str, int]:
    door().schedules.remove(name)
    return "", 204


@api.post("/schedules/<path:name>/run")
@signed_in
def run_schedule(name: str) -> tuple[Response, int]:
    return jsonify({"task_id": door().schedules.run_now(name)}), 201


# The audit log


@api.get("/audit")
@signed_in
def audit_log() -> Response:
    limit = _int_arg("limit", 50, 1, MAX_PAGE)
    cursor = _int_arg("cursor", None, 1, MAX_ID)
    filters = {key: value for key, value in request.args.items() if key not in PAGING}
    page = door().audit.page(filters, limit, cursor)
    return jsonify(
        {"items": [audit_json(entry) for entry in page.entries], "next_cursor": page.next_cursor}
    )


@api.get("/openapi.json")
@signed_in
def openapi_document() -> Response:
    return jsonify(openapi.document())


@api.route("/<path:anything>", methods=["GET", "POST", "PATCH", "DELETE", "PUT"])
def unknown(anything: str) -> Response:
    return error(404, "not_found", f"no API endpoint /api/{anything}")


# Answers


def execution_json(row: Execution) -> dict[str, Any]:
    return {key: _json_value(value) for key, value in row.shown().items()}


def timeline_json(entry: TimelineEntry) -> dict[str, Any]:
    return {
        "task_id": entry.task_id,
        "event": entry.event,
        "at": _json_value(entry.at),
        "worker": entry.worker,
        "details": entry.details,
    }


def schedule_json(schedule: Schedule) -> dict[str, Any]:
    return schedule.as_dict()


def run_json(run: ScheduleRun) -> dict[str, Any]:
    return {key: _json_value(value) for key, value in run.as_dict().items()}


def audit_json(entry: AuditEntry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "at": _json_value(entry.at),
        "actor": entry.actor,
        "role": entry.role,
        "action": entry.action,
        "targets": entry.targets,
        "outcome": entry.outcome,
        "detail": entry.detail,
        "remote_addr": entry.remote_addr,
    }


def job_json(job: JobRecord) -> dict[str, Any]:
    return job.as_dict()


def accepted_json(accepted: Accepted) -> tuple[Response, int]:
    """200 with the counts when the job already ended, else 202 with its id."""
    if accepted.finished is None:
        return jsonify({"job_id": accepted.job_id, "status": "running"}), 202
    job = accepted.finished
    return jsonify({"job_id": job.id, "status": job.status, **(job.result or {})}), 200


# Reading the request


_SCHEDULE_FIELDS = {
    "task", "cron", "every", "at", "timezone", "args", "kwargs", "queue", "priority",
    "options", "enabled", "max_runs", "misfire", "description", "start_at", "end_at", "name",
}  # fmt: skip


def _fields(body: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(body) - _SCHEDULE_FIELDS)
    if unknown:
        raise InvalidInput(f"unknown field(s) {', '.join(unknown)}")
    return body


def json_body(optional: bool = False) -> dict[str, Any]:
    if optional and not request.get_data():
        return {}
    if request.mimetype != "application/json":
        # A page of another site can post a form or text/plain, never application/json.
        raise UnsupportedMediaType("send the body as JSON, with Content-Type: application/json")
    try:
        body = request.get_json()
    except BadRequest:
        raise BadRequest("the body is not valid JSON") from None
    except RecursionError:
        raise BadRequest("the body's JSON nests too deeply") from None
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object")
    return body


def _query() -> dict[str, Any]:
    return {key: values if len(values) > 1 else values[0] for key, values in request.args.lists()}


def _int_arg(name: str, default: int | None, low: int, high: int | None) -> Any:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise InvalidInput(f"{name} must be an integer") from None
    if value < low or (high is not None and value > high):
        raise InvalidInput(f"{name} must be between {low} and {high or 'any'}")
    return value


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return as_utc(value).isoformat()
    if isinstance(value, Progress):
        return {key: _json_value(part) for key, part in value.as_dict().items()}
    return value
