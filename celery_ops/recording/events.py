"""What signal handlers hand to the recorder: small values, cheap to build on the task's path."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from celery_ops.recording.payload import Arguments


class _NoResult:
    """Marker for an event that carries no task result (None is a valid result)."""

    def __repr__(self) -> str:
        return "NO_RESULT"


NO_RESULT: Any = _NoResult()


@dataclass(slots=True)
class ExecutionEvent:
    """One moment in the life of a task id, e.g. published, started or failed."""

    task_id: str
    name: str
    at: float
    status: str | None
    attempt: int
    values: dict[str, Any] = field(default_factory=dict)
    arguments: Arguments | None = None
    result: Any = NO_RESULT
    #: Read only: events may share one (a producer's, per queue).
    details: Mapping[str, Any] | None = None
    worker: str | None = None
    on_timeline: bool = True
    #: Set on a start that also stands for the task's receipt: the process that runs a task
    #: at once records both as one event (one row change) with two timeline entries.
    received_at: float | None = None
    #: A unique task's start or end that frees its key (``ops_unique_until``).
    releases_key: bool = False
    #: The end of a run that held a concurrency slot of a limited task.
    frees_slot: bool = False
    #: The batch whose member this final event ends (its callbacks may be due).
    ends_batch: str | None = None
    #: Set on the start (standing for its receipt) and on the success of a first attempt:
    #: when one batch holds both, their three timeline entries are not stored, because the
    #: execution's row says all they say (``celery_ops.store.queries.get_timeline``).
    read_from_row: bool = False


@dataclass(slots=True)
class WorkerReport:
    """A worker's main process saying it is up (with its settings), alive, or gone."""

    hostname: str
    at: float
    online: bool
    values: dict[str, Any] = field(default_factory=dict)
    just_started: bool = False


@dataclass(slots=True)
class DefinitionReport:
    """The tasks registered on a worker when it became ready."""

    hostname: str
    at: float
    definitions: list[dict[str, Any]]


RecorderEvent = ExecutionEvent | WorkerReport | DefinitionReport
