"""What each tool of the assistant interface does, through the door.

Each function takes the door opened for the caller and the tool's arguments, and returns
the answer as plain data (``celery_ops.assistant.server`` encodes it within the budget).
The door checks the role, validates, acts and audits; these functions only choose what to
ask and shape what comes back for a model to read.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any
from urllib.parse import quote

from celery_ops.assistant.answers import (
    BUDGET,
    PREVIEW_CHARS,
    encode,
    fit,
    last_frames,
    moment,
    preview,
    tail,
)
from celery_ops.core.durations import format_duration
from celery_ops.core.errors import Conflict, InvalidInput
from celery_ops.core.lifecycle import FAILURE
from celery_ops.core.records import Execution, TimelineEntry
from celery_ops.operations import Operations
from celery_ops.operations.filters import parse_filter
from celery_ops.scheduling.definition import Schedule

#: Rows a search returns at most per call.
MAX_SEARCH = 50
#: Timeline entries shown with an execution (the latest ones).
TIMELINE_ENTRIES = 40
#: Points of a metrics series at most.
MAX_POINTS = 120
HINT = "ask get_execution for this task id with full=true"


# Reading


def search_executions(
    door: Operations,
    status: list[str] | None = None,
    task: str | None = None,
    queue: str | None = None,
    worker: str | None = None,
    schedule: str | None = None,
    tenant: str | None = None,
    error_type: str | None = None,
    since: str | None = None,
    until: str | None = None,
    text: str | None = None,
    dead: bool = False,
    limit: int = 20,
    cursor: int | None = None,
) -> dict[str, Any]:
    now = door.services.clock.now()
    params: dict[str, Any] = {
        "status": status or [],
        "task": task,
        "queue": queue,
        "worker": worker,
        "schedule": schedule,
        "tenant": tenant,
        "error_type": error_type,
        "search": text,
        "dead": True if dead else None,
    }
    for key, value in (("since", since), ("until", until)):
        at = moment(value, now, key)
        params[key] = at.isoformat() if at is not None else None
    where = parse_filter({key: value for key, value in params.items() if value is not None})
    if not 1 <= limit <= MAX_SEARCH:
        raise InvalidInput(f"limit is 1 to {MAX_SEARCH}, not {limit}")
    if cursor is not None and cursor < 1:
        raise InvalidInput("cursor is the next_cursor of an earlier answer")
    page = door.executions.page(where, limit, cursor)
    rows = page.items
    answer: dict[str, Any] = {"count": 0, "next_cursor": page.next_cursor}
    kept = fit(
        answer,
        "executions",
        [_summary(row) for row in rows],
        BUDGET,
        lambda missing: f"{missing} more on this page left out for size: go on with next_cursor",
    )
    answer["count"] = kept
    if kept < len(rows) and kept:
        # Paging goes on right after the last row shown: nothing is skipped.
        answer["next_cursor"] = rows[kept - 1].id
    if not rows:
        answer["note"] = "nothing matches: widen the filter (status, since, task)"
    return answer


def get_execution(
    door: Operations, task_id: str, full: bool = False, full_traceback: bool = False
) -> dict[str, Any]:
    executions = door.executions
    row = executions.get(task_id)
    limit = 8 * PREVIEW_CHARS if full else PREVIEW_CHARS
    shown = row.shown()
    answer: dict[str, Any] = {
        key: value
        for key, value in shown.items()
        if value is not None and key not in ("args", "kwargs", "result", "exception_trace")
    }
    if row.reported_progress is not None:
        progress = row.reported_progress
        answer["progress"] = {
            "current": progress.current,
            "total": progress.total,
            "note": progress.note,
            "at": progress.at,
        }
    for key in ("args", "kwargs", "result"):
        answer[key] = preview(shown.get(key), limit, HINT)
    answer["error_message"] = preview(row.error_message, limit, HINT)
    if row.exception_trace:
        answer["traceback"] = (
            tail(row.exception_trace, 16_000)
            if full_traceback
            else last_frames(row.exception_trace)
        )
    timeline = executions.timeline(task_id)
    entries = [_entry(entry) for entry in timeline[-TIMELINE_ENTRIES:]]
    answer["timeline"] = entries
    if len(timeline) > TIMELINE_ENTRIES:
        answer["timeline_cut"] = f"the first {len(timeline) - TIMELINE_ENTRIES} entries cut"
    related = executions.related(row, limit=10)
    answer["links"] = {
        "parent": row.parent_id,
        "root": row.root_id if row.root_id != row.task_id else None,
        "retried_from": row.retried_from,
        "retries": [_link(r) for r in related.retries],
        "children": [_link(r) for r in related.children],
        "group_members": len(related.group),
        "schedule": row.schedule_name,
        "dashboard": _dashboard_url(door, row.task_id),
    }
    answer["can_be_retried"] = row.can_be_resent
    return answer


def failure_groups(
    door: Operations, since: str = "24h", task: str | None = None, limit: int = 20
) -> dict[str, Any]:
    now = door.services.clock.now()
    start = moment(since, now, "since") or now - timedelta(days=1)
    if not 1 <= limit <= 100:
        raise InvalidInput(f"limit is 1 to 100, not {limit}")
    groups = door.executions.failure_groups(start, limit=200)
    if task:
        groups = [group for group in groups if group.task_name == task]
    answer: dict[str, Any] = {"since": start}
    fit(
        answer,
        "groups",
        [
            {
                "task": group.task_name,
                "error_type": group.error_type,
                "count": group.count,
                "first_seen": group.first_seen,
                "last_seen": group.last_seen,
                "sample_message": preview(group.sample, 200),
            }
            for group in groups[:limit]
        ],
    )
    if not groups:
        answer["note"] = "no failures in that period"
    return answer


def list_schedules(door: Operations, cursor: str | None = None, limit: int = 50) -> dict[str, Any]:
    schedules = door.schedules
    if not 1 <= limit <= 100:
        raise InvalidInput(f"limit is 1 to 100, not {limit}")
    page = schedules.page(cursor, limit + 1)
    more = len(page) > limit
    page = page[:limit]
    items = []
    for schedule in page:
        item = {
            "name": schedule.name,
            "task": schedule.task,
            "enabled": schedule.enabled,
            "timing": _timing(schedule),
            "next_due": None,
            "last_run_at": schedule.last_run_at,
            "total_runs": schedule.total_runs,
            "last_error": preview(schedule.last_error, 200),
        }
        if schedule.enabled:
            try:
                upcoming = schedules.upcoming(schedule.name, 1)
                item["next_due"] = upcoming[0] if upcoming else None
            except InvalidInput as exc:
                item["problem"] = str(exc)
        items.append(item)
    answer: dict[str, Any] = {"next_cursor": page[-1].name if more and page else None}
    fit(answer, "schedules", items)
    return answer


def get_schedule(door: Operations, name: str) -> dict[str, Any]:
    schedules = door.schedules
    schedule = schedules.get(name)
    answer = schedule.as_dict()
    for key in ("args", "kwargs", "options"):
        answer[key] = preview(encode(answer.get(key)))
    answer["description"] = preview(schedule.description)
    answer["last_error"] = preview(schedule.last_error)
    answer["upcoming"] = []
    if schedule.enabled:
        try:
            answer["upcoming"] = schedules.upcoming(name, 5)
        except InvalidInput as exc:
            answer["problem"] = str(exc)
    runs = [
        {
            "due_at": run.due_at,
            "sent_at": run.sent_at,
            "origin": run.origin,
            "task_id": run.task_id,
            "status": run.status,
            "completed_at": run.completed_at,
            "error_type": run.error_type,
            "error": preview(run.error, 200),
        }
        for run in schedules.recent_runs(name, 10)
    ]
    fit(answer, "recent_runs", runs)
    return answer


def list_workers(door: Operations) -> dict[str, Any]:
    workers = door.workers.all()
    answer: dict[str, Any] = {
        "online": sum(1 for worker in workers if worker.online),
        "total": len(workers),
    }
    fit(answer, "workers", [worker.as_dict() for worker in workers])
    return answer


def list_queues(door: Operations) -> dict[str, Any]:
    answer: dict[str, Any] = {}
    items = []
    for queue in door.queues.all():
        shown = queue.as_dict()
        for old_name in ("queue", "backlog", "executions_by_status"):
            shown.pop(old_name, None)
        items.append(shown)
    fit(answer, "queues", items)
    return answer


def metrics(
    door: Operations,
    task: str | None = None,
    queue: str | None = None,
    since: str = "1h",
    until: str | None = None,
    step: str = "5m",
) -> dict[str, Any]:
    now = door.services.clock.now()
    start = moment(since, now, "since") or now - timedelta(hours=1)
    end = moment(until, now, "until") or now
    summary = door.metrics.summary(start, end, task, queue)
    request = {
        "task": task,
        "queue": queue,
        "since": start.isoformat(),
        "until": end.isoformat(),
        "step": step,
    }
    points = door.metrics.series({k: v for k, v in request.items() if v is not None})
    if len(points) > MAX_POINTS:
        raise InvalidInput(
            f"{len(points)} points of {step}: at most {MAX_POINTS}; take a longer step"
        )
    answer: dict[str, Any] = {
        "since": start,
        "until": end,
        "task": task,
        "queue": queue,
        "summary": summary.as_dict(),
        "units": "runtime and wait in seconds; failure_rate a fraction; throughput per second",
    }
    fit(answer, "series", [point.as_dict() for point in points if sum(point.counts.values())])
    return answer


def health(door: Operations) -> dict[str, Any]:
    return door.health.check().as_dict()


def job(door: Operations, job_id: str) -> dict[str, Any]:
    return door.executions.job(job_id).as_dict()


# Acting


def retry_execution(door: Operations, task_id: str) -> dict[str, Any]:
    new_id = door.executions.retry(task_id)
    return {
        "task_id": new_id,
        "retried_from": task_id,
        "next": "follow it with get_execution on the new task_id",
    }


def retry_failure_group(
    door: Operations, task: str, error_type: str, since: str, expected_count: int
) -> dict[str, Any]:
    now = door.services.clock.now()
    start = moment(since, now, "since")
    if start is None:
        raise InvalidInput("since is required: the period of the failure group")
    wanted = {
        "task": task,
        "error_type": error_type,
        "status": [FAILURE],
        "since": start.isoformat(),
        "until": now.isoformat(),
    }
    where = parse_filter(wanted)
    found = door.executions.count(where, cap=100_000)
    if found != expected_count:
        raise Conflict(
            f"{found} executions match (task {task}, {error_type}, since {start:%Y-%m-%d %H:%M} "
            f"UTC), not the {expected_count} you confirmed: call again with "
            f"expected_count={found} if that is right"
        )
    accepted = door.executions.retry_many({"filter": wanted})
    answer: dict[str, Any] = {"job_id": accepted.job_id, "matched": found}
    if accepted.finished is not None:
        answer.update(status=accepted.finished.status, result=accepted.finished.result)
    else:
        answer.update(status="running", next="follow it with get_job")
    return answer


def cancel_execution(door: Operations, task_id: str, terminate: bool = False) -> dict[str, Any]:
    done = door.executions.cancel(task_id, terminate=terminate)
    return {
        "task_id": done.task_id,
        "status_before": done.status_before,
        "terminated": done.terminated,
    }


def run_schedule_now(door: Operations, name: str) -> dict[str, Any]:
    return {"schedule": name, "task_id": door.schedules.run_now(name)}


def set_schedule_enabled(door: Operations, name: str, enabled: bool) -> dict[str, Any]:
    schedules = door.schedules
    schedule = schedules.enable(name) if enabled else schedules.disable(name)
    return {"schedule": schedule.name, "enabled": schedule.enabled}


def dispatch_task(
    door: Operations,
    task: str,
    args: list[Any] | None = None,
    kwargs: dict[str, Any] | None = None,
    queue: str | None = None,
    countdown: float | None = None,
) -> dict[str, Any]:
    request: dict[str, Any] = {"task": task, "args": args or [], "kwargs": kwargs or {}}
    if queue is not None:
        request["queue"] = queue
    if countdown is not None:
        request["countdown"] = countdown
    return {"task_id": door.executions.dispatch(request), "task": task}


# Shapes


def _summary(row: Execution) -> dict[str, Any]:
    """One row of a search: enough to choose which to open."""
    return {
        "task_id": row.task_id,
        "cursor": row.id,
        "task": row.task_name,
        "status": row.status,
        "queue": row.queue,
        "worker": row.worker_id,
        "attempts": row.attempts,
        "published_at": row.published_at,
        "started_at": row.started_at,
        "completed_at": row.completed_at,
        "runtime_ms": row.execution_time_ms,
        "args": preview(row.args, 120, HINT),
        "kwargs": preview(row.kwargs, 120, HINT),
        "error_type": row.error_type,
        "error_message": preview(row.error_message, 200, HINT),
        "retried_from": row.retried_from,
    }


def _entry(entry: TimelineEntry) -> dict[str, Any]:
    return {
        "at": entry.at,
        "event": entry.event,
        "worker": entry.worker,
        "details": _decoded(entry.details),
    }


def _decoded(details: str | None) -> Any:
    """A timeline entry's details as the object they are (stored as JSON text)."""
    if not details:
        return None
    try:
        return json.loads(details)
    except ValueError:
        return preview(details, 200)


def _link(row: Execution) -> dict[str, Any]:
    return {"task_id": row.task_id, "task": row.task_name, "status": row.status}


def _timing(schedule: Schedule) -> str:
    if schedule.kind == "cron":
        return f"cron {schedule.cron_expression} ({schedule.timezone or 'default time zone'})"
    if schedule.kind == "interval":
        return f"every {format_duration(schedule.interval_seconds or 0)}"
    return f"once at {schedule.run_at.isoformat() if schedule.run_at else '?'}"


def _dashboard_url(door: Operations, task_id: str) -> str | None:
    """The execution's page, when ``ops_dashboard_public_url`` says where the dashboard is."""
    base = door.services.config.dashboard_public_url
    return f"{base.rstrip('/')}/executions/view/{quote(task_id)}" if base else None
