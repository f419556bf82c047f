"""The JSON API under /api/: HTTP Basic or a session, roles, JSON errors, an audit line per
state-changing call. Described by /api/openapi.json."""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any, TypeVar, cast

from flask import Blueprint, jsonify, request
from flask_wtf.csrf import CSRFError, validate_csrf
from werkzeug.exceptions import BadRequest, HTTPException
from werkzeug.wrappers import Response
from wtforms import ValidationError

from celery_ops import lifecycle as states
from celery_ops.accounts import OPERATOR, VIEWER
from celery_ops.actions import (
    ActionError,
    Conflict,
    InvalidInput,
    NotFound,
    Operations,
    UnknownTask,
)
from celery_ops.beat import Schedule, ScheduleError, ScheduleNotFound
from celery_ops.beat.definition import parse_time
from celery_ops.dashboard import openapi
from celery_ops.dashboard.auth import audit, current_account, ops, used_basic_auth
from celery_ops.durations import parse_duration
from celery_ops.store.queries import MIN_SEARCH_CHARS, ExecutionFilter

F = TypeVar("F", bound=Callable[..., Any])

api = Blueprint("celery_ops_api", __name__, url_prefix="/api")

MAX_PAGE = 500
#: The largest row id any backend stores (BIGINT).
MAX_ID = 2**63 - 1
# Columns that are never shown: the exact message arguments exist only to retry a task.
HIDDEN_COLUMNS = frozenset({"message_args", "message_kwargs", "progress"})
_STATUS_OF = {
    NotFound: 404,
    UnknownTask: 422,
    InvalidInput: 422,
    Conflict: 409,
    ScheduleNotFound: 404,
    ScheduleError: 422,
}


def error(status: int, code: str, detail: str) -> Response:
    response = jsonify({"error": code, "detail": detail})
    response.status_code = status
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Basic realm="celery-ops"'
    return response


def requires(role: str, action: str | None = None) -> Callable[[F], F]:
    """Signed in (Basic or session), holding ``role``; state changes are audited."""

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            account = current_account()
            if account is None:
                return error(401, "unauthorized", "sign in: HTTP Basic with a dashboard user")
            targets = _request_targets(kwargs)
            if not account.may(role):
                if action:
                    audit(action, targets, "denied", f"needs role {role}")
                return error(403, "forbidden", f"this needs the {role} role")
            if action and not used_basic_auth():
                _check_csrf()
            if action is None:
                return view(*args, **kwargs)
            try:
                response = view(*args, **kwargs)
            except (ActionError, ScheduleError, ScheduleNotFound) as exc:
                audit(action, targets, "failed", str(exc))
                raise
            audit(action, _targets(targets, response), "ok")
            return response

        return cast(F, guarded)

    return decorate


def _check_csrf() -> None:
    # A session cookie rides along with any request the browser makes: a page of this
    # site must prove it sent this one.
    try:
        validate_csrf(request.headers.get("X-CSRFToken", ""))
    except ValidationError as exc:
        raise CSRFError(str(exc)) from None


@api.errorhandler(ActionError)
@api.errorhandler(ScheduleError)
@api.errorhandler(ScheduleNotFound)
def _action_error(exc: Exception) -> Response:
    status = next(code for kind, code in _STATUS_OF.items() if isinstance(exc, kind))
    code = {404: "not_found", 409: "conflict", 422: "unprocessable"}.get(status, "bad_request")
    return error(status, code, str(exc))


@api.errorhandler(CSRFError)
def _csrf_error(exc: CSRFError) -> Response:
    return error(403, "csrf", f"missing or invalid X-CSRFToken header: {exc.description}")


@api.errorhandler(HTTPException)
def _http_error(exc: HTTPException) -> Response:
    code = (exc.name or "error").lower().replace(" ", "_")
    return error(exc.code or 500, code, exc.description or "")


# Executions


@api.get("/tasks")
@requires(VIEWER)
def list_tasks() -> Response:
    limit = _int_arg("limit", 50, 1, MAX_PAGE)
    cursor = _int_arg("cursor", None, 1, MAX_ID)
    statuses = tuple(s.upper() for s in request.args.getlist("status") if s)
    unknown = sorted(set(statuses) - set(states.ALL_STATUSES))
    if unknown:
        raise InvalidInput(f"unknown status {', '.join(unknown)}")
    where = ExecutionFilter(
        statuses=statuses,
        task_name=request.args.get("task") or None,
        queue=request.args.get("queue") or None,
        worker_id=request.args.get("worker") or None,
        schedule_name=request.args.get("schedule") or None,
        tenant_id=request.args.get("tenant") or None,
        since=_time_arg("since"),
        until=_time_arg("until"),
        text=_search_arg(),
    )
    rows = ops().store.executions(where, limit + 1, cursor)
    page, more = rows[:limit], len(rows) > limit
    return jsonify(
        {
            "items": [execution_json(row) for row in page],
            "next_cursor": page[-1]["id"] if more and page else None,
        }
    )


@api.get("/tasks/<task_id>")
@requires(VIEWER)
def show_task(task_id: str) -> Response:
    row = ops().store.execution(task_id)
    if row is None:
        raise NotFound(f"no execution with task id {task_id!r}")
    timeline = [
        {key: _json_value(value) for key, value in event.items() if key != "id"}
        for event in ops().store.timeline(task_id)
    ]
    return jsonify(execution_json(row) | {"timeline": timeline})


@api.post("/tasks/dispatch")
@requires(OPERATOR, "dispatch")
def dispatch() -> tuple[Response, int]:
    body = _json_body()
    task_id = Operations(ops()).dispatch(
        body.get("task", ""),
        body.get("args"),
        body.get("kwargs"),
        queue=body.get("queue"),
        countdown=body.get("countdown"),
        eta=body.get("eta"),
        priority=body.get("priority"),
    )
    return jsonify({"task_id": task_id}), 201


@api.post("/tasks/<task_id>/retry")
@requires(OPERATOR, "retry")
def retry(task_id: str) -> tuple[Response, int]:
    new_id = Operations(ops()).retry(task_id)
    return jsonify({"task_id": new_id, "retried_from": task_id}), 201


@api.post("/tasks/<task_id>/cancel")
@requires(OPERATOR, "cancel")
def cancel(task_id: str) -> Response:
    body = _json_body(optional=True)
    terminate = body.get("terminate", False)
    if not isinstance(terminate, bool):
        raise InvalidInput("terminate must be true or false")
    done = Operations(ops()).cancel(task_id, terminate=terminate)
    return jsonify(
        {
            "task_id": done.task_id,
            "status_before": done.status_before,
            "terminated": done.terminated,
        }
    )


@api.post("/purge")
@requires(OPERATOR, "purge")
def purge() -> Response:
    body = _json_body()
    statuses = body.get("status")
    if isinstance(statuses, str):
        statuses = [statuses]
    if statuses is not None and not (
        isinstance(statuses, list) and all(isinstance(s, str) for s in statuses)
    ):
        raise InvalidInput("status must be a status name or a list of them")
    try:
        age = parse_duration(body["older_than"])
    except KeyError:
        raise InvalidInput('older_than is required, e.g. "7d"') from None
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"older_than: {exc}") from None
    deleted = Operations(ops()).purge(statuses, age)
    return jsonify({"deleted": deleted})


@api.get("/queues/<name>/stats")
@requires(VIEWER)
def queue_stats(name: str) -> Response:
    return jsonify(Operations(ops()).queue_stats(name))


# Schedules


@api.get("/schedules")
@requires(VIEWER)
def list_schedules() -> Response:
    limit = _int_arg("limit", 100, 1, MAX_PAGE)
    after = request.args.get("cursor") or None
    page = ops().schedules.page(after, limit + 1)
    more = len(page) > limit
    page = page[:limit]
    return jsonify(
        {
            "items": [schedule_json(s) for s in page],
            "next_cursor": page[-1].name if more and page else None,
        }
    )


@api.post("/schedules")
@requires(OPERATOR, "schedule-create")
def create_schedule() -> tuple[Response, int]:
    body = _json_body()
    name, task = body.pop("name", None), body.pop("task", None)
    if not isinstance(name, str) or not isinstance(task, str):
        raise InvalidInput("name and task are required strings")
    schedule = ops().schedules.add(name, task, **_schedule_changes(body))
    return jsonify(schedule_json(schedule)), 201


@api.get("/schedules/<name>")
@requires(VIEWER)
def show_schedule(name: str) -> Response:
    schedules = ops().schedules
    schedule = schedules.get(name)
    upcoming = [t.isoformat() for t in schedules.upcoming(name, 5)] if schedule.enabled else []
    runs = [{k: _json_value(v) for k, v in run.items()} for run in schedules.recent_runs(name)]
    return jsonify(schedule_json(schedule) | {"upcoming": upcoming, "recent_runs": runs})


@api.patch("/schedules/<name>")
@requires(OPERATOR, "schedule-update")
def update_schedule(name: str) -> Response:
    changes = _schedule_changes(_json_body())
    if not changes:
        raise InvalidInput("nothing to change")
    return jsonify(schedule_json(ops().schedules.update(name, **changes)))


@api.delete("/schedules/<name>")
@requires(OPERATOR, "schedule-delete")
def delete_schedule(name: str) -> tuple[str, int]:
    ops().schedules.remove(name)
    return "", 204


@api.post("/schedules/<name>/run")
@requires(OPERATOR, "schedule-run")
def run_schedule(name: str) -> tuple[Response, int]:
    return jsonify({"task_id": ops().schedules.run_now(name)}), 201


@api.get("/openapi.json")
@requires(VIEWER)
def openapi_document() -> Response:
    return jsonify(openapi.document())


@api.route("/<path:anything>", methods=["GET", "POST", "PATCH", "DELETE", "PUT"])
def unknown(anything: str) -> Response:
    return error(404, "not_found", f"no API endpoint /api/{anything}")


# Helpers


def execution_json(row: dict[str, Any]) -> dict[str, Any]:
    return {k: _json_value(v) for k, v in row.items() if k not in HIDDEN_COLUMNS}


def schedule_json(schedule: Schedule) -> dict[str, Any]:
    return schedule.as_dict()


_SCHEDULE_FIELDS = {
    "task", "cron", "every", "at", "timezone", "args", "kwargs", "queue", "priority",
    "options", "enabled", "max_runs", "misfire", "description", "start_at", "end_at",
}  # fmt: skip


def _schedule_changes(body: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(body) - _SCHEDULE_FIELDS)
    if unknown:
        raise InvalidInput(f"unknown field(s) {', '.join(unknown)}")
    changes = dict(body)
    for key in ("at", "start_at", "end_at"):
        if isinstance(changes.get(key), str):
            changes[key] = parse_time(changes[key], key)
        elif changes.get(key) is not None:
            raise InvalidInput(f"{key} must be an ISO 8601 time")
    for key, kind in (("every", (int, float)), ("max_runs", int), ("priority", int)):
        value = changes.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, kind)):
            raise InvalidInput(f"{key} must be a number")
    for key in ("cron", "timezone", "queue", "misfire", "description", "task"):
        if changes.get(key) is not None and not isinstance(changes[key], str):
            raise InvalidInput(f"{key} must be a string")
    if "enabled" in changes and not isinstance(changes["enabled"], bool):
        raise InvalidInput("enabled must be true or false")
    return changes


def _json_body(optional: bool = False) -> dict[str, Any]:
    if optional and not request.get_data():
        return {}
    try:
        body = request.get_json(force=True)
    except BadRequest:
        raise BadRequest("the body is not valid JSON") from None
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object")
    return body


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


def _search_arg() -> str | None:
    text = (request.args.get("search") or "").strip()
    if not text:
        return None
    if len(text) < MIN_SEARCH_CHARS:
        raise InvalidInput(f"search needs at least {MIN_SEARCH_CHARS} characters")
    return text


def _time_arg(name: str) -> datetime | None:
    raw = request.args.get(name)
    if not raw:
        return None
    try:
        return parse_time(raw, name)
    except ScheduleError as exc:
        raise InvalidInput(str(exc)) from None


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).isoformat()
    return value


def _request_targets(path_values: dict[str, Any]) -> dict[str, Any]:
    """What an action applies to: the ids in its path and the JSON it was sent."""
    targets = dict(path_values)
    body = request.get_json(silent=True) if request.get_data() else None
    if body is not None:
        targets["request"] = body
    return targets


def _targets(targets: dict[str, Any], response: Any) -> dict[str, Any]:
    """The targets, plus the id of what the action created when it created something."""
    body = response[0] if isinstance(response, tuple) else response
    created = body.get_json(silent=True) if isinstance(body, Response) else None
    if isinstance(created, dict) and "task_id" in created:
        return {**targets, "created": created["task_id"]}
    return targets
