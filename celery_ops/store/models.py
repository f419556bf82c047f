"""The celery-ops tables. Their names and columns are part of the public contract."""

from __future__ import annotations

from datetime import datetime
from typing import cast

from sqlalchemy import Float, Index, Integer, MetaData, String, Table, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from celery_ops.store.types import BigId, LongText, UTCDateTime

NAME = String(255)
TABLE_OPTIONS = {"mysql_charset": "utf8mb4", "mysql_engine": "InnoDB"}


class Base(DeclarativeBase):
    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(table_name)s_%(column_0_N_name)s",
            "uq": "uq_%(table_name)s_%(column_0_name)s",
            "pk": "pk_%(table_name)s",
        }
    )


class Execution(Base):
    """One row per Celery task id: what was sent, where it ran, how it ended."""

    __tablename__ = "celery_ops_executions"
    # Each row is updated about three times in its life, and on PostgreSQL an update that
    # touches an indexed column writes to every index: only the indexes the recorder, the
    # reaper and purge need are here. Read paths add theirs in their own migrations.
    __table_args__ = (
        Index(None, "status", "status_at"),
        Index(None, "task_name", "status_at"),
        Index(None, "worker_id", "status"),
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
    # attempt * 10 + rank of the newest status: see celery_ops.lifecycle.
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
    memory_usage_mb: Mapped[float | None] = mapped_column(Float)
    parent_id: Mapped[str | None] = mapped_column(NAME)
    root_id: Mapped[str | None] = mapped_column(NAME)
    group_id: Mapped[str | None] = mapped_column(NAME)
    schedule_name: Mapped[str | None] = mapped_column(NAME)
    retried_from: Mapped[str | None] = mapped_column(NAME)
    tenant_id: Mapped[str | None] = mapped_column(NAME)


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


executions = cast(Table, Execution.__table__)
execution_events = cast(Table, ExecutionEventRow.__table__)
workers = cast(Table, Worker.__table__)
definitions = cast(Table, TaskDefinition.__table__)
