"""The celery-ops tables. Their names and columns are part of the public contract."""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
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

from celery_ops.store.types import BigId, Blob, LongText, UTCDateTime

NAME = String(255)
TABLE_OPTIONS: dict[str, Any] = {"mysql_charset": "utf8mb4", "mysql_engine": "InnoDB"}


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


#: One row per Celery task id: what was sent, where it ran, how it ended.
executions = Table(
    "celery_ops_executions",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("task_id", NAME, unique=True, nullable=False),
    Column("task_name", NAME),
    Column("queue", NAME),
    Column("args", LongText),
    Column("kwargs", LongText),
    # The exact arguments of the published message, for retry; never displayed.
    Column("message_args", LongText),
    Column("message_kwargs", LongText),
    Column("priority", Integer),
    Column("eta", UTCDateTime),
    Column("expires", UTCDateTime),
    Column("status", String(16)),
    # attempt * 10 + rank of the newest status: see celery_ops.core.lifecycle.
    Column("progress", Integer, default=-1, nullable=False),
    Column("status_at", UTCDateTime),
    Column("attempts", Integer, default=0, nullable=False),
    Column("published_at", UTCDateTime),
    Column("received_at", UTCDateTime),
    Column("started_at", UTCDateTime),
    Column("completed_at", UTCDateTime),
    Column("failed_at", UTCDateTime),
    Column("revoked_at", UTCDateTime),
    Column("execution_time_ms", Float),
    Column("wait_time_ms", Float),
    Column("worker_id", NAME),
    Column("pid", Integer),
    Column("result", LongText),
    Column("error_type", NAME),
    Column("error_message", LongText),
    Column("exception_trace", LongText),
    #: The progress of the event whose error the row shows (core.lifecycle.ERROR_PROGRESS).
    Column("error_progress", Integer),
    Column("memory_usage_mb", Float),
    # How far the task said it got (celery_ops.report_progress, or update_state with a meta
    # of current and total), its latest report: core.lifecycle.Policy.LATEST_PROGRESS.
    Column("progress_current", Float),
    Column("progress_total", Float),
    Column("progress_note", NAME),
    Column("progress_at", UTCDateTime),
    Column("parent_id", NAME),
    Column("root_id", NAME),
    Column("group_id", NAME),
    Column("schedule_name", NAME),
    Column("retried_from", NAME),
    Column("tenant_id", NAME),
    # The batch it is a member of (celery_ops.batch), from the message's ops_batch header.
    Column("batch_id", String(36)),
    # What the row was before its latest write, returned by that write so the rollups take
    # away what it had contributed (celery_ops.core.rollups). NULL in was_status: the row was
    # written before rollups existed and is not counted yet (the backfill counts it); "" in
    # was_status: it was counted as contributing nothing.
    Column("was_status", String(16)),
    Column("was_status_at", UTCDateTime),
    Column("was_started_at", UTCDateTime),
    Column("was_execution_time_ms", Float),
    Column("was_wait_time_ms", Float),
    # Task name and queue are kept once known, so "was it known" says what it was.
    Column("had_task_name", Boolean),
    Column("had_queue", Boolean),
    # Each row is updated about three times in its life, and on PostgreSQL an update that
    # touches an indexed column (status does) writes to every index the new row version
    # belongs to: few full indexes, and partial ones (PostgreSQL, SQLite) for the columns
    # most rows leave empty, which cost nothing to rows without a value.
    # (status, status_at): counts in time windows, failures, retention; (worker_id, status):
    # the reaper; (column, id): each list filter, newest first (keyset paging by id).
    Index(None, "status", "status_at"),
    Index(None, "worker_id", "status"),
    Index(None, "task_name", "id"),
    Index(None, "queue", "id"),
    *(sparse_index(column) for column in SPARSE_FILTER_COLUMNS),
    **TABLE_OPTIONS,
)

#: Per grain (minute, hour, day), task name and queue: a state's count or a histogram
#: bucket's (celery_ops.core.rollups). History: purging executions leaves them.
rollups = Table(
    "celery_ops_rollups",
    metadata,
    Column("grain", Integer, primary_key=True),
    Column("at", UTCDateTime, primary_key=True),
    Column("task_name", NAME, primary_key=True),
    Column("queue", NAME, primary_key=True),
    Column("measure", String(16), primary_key=True),
    Column("bucket", Integer, primary_key=True),
    Column("count", BigInteger, nullable=False),
    # Reads take a grain, measures and a period, of every task and queue (Home's counts, a
    # series, /metrics): by (grain, measure, at), and on PostgreSQL from the index alone.
    Index(
        "ix_celery_ops_rollups_grain_measure_at",
        "grain",
        "measure",
        "at",
        postgresql_include=["task_name", "queue", "bucket", "count"],
    ),
    **TABLE_OPTIONS,
)

#: Append-only timeline: one row per lifecycle event of a task id.
execution_events = Table(
    "celery_ops_events",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("task_id", NAME, nullable=False),
    Column("event", String(32), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("worker", NAME),
    Column("details", LongText),
    Index(None, "task_id", "at"),
    **TABLE_OPTIONS,
)

#: A worker node, by hostname, as its own heartbeats describe it.
workers = Table(
    "celery_ops_workers",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("hostname", NAME, unique=True, nullable=False),
    Column("status", String(16), nullable=False),
    Column("last_heartbeat", UTCDateTime),
    Column("started_at", UTCDateTime),
    Column("stopped_at", UTCDateTime),
    Column("pid", Integer),
    Column("pool", String(64)),
    Column("concurrency", Integer),
    Column("queues", Text),
    Column("versions", Text),
    Column("tasks_processed", Integer, default=0, nullable=False),
    Column("events_dropped", Integer, default=0, nullable=False),
    Index(None, "status", "last_heartbeat"),
    **TABLE_OPTIONS,
)

#: A task name registered on at least one worker, with its defaults.
definitions = Table(
    "celery_ops_definitions",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("name", NAME, unique=True, nullable=False),
    Column("queue", NAME),
    Column("rate_limit", String(64)),
    Column("max_retries", Integer),
    Column("soft_time_limit", Float),
    Column("time_limit", Float),
    Column("acks_late", Boolean),
    Column("doc", Text),
    Column("first_seen", UTCDateTime),
    Column("last_seen", UTCDateTime),
    Column("workers", Text),
    **TABLE_OPTIONS,
)

#: A periodic or one-off task that beat sends; edited live through the operations layer.
schedules = Table(
    "celery_ops_schedules",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("name", NAME, unique=True, nullable=False),
    Column("task", NAME, nullable=False),
    # NULL in args, kwargs, options, timezone and misfire means the default (none, the
    # app's time zone, "once"), so a row written by plain SQL needs only the timing.
    Column("args", LongText),
    Column("kwargs", LongText),
    Column("queue", NAME),
    Column("priority", Integer),
    Column("options", Text),
    Column("kind", String(16), nullable=False),
    Column("cron_expression", String(255)),
    Column("timezone", String(64)),
    Column("interval_seconds", Float),
    Column("run_at", UTCDateTime),
    Column("misfire", String(16)),
    Column("enabled", Boolean, default=True, server_default=true(), nullable=False),
    Column("start_at", UTCDateTime),
    Column("end_at", UTCDateTime),
    Column("max_runs", Integer),
    Column("total_runs", Integer, default=0, server_default="0", nullable=False),
    Column("last_run_at", UTCDateTime),
    # NULL on an enabled row means "not computed yet": beat computes it (rows written by SQL).
    Column("next_run_at", UTCDateTime),
    Column("last_task_id", NAME),
    Column("last_error", Text),
    Column("description", Text),
    # Where the definition comes from: "user" (CLI, dashboard, API), "config" (the app's
    # beat_schedule, re-synced at every beat start) or "redbeat" (imported).
    Column("source", String(16), default="user", server_default="user", nullable=False),
    Column("created_at", UTCDateTime),
    Column("updated_at", UTCDateTime),
    # Beat's only query per tick: enabled rows by due time.
    Index(None, "enabled", "next_run_at"),
    sqlite_autoincrement=True,
    **TABLE_OPTIONS,
)

#: One due time of one schedule, claimed by a beat before it is sent.
#:
#: The unique ``(schedule_id, due_at)`` is what makes a due time fire once however many
#: beats run: a beat sends only the runs its own insert created.
schedule_runs = Table(
    "celery_ops_schedule_runs",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("schedule_id", BigId, nullable=False),
    Column("schedule_name", NAME, nullable=False),
    Column("due_at", UTCDateTime, nullable=False),
    Column("claimed_at", UTCDateTime, nullable=False),
    Column("claimed_by", NAME, nullable=False),
    Column("sent_at", UTCDateTime),
    Column("task_id", NAME, nullable=False),
    # "schedule" for a due time, "manual" for `schedules run` and "run now".
    Column("origin", String(16), default="schedule", nullable=False),
    Column("error", Text),
    UniqueConstraint("schedule_id", "due_at"),
    # Claims whose beat died before sending them: few rows with sent_at NULL.
    Index(None, "sent_at", "claimed_at"),
    **TABLE_OPTIONS,
)

#: Someone who may sign in to the dashboard and the API, with one role.
users = Table(
    "celery_ops_users",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("username", String(150), unique=True, nullable=False),
    # A salted, slow hash (Werkzeug's scrypt); never the password.
    Column("password_hash", String(255), nullable=False),
    Column("role", String(16), nullable=False),
    Column("active", Boolean, default=True, server_default=true(), nullable=False),
    Column("created_at", UTCDateTime),
    Column("updated_at", UTCDateTime),
    Column("last_login_at", UTCDateTime),
    # Part of every session cookie of this user: raised on sign-out, a new password, a role
    # change or a switch-off, it ends every session signed in before.
    Column("session_version", Integer, default=0, server_default="0", nullable=False),
    **TABLE_OPTIONS,
)

#: A bearer token of a dashboard user, for the JSON API and the assistant interface.
api_tokens = Table(
    "celery_ops_api_tokens",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column(
        "user_id",
        BigId,
        ForeignKey("celery_ops_users.id", ondelete="CASCADE"),
        index=True,
        nullable=False,
    ),
    # SHA-256 of the token (hex): a token is 256 random bits, so a fast hash is enough,
    # and the lookup of every call is one indexed read.
    Column("token_hash", String(64), unique=True, nullable=False),
    Column("label", String(150), default="", nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    **TABLE_OPTIONS,
)

#: A unique task's key, held by the one execution that may be waiting or running with
#: it (``ops_unique_for``): taken at publish by insert-or-nothing on the primary key, freed
#: when that execution starts or ends (as the task asks) or when it expires.
unique_claims = Table(
    "celery_ops_unique_claims",
    metadata,
    Column("task_name", NAME, primary_key=True),
    # SHA-256 (hex) of the key's text: any length of key, one fixed-size index entry.
    Column("key_hash", String(64), primary_key=True),
    Column("key_text", NAME, nullable=False),
    Column("task_id", NAME, index=True, nullable=False),
    Column("claimed_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    # "started" or "finished": when the holder frees it.
    Column("until", String(16), nullable=False),
    **TABLE_OPTIONS,
)

#: A final failure an operator discarded: it leaves the dead set, its record stays.
discarded = Table(
    "celery_ops_discarded",
    metadata,
    Column("task_id", NAME, primary_key=True),
    Column("discarded_at", UTCDateTime, nullable=False),
    Column("discarded_by", NAME, nullable=False),
    **TABLE_OPTIONS,
)

#: A task type's cluster-wide limits, seeded from the settings or edited live.
limits = Table(
    "celery_ops_limits",
    metadata,
    Column("task_name", NAME, primary_key=True),
    Column("rate", String(32)),
    # JSON lists of argument names.
    Column("rate_key", String(1024)),
    Column("concurrency", Integer),
    Column("concurrency_key", String(1024)),
    # "config" (seeded from ops_rate_limits / ops_concurrency_limits) or "live" (edited).
    Column("source", String(16), nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("updated_by", NAME, nullable=False),
    **TABLE_OPTIONS,
)

#: One row per limited (task, key): what admissions lock, so that two workers checking
#: the same limit at once take turns.
limit_gates = Table(
    "celery_ops_limit_gates",
    metadata,
    Column("task_name", NAME, primary_key=True),
    Column("key_hash", String(64), primary_key=True),
    Column("kind", String(8), primary_key=True),
    **TABLE_OPTIONS,
)

#: A start counted by a rate (kept one period) or a slot held by a running task (until
#: it ends, or expires).
limit_permits = Table(
    "celery_ops_limit_permits",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("task_name", NAME, nullable=False),
    Column("key_hash", String(64), nullable=False),
    # "rate" or "slot"
    Column("kind", String(8), nullable=False),
    Column("task_id", NAME, nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Index(None, "task_name", "key_hash", "kind", "at"),
    Index(None, "task_id"),
    **TABLE_OPTIONS,
)

#: A batch of tasks with callbacks (``celery_ops.batch``); each callback's ``*_sent_at``
#: is set by the one process that sends it (a conditional update: exactly once).
task_batches = Table(
    "celery_ops_batches",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("name", NAME),
    Column("created_at", UTCDateTime, nullable=False),
    Column("created_by", NAME, nullable=False),
    Column("total", Integer, nullable=False),
    Column("allow_failures", Boolean, nullable=False),
    Column("on_success", LongText),
    Column("on_failure", LongText),
    Column("on_finish", LongText),
    Column("success_sent_at", UTCDateTime),
    Column("failure_sent_at", UTCDateTime),
    Column("finish_sent_at", UTCDateTime),
    Column("cancelled_at", UTCDateTime),
    Index(None, "created_at"),
    **TABLE_OPTIONS,
)

#: Wrong passwords counted per user name and per client address, to refuse guessing.
login_throttle = Table(
    "celery_ops_login_throttle",
    metadata,
    # "user:<name>" or "address:<ip>"
    Column("key", NAME, primary_key=True),
    Column("failures", Integer, default=0, nullable=False),
    Column("first_failure_at", UTCDateTime, nullable=False),
    Column("locked_until", UTCDateTime),
    **TABLE_OPTIONS,
)

#: A batch the relay ingested: written in the transaction that wrote its rows, so that a
#: batch delivered again (an ingester killed between its commit and its acknowledgement) is
#: recognised and not written twice.
relayed_batches = Table(
    "celery_ops_relayed_batches",
    metadata,
    Column("batch_id", String(36), primary_key=True),
    Column("applied_at", UTCDateTime, nullable=False),
    Index(None, "applied_at"),
    **TABLE_OPTIONS,
)

#: A role one process of the cluster holds for a while (the relay's ingester).
leases = Table(
    "celery_ops_leases",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("holder", NAME, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    **TABLE_OPTIONS,
)

#: A queue no worker consumes until it is resumed: read by every worker before its
#: consumer starts, so a worker started or restarted later keeps it paused too.
queue_pauses = Table(
    "celery_ops_queue_pauses",
    metadata,
    Column("name", NAME, primary_key=True),
    Column("paused_by", NAME, nullable=False),
    Column("paused_at", UTCDateTime, nullable=False),
    **TABLE_OPTIONS,
)

#: A queue's depth and latency, once a minute (the first sampler of a minute writes it).
queue_samples = Table(
    "celery_ops_queue_samples",
    metadata,
    Column("queue", NAME, primary_key=True),
    Column("at", UTCDateTime, primary_key=True),
    Column("depth", BigInteger),
    Column("latency_seconds", Float),
    **TABLE_OPTIONS,
)

#: One alert: a rule's key in one throttle window. The first occurrence is sent; the
#: next ones in the window are counted in ``held``. Inserted once (the unique key decides
#: which evaluator made it), claimed by one sender at a time, retried while it fails.
alerts = Table(
    "celery_ops_alerts",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("rule", NAME, nullable=False),
    Column("kind", String(32), nullable=False),
    Column("alert_key", NAME, nullable=False),
    Column("window_start", UTCDateTime, nullable=False),
    Column("first_at", UTCDateTime, nullable=False),
    Column("last_at", UTCDateTime, nullable=False),
    Column("held", Integer, default=0, nullable=False),
    Column("subject", Text, nullable=False),
    Column("body", LongText, nullable=False),
    #: pending (to send), sent, or failed (gave up).
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, default=0, nullable=False),
    Column("next_attempt_at", UTCDateTime, nullable=False),
    Column("claimed_until", UTCDateTime),
    Column("sent_at", UTCDateTime),
    Column("last_error", Text),
    #: The rule's destinations (by position) that took it: a retry skips them.
    Column("delivered_to", Text),
    UniqueConstraint("rule", "alert_key", "window_start"),
    Index(None, "status", "next_attempt_at"),
    sqlite_autoincrement=True,
    **TABLE_OPTIONS,
)

#: An execution a rule has counted (sent, or held back): counted once, however late its
#: row reaches the store and however many evaluators see it.
alert_occurrences = Table(
    "celery_ops_alert_occurrences",
    metadata,
    Column("rule", NAME, primary_key=True),
    Column("task_id", NAME, primary_key=True),
    Column("seen_at", UTCDateTime, nullable=False),
    Index(None, "seen_at"),
    **TABLE_OPTIONS,
)

#: Who did what, when, to which targets, and how it ended: one row per operation.
audit_log = Table(
    "celery_ops_audit_log",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("at", UTCDateTime, nullable=False),
    # A user's name, or the product's own actor: cli:<os user>@<host>, system:<component>...
    Column("actor", NAME, nullable=False),
    Column("role", String(16)),
    Column("action", String(64), nullable=False),
    # JSON: the task ids, schedule names, filter or counts the operation applied to.
    Column("targets", LongText),
    # "ok", "denied", "failed", "partial", or "accepted" while a background job runs.
    Column("outcome", String(16), nullable=False),
    Column("detail", Text),
    Column("remote_addr", String(64)),
    # Read newest first by id, optionally for one actor or one action.
    Index(None, "at"),
    Index(None, "actor", "id"),
    Index(None, "action", "id"),
    **TABLE_OPTIONS,
)

#: A long operation (bulk retry, cancel, purge) run in the background, and its progress.
jobs = Table(
    "celery_ops_jobs",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("action", String(64), nullable=False),
    Column("actor", NAME, nullable=False),
    # queued, running, done or failed.
    Column("status", String(16), nullable=False),
    Column("done", BigInteger, default=0, nullable=False),
    Column("total", BigInteger),
    # JSON: the counts when it ended.
    Column("result", Text),
    Column("audit_id", BigInteger),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Index(None, "status", "updated_at"),
    **TABLE_OPTIONS,
)

#: A piece of an export file (zlib-compressed), kept in the store so that any dashboard
#: process can serve the download; pieces are read back in ``seq`` order.
export_parts = Table(
    "celery_ops_export_parts",
    metadata,
    Column("job_id", String(32), primary_key=True),
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("data", Blob, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    **TABLE_OPTIONS,
)

#: The text of each execution's (shown) arguments that search looks in, written once.
#:
#: A table apart, so that the index serving search (GIN over words on PostgreSQL, FULLTEXT on
#: MariaDB, an FTS5 trigram table on SQLite; migrations 0004 and 0005) is written once per
#: execution, not again at each of the row's status changes.
search_text = Table(
    "celery_ops_search",
    metadata,
    Column("task_id", NAME, primary_key=True),
    Column("text", Text, nullable=False),
    # Its search index differs per backend and is made by migration 0004 only.
    **TABLE_OPTIONS,
)

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
