"""The celery-ops tables. Their names and columns are part of the public contract."""

from __future__ import annotations

from datetime import datetime
from typing import cast

from sqlalchemy import (
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
    true,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from celery_ops.store.types import BigId, Blob, LongText, UTCDateTime

NAME = String(255)
TABLE_OPTIONS = {"mysql_charset": "utf8mb4", "mysql_engine": "InnoDB"}


class Base(DeclarativeBase):
    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(table_name)s_%(column_0_N_name)s",
            "uq": "uq_%(table_name)s_%(column_0_name)s",
            "pk": "pk_%(table_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s",
        }
    )


#: Filters on columns that most executions leave NULL.
SPARSE_FILTER_COLUMNS = (
    "parent_id",
    "group_id",
    "retried_from",
    "schedule_name",
    "tenant_id",
    "batch_id",
)


def sparse_index(column: str) -> Index:
    """(column, id) over the rows that have a value (a plain index on MariaDB)."""
    has_value = text(f"{column} IS NOT NULL")
    return Index(
        f"ix_celery_ops_executions_{column}_id",
        column,
        "id",
        postgresql_where=has_value,
        sqlite_where=has_value,
    )


class Execution(Base):
    """One row per Celery task id: what was sent, where it ran, how it ended."""

    __tablename__ = "celery_ops_executions"
    # Each row is updated about three times in its life, and on PostgreSQL an update that
    # touches an indexed column (status does) writes to every index the new row version
    # belongs to: few full indexes, and partial ones (PostgreSQL, SQLite) for the columns
    # most rows leave empty, which cost nothing to rows without a value.
    # (status, status_at): counts in time windows, failures, retention; (worker_id, status):
    # the reaper; (column, id): each list filter, newest first (keyset paging by id).
    __table_args__ = (
        Index(None, "status", "status_at"),
        Index(None, "worker_id", "status"),
        Index(None, "task_name", "id"),
        Index(None, "queue", "id"),
        *(sparse_index(column) for column in SPARSE_FILTER_COLUMNS),
        TABLE_OPTIONS,
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    task_id: Mapped[str] = mapped_column(NAME, unique=True)
    task_name: Mapped[str | None] = mapped_column(NAME)
    queue: Mapped[str | None] = mapped_column(NAME)
    args: Mapped[str | None] = mapped_column(LongText)
    kwargs: Mapped[str | None] = mapped_column(LongText)
    # The exact arguments of the published message, for retry; never displayed.
    message_args: Mapped[str | None] = mapped_column(LongText)
    message_kwargs: Mapped[str | None] = mapped_column(LongText)
    priority: Mapped[int | None] = mapped_column(Integer)
    eta: Mapped[datetime | None] = mapped_column(UTCDateTime)
    expires: Mapped[datetime | None] = mapped_column(UTCDateTime)
    status: Mapped[str | None] = mapped_column(String(16))
    # attempt * 10 + rank of the newest status: see celery_ops.core.lifecycle.
    progress: Mapped[int] = mapped_column(Integer, default=-1)
    status_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    received_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    failed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    execution_time_ms: Mapped[float | None] = mapped_column(Float)
    wait_time_ms: Mapped[float | None] = mapped_column(Float)
    worker_id: Mapped[str | None] = mapped_column(NAME)
    pid: Mapped[int | None] = mapped_column(Integer)
    result: Mapped[str | None] = mapped_column(LongText)
    error_type: Mapped[str | None] = mapped_column(NAME)
    error_message: Mapped[str | None] = mapped_column(LongText)
    exception_trace: Mapped[str | None] = mapped_column(LongText)
    #: The progress of the event whose error the row shows (core.lifecycle.ERROR_PROGRESS).
    error_progress: Mapped[int | None] = mapped_column(Integer)
    memory_usage_mb: Mapped[float | None] = mapped_column(Float)
    # How far the task said it got (celery_ops.report_progress, or update_state with a meta
    # of current and total), its latest report: core.lifecycle.Policy.LATEST_PROGRESS.
    progress_current: Mapped[float | None] = mapped_column(Float)
    progress_total: Mapped[float | None] = mapped_column(Float)
    progress_note: Mapped[str | None] = mapped_column(NAME)
    progress_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    parent_id: Mapped[str | None] = mapped_column(NAME)
    root_id: Mapped[str | None] = mapped_column(NAME)
    group_id: Mapped[str | None] = mapped_column(NAME)
    schedule_name: Mapped[str | None] = mapped_column(NAME)
    retried_from: Mapped[str | None] = mapped_column(NAME)
    tenant_id: Mapped[str | None] = mapped_column(NAME)
    # The batch it is a member of (celery_ops.batch), from the message's ops_batch header.
    batch_id: Mapped[str | None] = mapped_column(String(36))
    # What the row was before its latest write, returned by that write so the rollups take
    # away what it had contributed (celery_ops.core.rollups). NULL in was_status: the row was
    # written before rollups existed and is not counted yet (the backfill counts it); "" in
    # was_status: it was counted as contributing nothing.
    was_status: Mapped[str | None] = mapped_column(String(16))
    was_status_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    was_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    was_execution_time_ms: Mapped[float | None] = mapped_column(Float)
    was_wait_time_ms: Mapped[float | None] = mapped_column(Float)
    # Task name and queue are kept once known, so "was it known" says what it was.
    had_task_name: Mapped[bool | None] = mapped_column(Boolean)
    had_queue: Mapped[bool | None] = mapped_column(Boolean)


class Rollup(Base):
    """Per grain (minute, hour, day), task name and queue: a state's count or a histogram
    bucket's (celery_ops.core.rollups). History: purging executions leaves them."""

    __tablename__ = "celery_ops_rollups"
    # Reads take a grain, measures and a period, of every task and queue (Home's counts, a
    # series, /metrics): by (grain, measure, at), and on PostgreSQL from the index alone.
    __table_args__ = (
        Index(
            "ix_celery_ops_rollups_grain_measure_at",
            "grain",
            "measure",
            "at",
            postgresql_include=["task_name", "queue", "bucket", "count"],
        ),
        TABLE_OPTIONS,
    )

    grain: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    task_name: Mapped[str] = mapped_column(NAME, primary_key=True)
    queue: Mapped[str] = mapped_column(NAME, primary_key=True)
    measure: Mapped[str] = mapped_column(String(16), primary_key=True)
    bucket: Mapped[int] = mapped_column(Integer, primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger)


class ExecutionEventRow(Base):
    """Append-only timeline: one row per lifecycle event of a task id."""

    __tablename__ = "celery_ops_events"
    __table_args__ = (Index(None, "task_id", "at"), TABLE_OPTIONS)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    task_id: Mapped[str] = mapped_column(NAME)
    event: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    worker: Mapped[str | None] = mapped_column(NAME)
    details: Mapped[str | None] = mapped_column(LongText)


class Worker(Base):
    """A worker node, by hostname, as its own heartbeats describe it."""

    __tablename__ = "celery_ops_workers"
    __table_args__ = (Index(None, "status", "last_heartbeat"), TABLE_OPTIONS)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    hostname: Mapped[str] = mapped_column(NAME, unique=True)
    status: Mapped[str] = mapped_column(String(16))
    last_heartbeat: Mapped[datetime | None] = mapped_column(UTCDateTime)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    stopped_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    pid: Mapped[int | None] = mapped_column(Integer)
    pool: Mapped[str | None] = mapped_column(String(64))
    concurrency: Mapped[int | None] = mapped_column(Integer)
    queues: Mapped[str | None] = mapped_column(Text)
    versions: Mapped[str | None] = mapped_column(Text)
    tasks_processed: Mapped[int] = mapped_column(Integer, default=0)
    events_dropped: Mapped[int] = mapped_column(Integer, default=0)


class TaskDefinition(Base):
    """A task name registered on at least one worker, with its defaults."""

    __tablename__ = "celery_ops_definitions"
    __table_args__ = (TABLE_OPTIONS,)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(NAME, unique=True)
    queue: Mapped[str | None] = mapped_column(NAME)
    rate_limit: Mapped[str | None] = mapped_column(String(64))
    max_retries: Mapped[int | None] = mapped_column(Integer)
    soft_time_limit: Mapped[float | None] = mapped_column(Float)
    time_limit: Mapped[float | None] = mapped_column(Float)
    acks_late: Mapped[bool | None] = mapped_column()
    doc: Mapped[str | None] = mapped_column(Text)
    first_seen: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_seen: Mapped[datetime | None] = mapped_column(UTCDateTime)
    workers: Mapped[str | None] = mapped_column(Text)


class Schedule(Base):
    """A periodic or one-off task that beat sends; edited live through the operations layer."""

    __tablename__ = "celery_ops_schedules"
    # Beat's only query per tick: enabled rows by due time.
    __table_args__ = (
        Index(None, "enabled", "next_run_at"),
        {**TABLE_OPTIONS, "sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(NAME, unique=True)
    task: Mapped[str] = mapped_column(NAME)
    # NULL in args, kwargs, options, timezone and misfire means the default (none, the
    # app's time zone, "once"), so a row written by plain SQL needs only the timing.
    args: Mapped[str | None] = mapped_column(LongText)
    kwargs: Mapped[str | None] = mapped_column(LongText)
    queue: Mapped[str | None] = mapped_column(NAME)
    priority: Mapped[int | None] = mapped_column(Integer)
    options: Mapped[str | None] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(16))
    cron_expression: Mapped[str | None] = mapped_column(String(255))
    timezone: Mapped[str | None] = mapped_column(String(64))
    interval_seconds: Mapped[float | None] = mapped_column(Float)
    run_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    misfire: Mapped[str | None] = mapped_column(String(16))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    start_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    end_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    max_runs: Mapped[int | None] = mapped_column(Integer)
    total_runs: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # NULL on an enabled row means "not computed yet": beat computes it (rows written by SQL).
    next_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_task_id: Mapped[str | None] = mapped_column(NAME)
    last_error: Mapped[str | None] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    # Where the definition comes from: "user" (CLI, dashboard, API), "config" (the app's
    # beat_schedule, re-synced at every beat start) or "redbeat" (imported).
    source: Mapped[str] = mapped_column(String(16), default="user", server_default="user")
    created_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ScheduleRun(Base):
    """One due time of one schedule, claimed by a beat before it is sent.

    The unique ``(schedule_id, due_at)`` is what makes a due time fire once however many
    beats run: a beat sends only the runs its own insert created.
    """

    __tablename__ = "celery_ops_schedule_runs"
    __table_args__ = (
        UniqueConstraint("schedule_id", "due_at"),
        # Claims whose beat died before sending them: few rows with sent_at NULL.
        Index(None, "sent_at", "claimed_at"),
        TABLE_OPTIONS,
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    schedule_id: Mapped[int] = mapped_column(BigId)
    schedule_name: Mapped[str] = mapped_column(NAME)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    claimed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    claimed_by: Mapped[str] = mapped_column(NAME)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    task_id: Mapped[str] = mapped_column(NAME)
    # "schedule" for a due time, "manual" for `schedules run` and "run now".
    origin: Mapped[str] = mapped_column(String(16), default="schedule")
    error: Mapped[str | None] = mapped_column(Text)


class User(Base):
    """Someone who may sign in to the dashboard and the API, with one role."""

    __tablename__ = "celery_ops_users"
    __table_args__ = (TABLE_OPTIONS,)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(150), unique=True)
    # A salted, slow hash (Werkzeug's scrypt); never the password.
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    created_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Part of every session cookie of this user: raised on sign-out, a new password, a role
    # change or a switch-off, it ends every session signed in before.
    session_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class ApiToken(Base):
    """A bearer token of a dashboard user, for the JSON API and the assistant interface."""

    __tablename__ = "celery_ops_api_tokens"
    __table_args__ = (TABLE_OPTIONS,)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("celery_ops_users.id", ondelete="CASCADE"), index=True
    )
    # SHA-256 of the token (hex): a token is 256 random bits, so a fast hash is enough,
    # and the lookup of every call is one indexed read.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str] = mapped_column(String(150), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class UniqueClaim(Base):
    """A unique task's key, held by the one execution that may be waiting or running with
    it (``ops_unique_for``): taken at publish by insert-or-nothing on the primary key, freed
    when that execution starts or ends (as the task asks) or when it expires."""

    __tablename__ = "celery_ops_unique_claims"
    __table_args__ = (TABLE_OPTIONS,)

    task_name: Mapped[str] = mapped_column(NAME, primary_key=True)
    # SHA-256 (hex) of the key's text: any length of key, one fixed-size index entry.
    key_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    key_text: Mapped[str] = mapped_column(NAME)
    task_id: Mapped[str] = mapped_column(NAME, index=True)
    claimed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # "started" or "finished": when the holder frees it.
    until: Mapped[str] = mapped_column(String(16))


class Discarded(Base):
    """A final failure an operator discarded: it leaves the dead set, its record stays."""

    __tablename__ = "celery_ops_discarded"
    __table_args__ = (TABLE_OPTIONS,)

    task_id: Mapped[str] = mapped_column(NAME, primary_key=True)
    discarded_at: Mapped[datetime] = mapped_column(UTCDateTime)
    discarded_by: Mapped[str] = mapped_column(NAME)


class LimitRow(Base):
    """A task type's cluster-wide limits, seeded from the settings or edited live."""

    __tablename__ = "celery_ops_limits"
    __table_args__ = (TABLE_OPTIONS,)

    task_name: Mapped[str] = mapped_column(NAME, primary_key=True)
    rate: Mapped[str | None] = mapped_column(String(32))
    # JSON lists of argument names.
    rate_key: Mapped[str | None] = mapped_column(String(1024))
    concurrency: Mapped[int | None] = mapped_column(Integer)
    concurrency_key: Mapped[str | None] = mapped_column(String(1024))
    # "config" (seeded from ops_rate_limits / ops_concurrency_limits) or "live" (edited).
    source: Mapped[str] = mapped_column(String(16))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_by: Mapped[str] = mapped_column(NAME)


class LimitGate(Base):
    """One row per limited (task, key): what admissions lock, so that two workers checking
    the same limit at once take turns."""

    __tablename__ = "celery_ops_limit_gates"
    __table_args__ = (TABLE_OPTIONS,)

    task_name: Mapped[str] = mapped_column(NAME, primary_key=True)
    key_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(8), primary_key=True)


class LimitPermit(Base):
    """A start counted by a rate (kept one period) or a slot held by a running task (until
    it ends, or expires)."""

    __tablename__ = "celery_ops_limit_permits"
    __table_args__ = (
        Index(None, "task_name", "key_hash", "kind", "at"),
        Index(None, "task_id"),
        TABLE_OPTIONS,
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    task_name: Mapped[str] = mapped_column(NAME)
    key_hash: Mapped[str] = mapped_column(String(64))
    # "rate" or "slot"
    kind: Mapped[str] = mapped_column(String(8))
    task_id: Mapped[str] = mapped_column(NAME)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class TaskBatch(Base):
    """A batch of tasks with callbacks (``celery_ops.batch``); each callback's ``*_sent_at``
    is set by the one process that sends it (a conditional update: exactly once)."""

    __tablename__ = "celery_ops_batches"
    __table_args__ = (Index(None, "created_at"), TABLE_OPTIONS)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str | None] = mapped_column(NAME)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(NAME)
    total: Mapped[int] = mapped_column(Integer)
    allow_failures: Mapped[bool] = mapped_column(Boolean)
    on_success: Mapped[str | None] = mapped_column(LongText)
    on_failure: Mapped[str | None] = mapped_column(LongText)
    on_finish: Mapped[str | None] = mapped_column(LongText)
    success_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    failure_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finish_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class LoginThrottle(Base):
    """Wrong passwords counted per user name and per client address, to refuse guessing."""

    __tablename__ = "celery_ops_login_throttle"
    __table_args__ = (TABLE_OPTIONS,)

    # "user:<name>" or "address:<ip>"
    key: Mapped[str] = mapped_column(NAME, primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    first_failure_at: Mapped[datetime] = mapped_column(UTCDateTime)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)


class RelayedBatch(Base):
    """A batch the relay ingested: written in the transaction that wrote its rows, so that a
    batch delivered again (an ingester killed between its commit and its acknowledgement) is
    recognised and not written twice."""

    __tablename__ = "celery_ops_relayed_batches"
    __table_args__ = (Index(None, "applied_at"), TABLE_OPTIONS)

    batch_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    applied_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Lease(Base):
    """A role one process of the cluster holds for a while (the relay's ingester)."""

    __tablename__ = "celery_ops_leases"
    __table_args__ = (TABLE_OPTIONS,)

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(NAME)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class QueuePause(Base):
    """A queue no worker consumes until it is resumed: read by every worker before its
    consumer starts, so a worker started or restarted later keeps it paused too."""

    __tablename__ = "celery_ops_queue_pauses"
    __table_args__ = (TABLE_OPTIONS,)

    name: Mapped[str] = mapped_column(NAME, primary_key=True)
    paused_by: Mapped[str] = mapped_column(NAME)
    paused_at: Mapped[datetime] = mapped_column(UTCDateTime)


class QueueSampleRow(Base):
    """A queue's depth and latency, once a minute (the first sampler of a minute writes it)."""

    __tablename__ = "celery_ops_queue_samples"
    __table_args__ = (TABLE_OPTIONS,)

    queue: Mapped[str] = mapped_column(NAME, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    depth: Mapped[int | None] = mapped_column(BigInteger)
    latency_seconds: Mapped[float | None] = mapped_column(Float)


class AlertRow(Base):
    """One alert: a rule's key in one throttle window. The first occurrence is sent; the
    next ones in the window are counted in ``held``. Inserted once (the unique key decides
    which evaluator made it), claimed by one sender at a time, retried while it fails."""

    __tablename__ = "celery_ops_alerts"
    __table_args__ = (
        UniqueConstraint("rule", "alert_key", "window_start"),
        Index(None, "status", "next_attempt_at"),
        {**TABLE_OPTIONS, "sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    rule: Mapped[str] = mapped_column(NAME)
    kind: Mapped[str] = mapped_column(String(32))
    alert_key: Mapped[str] = mapped_column(NAME)
    window_start: Mapped[datetime] = mapped_column(UTCDateTime)
    first_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_at: Mapped[datetime] = mapped_column(UTCDateTime)
    held: Mapped[int] = mapped_column(Integer, default=0)
    subject: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(LongText)
    #: pending (to send), sent, or failed (gave up).
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    #: The rule's destinations (by position) that took it: a retry skips them.
    delivered_to: Mapped[str | None] = mapped_column(Text)


class AlertOccurrence(Base):
    """An execution a rule has counted (sent, or held back): counted once, however late its
    row reaches the store and however many evaluators see it."""

    __tablename__ = "celery_ops_alert_occurrences"
    __table_args__ = (Index(None, "seen_at"), TABLE_OPTIONS)

    rule: Mapped[str] = mapped_column(NAME, primary_key=True)
    task_id: Mapped[str] = mapped_column(NAME, primary_key=True)
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime)


class AuditEntry(Base):
    """Who did what, when, to which targets, and how it ended: one row per operation."""

    __tablename__ = "celery_ops_audit_log"
    # Read newest first by id, optionally for one actor or one action.
    __table_args__ = (
        Index(None, "at"),
        Index(None, "actor", "id"),
        Index(None, "action", "id"),
        TABLE_OPTIONS,
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    # A user's name, or the product's own actor: cli:<os user>@<host>, system:<component>...
    actor: Mapped[str] = mapped_column(NAME)
    role: Mapped[str | None] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(64))
    # JSON: the task ids, schedule names, filter or counts the operation applied to.
    targets: Mapped[str | None] = mapped_column(LongText)
    # "ok", "denied", "failed", "partial", or "accepted" while a background job runs.
    outcome: Mapped[str] = mapped_column(String(16))
    detail: Mapped[str | None] = mapped_column(Text)
    remote_addr: Mapped[str | None] = mapped_column(String(64))


class Job(Base):
    """A long operation (bulk retry, cancel, purge) run in the background, and its progress."""

    __tablename__ = "celery_ops_jobs"
    __table_args__ = (Index(None, "status", "updated_at"), TABLE_OPTIONS)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    action: Mapped[str] = mapped_column(String(64))
    actor: Mapped[str] = mapped_column(NAME)
    # queued, running, done or failed.
    status: Mapped[str] = mapped_column(String(16))
    done: Mapped[int] = mapped_column(BigInteger, default=0)
    total: Mapped[int | None] = mapped_column(BigInteger)
    # JSON: the counts when it ended.
    result: Mapped[str | None] = mapped_column(Text)
    audit_id: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ExportPart(Base):
    """A piece of an export file (zlib-compressed), kept in the store so that any dashboard
    process can serve the download; pieces are read back in ``seq`` order."""

    __tablename__ = "celery_ops_export_parts"
    __table_args__ = (TABLE_OPTIONS,)

    job_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    data: Mapped[bytes] = mapped_column(Blob)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class SearchText(Base):
    """The text of each execution's (shown) arguments that search looks in, written once.

    A table apart, so that the index serving search (GIN over words on PostgreSQL, FULLTEXT on
    MariaDB, an FTS5 trigram table on SQLite; migrations 0004 and 0005) is written once per
    execution, not again at each of the row's status changes.
    """

    __tablename__ = "celery_ops_search"
    # Its search index differs per backend and is made by migration 0004 only.
    __table_args__ = (TABLE_OPTIONS,)

    task_id: Mapped[str] = mapped_column(NAME, primary_key=True)
    text: Mapped[str] = mapped_column(Text)


executions = cast(Table, Execution.__table__)
execution_events = cast(Table, ExecutionEventRow.__table__)
workers = cast(Table, Worker.__table__)
definitions = cast(Table, TaskDefinition.__table__)
schedules = cast(Table, Schedule.__table__)
schedule_runs = cast(Table, ScheduleRun.__table__)
users = cast(Table, User.__table__)
api_tokens = cast(Table, ApiToken.__table__)
unique_claims = cast(Table, UniqueClaim.__table__)
discarded = cast(Table, Discarded.__table__)
limits = cast(Table, LimitRow.__table__)
limit_gates = cast(Table, LimitGate.__table__)
limit_permits = cast(Table, LimitPermit.__table__)
task_batches = cast(Table, TaskBatch.__table__)
audit_log = cast(Table, AuditEntry.__table__)
jobs = cast(Table, Job.__table__)
login_throttle = cast(Table, LoginThrottle.__table__)
search_text = cast(Table, SearchText.__table__)
relayed_batches = cast(Table, RelayedBatch.__table__)
leases = cast(Table, Lease.__table__)
queue_pauses = cast(Table, QueuePause.__table__)
rollups = cast(Table, Rollup.__table__)
queue_samples = cast(Table, QueueSampleRow.__table__)
alerts = cast(Table, AlertRow.__table__)
export_parts = cast(Table, ExportPart.__table__)
alert_occurrences = cast(Table, AlertOccurrence.__table__)

#: The rollups' bookkeeping on an execution row (celery_ops.store.rollups), not part of it.
ROLLUP_BOOKKEEPING = frozenset(
    {
        "was_status",
        "was_status_at",
        "was_started_at",
        "was_execution_time_ms",
        "was_wait_time_ms",
        "had_task_name",
        "had_queue",
    }
)
#: The columns an execution record shows.
execution_record = tuple(c for c in executions.c if c.name not in ROLLUP_BOOKKEEPING)
