"""What the store returns: one frozen dataclass per kind of row, typed, read-only.

The store builds them from its tables; the operations layer hands them to the front ends,
which render them. Times are aware UTC datetimes; JSON columns that only celery-ops writes
(a worker's queues, an audit entry's targets) arrive decoded.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
from typing import Any

from celery_ops.core.clock import as_utc


@dataclass(frozen=True, slots=True)
class Execution:
    """One row of ``celery_ops_executions``: one Celery task id, what was sent, how it ran."""

    id: int
    task_id: str
    task_name: str | None = None
    queue: str | None = None
    args: str | None = None
    kwargs: str | None = None
    #: The exact arguments of the published message, kept only to retry; never shown.
    message_args: str | None = None
    message_kwargs: str | None = None
    priority: int | None = None
    eta: datetime | None = None
    expires: datetime | None = None
    status: str | None = None
    #: ``attempt * 10 + rank`` of the newest status (celery_ops.core.lifecycle); internal.
    progress: int = -1
    status_at: datetime | None = None
    attempts: int = 0
    published_at: datetime | None = None
    received_at: datetime | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    failed_at: datetime | None = None
    revoked_at: datetime | None = None
    execution_time_ms: float | None = None
    wait_time_ms: float | None = None
    worker_id: str | None = None
    pid: int | None = None
    result: str | None = None
    error_type: str | None = None
    error_message: str | None = None
    exception_trace: str | None = None
    error_progress: int | None = None
    memory_usage_mb: float | None = None
    progress_current: float | None = None
    progress_total: float | None = None
    progress_note: str | None = None
    progress_at: datetime | None = None
    parent_id: str | None = None
    root_id: str | None = None
    group_id: str | None = None
    schedule_name: str | None = None
    retried_from: str | None = None
    tenant_id: str | None = None
    batch_id: str | None = None

    #: Fields never shown as they are: the exact message arguments exist only to retry a
    #: task; the progress columns are shown together, as ``progress``.
    HIDDEN = frozenset(
        {
            "id",
            "message_args",
            "message_kwargs",
            "progress",
            "error_progress",
            "progress_current",
            "progress_total",
            "progress_note",
            "progress_at",
        }
    )

    def shown(self) -> dict[str, Any]:
        """Every field an operator may see, by name; ``progress`` is a :class:`Progress`."""
        shown = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in self.HIDDEN}
        shown["progress"] = self.reported_progress
        return shown

    @property
    def reported_progress(self) -> Progress | None:
        """How far the task said it got, in its latest report; None if it never said."""
        if self.progress_at is None or self.progress_current is None:
            return None
        return Progress(
            self.progress_current, self.progress_total, self.progress_note or None, self.progress_at
        )

    @property
    def can_be_resent(self) -> bool:
        """Whether the exact arguments were kept, so that a retry sends the same message."""
        return bool(self.task_name) and None not in (self.message_args, self.message_kwargs)


@dataclass(frozen=True, slots=True)
class Progress:
    """What a running task said of how far it got: ``current`` of ``total`` (None: a total it
    did not know), with a note, at a time."""

    current: float
    total: float | None
    note: str | None
    at: datetime

    @property
    def fraction(self) -> float | None:
        """Between 0 and 1; None without a total."""
        if not self.total or self.total <= 0:
            return None
        return min(1.0, max(0.0, self.current / self.total))

    def as_dict(self) -> dict[str, Any]:
        return {
            "current": _plain_number(self.current),
            "total": None if self.total is None else _plain_number(self.total),
            "note": self.note,
            "at": self.at,
        }


def _plain_number(value: float) -> float | int:
    """40.0 as 40: counts reported as integers read back as integers."""
    return int(value) if value.is_integer() and abs(value) < 2**53 else value


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    """One step in the life of a task id (``celery_ops_events``)."""

    id: int
    task_id: str
    event: str
    at: datetime
    worker: str | None = None
    #: JSON text of what the step carried (status, attempt, error, pid...).
    details: str | None = None


@dataclass(frozen=True, slots=True)
class WorkerRecord:
    """A worker node as its own heartbeats describe it."""

    id: int
    hostname: str
    status: str
    last_heartbeat: datetime | None = None
    started_at: datetime | None = None
    stopped_at: datetime | None = None
    pid: int | None = None
    pool: str | None = None
    concurrency: int | None = None
    queues: tuple[str, ...] = ()
    versions: dict[str, str] = field(default_factory=dict)
    tasks_processed: int = 0
    events_dropped: int = 0

    @property
    def online(self) -> bool:
        return self.status == "online"


@dataclass(frozen=True, slots=True)
class QueuePause:
    """A paused queue: who paused it and when."""

    name: str
    paused_by: str
    paused_at: datetime


@dataclass(frozen=True, slots=True)
class QueueSample:
    """A queue as sampled once a minute (by beat or a dashboard): its depth in the broker and
    how long its oldest waiting execution had waited, seconds (None: unknown, or none)."""

    queue: str
    at: datetime
    depth: int | None
    latency_seconds: float | None


@dataclass(frozen=True, slots=True)
class TaskDefinition:
    """A task name registered on at least one worker, with its defaults."""

    name: str
    queue: str | None = None
    rate_limit: str | None = None
    max_retries: int | None = None
    soft_time_limit: float | None = None
    time_limit: float | None = None
    acks_late: bool | None = None
    doc: str | None = None
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    workers: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class FailureGroup:
    """Failures of one task with one exception type, in a window."""

    task_name: str | None
    error_type: str | None
    count: int
    first_seen: datetime
    last_seen: datetime
    sample: str | None


@dataclass(frozen=True, slots=True)
class ScheduleRow:
    """One row of ``celery_ops_schedules`` as stored; JSON columns still text (a row written
    by plain SQL may hold anything: beat decodes them, and says so when it cannot)."""

    id: int
    name: str
    task: str
    kind: str
    cron_expression: str | None = None
    timezone: str | None = None
    interval_seconds: float | None = None
    run_at: datetime | None = None
    args: str | None = None
    kwargs: str | None = None
    options: str | None = None
    queue: str | None = None
    priority: int | None = None
    misfire: str | None = None
    enabled: bool = True
    start_at: datetime | None = None
    end_at: datetime | None = None
    max_runs: int | None = None
    total_runs: int = 0
    last_run_at: datetime | None = None
    next_run_at: datetime | None = None
    last_task_id: str | None = None
    last_error: str | None = None
    description: str | None = None
    source: str = "user"
    created_at: datetime | None = None
    updated_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class ScheduleRun:
    """One due time of a schedule, claimed by a beat, and the outcome of what it sent."""

    id: int
    schedule_id: int
    schedule_name: str
    due_at: datetime
    claimed_at: datetime
    claimed_by: str
    task_id: str
    origin: str = "schedule"
    sent_at: datetime | None = None
    error: str | None = None
    #: The execution it sent, when the store has heard of it.
    status: str | None = None
    completed_at: datetime | None = None
    error_type: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class BatchRecord:
    """A batch of tasks (``celery_ops.batch``) as stored: its members are the executions
    whose ``batch_id`` is its id; callbacks are signatures as JSON text."""

    id: str
    name: str | None
    created_at: datetime
    created_by: str
    total: int
    allow_failures: bool
    on_success: str | None = None
    on_failure: str | None = None
    on_finish: str | None = None
    success_sent_at: datetime | None = None
    failure_sent_at: datetime | None = None
    finish_sent_at: datetime | None = None
    cancelled_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Discard:
    """A final failure taken out of the dead set by an operator; its record stays."""

    task_id: str
    at: datetime
    by: str


@dataclass(frozen=True, slots=True)
class HeldKey:
    """A unique task's key and the execution holding it (``celery_ops_unique_claims``)."""

    task_name: str
    key_hash: str
    key_text: str
    task_id: str
    claimed_at: datetime
    expires_at: datetime
    until: str


@dataclass(frozen=True, slots=True)
class User:
    """Someone who may sign in to the dashboard and the API, with one role."""

    id: int
    username: str
    password_hash: str
    role: str
    active: bool = True
    created_at: datetime | None = None
    updated_at: datetime | None = None
    last_login_at: datetime | None = None
    #: Part of every session of this user; raised to end them all.
    session_version: int = 0


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One line of the audit log: who did what, when, to what, and how it ended.

    ``actor`` is a user's name, or one of the product's own actors (``cli:...``,
    ``system:...``), which always contain a colon that user names cannot.
    """

    at: datetime
    actor: str
    action: str
    targets: Any
    outcome: str
    detail: str | None = None
    role: str | None = None
    remote_addr: str | None = None
    id: int | None = None


@dataclass(frozen=True, slots=True)
class JobRecord:
    """A long operation running in the background, and how far it got."""

    id: str
    action: str
    actor: str
    status: str
    done: int = 0
    total: int | None = None
    result: Any = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    audit_id: int | None = None

    def as_dict(self) -> dict[str, Any]:
        """What a front end shows of it (times as ISO 8601 text)."""
        return {
            "id": self.id,
            "action": self.action,
            "status": self.status,
            "done": self.done,
            "total": self.total,
            "result": self.result,
            "actor": self.actor,
            "created_at": as_utc(self.created_at).isoformat() if self.created_at else None,
            "updated_at": as_utc(self.updated_at).isoformat() if self.updated_at else None,
        }
