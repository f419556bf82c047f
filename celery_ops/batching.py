"""Fold a run of recorder events into one :class:`~celery_ops.store.RecordBatch`.

Runs on the flusher thread: this is where arguments and results are rendered to text, so the
signal handlers on the task's path only capture references.
"""

from __future__ import annotations

import functools
import json
import logging
import time
from collections.abc import Iterable
from datetime import datetime, timezone
from typing import Any

from celery_ops.events import NO_RESULT, DefinitionReport, ExecutionEvent, RecorderEvent
from celery_ops.lifecycle import RECEIVED, ExecutionPatch, merge_patches, progress
from celery_ops.payload import clean_name, clean_text, render_arguments, render_value
from celery_ops.store import RecordBatch, WorkerState
from celery_ops.store.models import executions
from celery_ops.store.types import naive_utc_from_timestamp, utc_from_timestamp

logger = logging.getLogger(__name__)

TIME_COLUMNS = frozenset(
    {
        "published_at",
        "received_at",
        "started_at",
        "completed_at",
        "failed_at",
        "revoked_at",
        "eta",
        "expires",
    }
)
#: Long text; every other text column is a name, VARCHAR(255) on every backend.
TEXT_COLUMNS = frozenset({"error_message", "exception_trace"})
#: Numbers, as the table declares them, whatever type a message header gave them; every
#: other column that is not a time is text.
NUMBER_COLUMNS: dict[str, type[int] | type[float]] = {
    column.name: column.type.python_type
    for column in executions.columns
    if column.type.python_type in (int, float)
}


def fold_events(
    events: Iterable[RecorderEvent], max_payload_bytes: int, keep_message_args: bool
) -> RecordBatch:
    batch = RecordBatch()
    patches: dict[str, ExecutionPatch] = {}
    for event in events:
        try:
            if isinstance(event, ExecutionEvent):
                patch = _patch(event, max_payload_bytes, keep_message_args)
                existing = patches.get(event.task_id)
                if existing is None:
                    patches[event.task_id] = patch
                else:
                    merge_patches(existing, patch)
                if event.on_timeline:
                    if event.received_at is not None:
                        batch.timeline.append(_received_row(event, max_payload_bytes))
                    batch.timeline.append(_timeline_row(event, max_payload_bytes))
            elif isinstance(event, DefinitionReport):
                at = utc_from_timestamp(event.at)
                assert at is not None
                batch.definitions.append((event.hostname, at, event.definitions))
            else:
                # A heartbeat written late still proves the worker is alive now.
                at = utc_from_timestamp(time.time() if event.online else event.at)
                assert at is not None
                values = {
                    k: to_datetime(v) if k == "started_at" else v for k, v in event.values.items()
                }
                batch.workers.append(
                    WorkerState(event.hostname, at, event.online, values, event.just_started)
                )
        except Exception:
            # One event that cannot be rendered must not cost the rest of the batch.
            logger.exception("celery-ops: could not record event %r; skipped", event)
    batch.executions = list(patches.values())
    return batch


def _patch(event: ExecutionEvent, limit: int, keep_message_args: bool) -> ExecutionPatch:
    values: dict[str, Any] = {}
    for column, value in event.values.items():
        if value is None:
            continue  # an absent value changes nothing under any rule (celery_ops.lifecycle)
        if column in TIME_COLUMNS:
            value = _stored_time(value)
        elif column in NUMBER_COLUMNS:
            value = _number(value, NUMBER_COLUMNS[column])
        else:
            # One type per column: a batch's values of a column travel as one array.
            text = value if isinstance(value, str) else str(value)
            if column in TEXT_COLUMNS:
                value = clean_text(text, limit)
            elif column in RECURRING_NAME_COLUMNS:
                value = _clean_recurring_name(text)
            else:
                value = clean_name(text)
        values[column] = value
    if event.arguments is not None:
        values.update(render_arguments(event.arguments, limit, keep_message_args))
    if event.result is not NO_RESULT:
        values["result"] = render_value(event.result, limit)
    # Converted here rather than at the write: a status-setting event's time is usually also
    # one of its columns (published_at, started_at, completed_at), so this is a cache hit.
    status_at = naive_utc_from_timestamp(event.at) if event.status is not None else None
    return ExecutionPatch(
        event.task_id, event.status, progress(event.status, event.attempt), status_at, values
    )


def _timeline_row(event: ExecutionEvent, limit: int) -> dict[str, Any]:
    details: dict[str, Any] = {"attempt": event.attempt}
    if event.status is not None:
        details["status"] = event.status
    if event.details:
        details.update(event.details)
    return _entry(event, event.name, event.at, details, limit)


def _received_row(event: ExecutionEvent, limit: int) -> dict[str, Any]:
    """The ``received`` entry of a start that also stands for the task's receipt."""
    assert event.received_at is not None
    details = {"attempt": event.attempt, "status": RECEIVED}
    return _entry(event, "received", event.received_at, details, limit)


def _entry(
    event: ExecutionEvent, name: str, at: float, details: dict[str, Any], limit: int
) -> dict[str, Any]:
    return {
        "task_id": event.task_id,
        "event": name,
        "at": naive_utc_from_timestamp(at),
        "worker": _clean_recurring_name(event.worker) if event.worker else None,
        "details": _details_text(details, limit),
    }


#: The timeline's details as JSON (one encoder: json.dumps with options builds one per call).
_details_json = json.JSONEncoder(default=str, ensure_ascii=False).encode


#: Detail values whose type, with the value, fully decides their JSON.
_SCALARS = frozenset({str, int, float, bool, type(None)})


def _details_text(details: dict[str, Any], limit: int) -> str:
    # A process writes the same few details over and over ({"attempt": 1, "status":
    # "STARTED", "pid": 12}): a cache hit costs a seventh of encoding them. The types are in
    # the key because 1, 1.0 and True are equal keys but different JSON; containers are not
    # cached, as (1,) and (True,) would share a key.
    types = tuple(map(type, details.values()))
    if _SCALARS.issuperset(types):
        return _cached_details_text(tuple(details.items()), types, limit)
    return clean_text(_details_json(details), limit)


@functools.lru_cache(maxsize=1024)
def _cached_details_text(
    items: tuple[tuple[str, Any], ...], _types: tuple[type, ...], limit: int
) -> str:
    return clean_text(_details_json(dict(items)), limit)


#: Names that recur from task to task (a process runs a few tasks, from a few queues, on one
#: worker): each is checked once, through :func:`_clean_recurring_name`.
RECURRING_NAME_COLUMNS = frozenset({"task_name", "queue", "worker_id"})


@functools.lru_cache(maxsize=1024)
def _clean_recurring_name(name: str) -> str:
    return clean_name(name)


def _number(value: Any, kind: type[int] | type[float]) -> int | float | None:
    """``value`` as ``kind``; a header that is not a number leaves the column empty."""
    if type(value) is kind:
        return value
    try:
        return kind(value)
    except (TypeError, ValueError, OverflowError):
        return None


def _stored_time(value: Any) -> datetime | None:
    """A point in time as the stores keep it: naive UTC; one that cannot be read, None (a
    malformed ``eta`` header must not cost the rest of the event)."""
    if isinstance(value, int | float):
        return naive_utc_from_timestamp(float(value))
    try:
        moment = to_datetime(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return None if moment is None else moment.replace(tzinfo=None)


def to_datetime(value: Any) -> datetime | None:
    """Timestamps, ISO-8601 strings (as Celery puts in headers) and datetimes, as aware UTC."""
    if value is None or value == "":
        return None
    if isinstance(value, int | float):
        return utc_from_timestamp(float(value))
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if isinstance(value, datetime):
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)
    raise TypeError(f"not a point in time: {value!r}")
