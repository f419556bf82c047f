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
from typing import Any

from celery_ops.core.clock import from_timestamp, storage_from_timestamp, to_instant
from celery_ops.core.lifecycle import (
    ERROR_PROGRESS,
    RECEIVED,
    SUCCESS,
    ExecutionPatch,
    merge_patches,
    progress,
)
from celery_ops.recording.events import NO_RESULT, DefinitionReport, ExecutionEvent, RecorderEvent
from celery_ops.recording.payload import render_arguments, render_value
from celery_ops.store import RecordBatch, WorkerState
from celery_ops.store.columns import clean_text, execution_values, recurring_name

logger = logging.getLogger(__name__)


def fold_events(
    events: Iterable[RecorderEvent], max_payload_bytes: int, keep_message_args: bool
) -> RecordBatch:
    batch = RecordBatch()
    patches: dict[str, ExecutionPatch] = {}
    # Task id -> where its first attempt's start put its two entries (received, started) on
    # the batch's timeline, until anything else of that task is put there.
    starts: dict[str, int] = {}
    timeline: list[dict[str, Any] | None] = []
    for event in events:
        try:
            if isinstance(event, ExecutionEvent):
                if event.frees_slot:
                    batch.freed_slots.append(event.task_id)
                    continue
                patch = _patch(event, max_payload_bytes, keep_message_args)
                existing = patches.get(event.task_id)
                if existing is None:
                    patches[event.task_id] = patch
                else:
                    merge_patches(existing, patch)
                if event.releases_key:
                    batch.released.append(event.task_id)
                if event.ends_batch:
                    batch.batches_ended.append(event.ends_batch)
                if event.on_timeline:
                    start = starts.pop(event.task_id, None)
                    if event.read_from_row and start is not None and event.status == SUCCESS:
                        # A first attempt that ran and succeeded within this batch: its row
                        # will hold its receipt, start and end, and the timeline reads them
                        # there (celery_ops.store.queries.get_timeline): no entry is stored.
                        timeline[start] = timeline[start + 1] = None
                        continue
                    if event.received_at is not None:
                        if event.read_from_row:
                            starts[event.task_id] = len(timeline)
                        timeline.append(_received_row(event, max_payload_bytes))
                    timeline.append(_timeline_row(event, max_payload_bytes))
            elif isinstance(event, DefinitionReport):
                batch.definitions.append(
                    (event.hostname, from_timestamp(event.at), event.definitions)
                )
            else:
                # A heartbeat written late still proves the worker is alive now.
                at = from_timestamp(time.time() if event.online else event.at)
                values = {
                    k: to_instant(v) if k == "started_at" else v for k, v in event.values.items()
                }
                batch.workers.append(
                    WorkerState(event.hostname, at, event.online, values, event.just_started)
                )
        except Exception:
            # One event that cannot be rendered must not cost the rest of the batch.
            logger.exception("celery-ops: could not record event %r; skipped", event)
    batch.executions = list(patches.values())
    batch.timeline = [row for row in timeline if row is not None]
    return batch


def _patch(event: ExecutionEvent, limit: int, keep_message_args: bool) -> ExecutionPatch:
    values = execution_values(event.values, limit)
    if event.arguments is not None:
        values.update(render_arguments(event.arguments, limit, keep_message_args))
    if event.result is not NO_RESULT:
        values["result"] = render_value(event.result, limit)
    # Converted here rather than at the write: a status-setting event's time is usually also
    # one of its columns (published_at, started_at, completed_at), so this is a cache hit.
    status_at = storage_from_timestamp(event.at) if event.status is not None else None
    reached = progress(event.status, event.attempt)
    if "error_type" in values or "error_message" in values:
        values[ERROR_PROGRESS] = reached
    return ExecutionPatch(event.task_id, event.status, reached, status_at, values)


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
        "at": storage_from_timestamp(at),
        "worker": recurring_name(event.worker) if event.worker else None,
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
