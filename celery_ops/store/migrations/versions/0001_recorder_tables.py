"""Recorder tables: executions, their timeline, workers and task definitions.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

import celery_ops.store.types

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "celery_ops_definitions",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("queue", sa.String(length=255), nullable=True),
        sa.Column("rate_limit", sa.String(length=64), nullable=True),
        sa.Column("max_retries", sa.Integer(), nullable=True),
        sa.Column("soft_time_limit", sa.Float(), nullable=True),
        sa.Column("time_limit", sa.Float(), nullable=True),
        sa.Column("acks_late", sa.Boolean(), nullable=True),
        sa.Column("doc", sa.Text(), nullable=True),
        sa.Column("first_seen", celery_ops.store.types.UTCDateTime(), nullable=True),
        sa.Column("last_seen", celery_ops.store.types.UTCDateTime(), nullable=True),
        sa.Column("workers", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_celery_ops_definitions")),
        sa.UniqueConstraint("name", name=op.f("uq_celery_ops_definitions_name")),
        mysql_charset="utf8mb4",
        mysql_engine="InnoDB",
    )
    op.create_table(
        "celery_ops_events",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("task_id", sa.String(length=255), nullable=False),
        sa.Column("event", sa.String(length=32), nullable=False),
        sa.Column("at", celery_ops.store.types.UTCDateTime(), nullable=False),
        sa.Column("worker", sa.String(length=255), nullable=True),
        sa.Column(
            "details",
            sa.Text()
            .with_variant(mysql.MEDIUMTEXT(), "mariadb")
            .with_variant(mysql.MEDIUMTEXT(), "mysql"),
            nullable=True,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_celery_ops_events")),
        mysql_charset="utf8mb4",
        mysql_engine="InnoDB",
    )
    with op.batch_alter_table("celery_ops_events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_celery_ops_events_task_id_at"), ["task_id", "at"], unique=False
        )

    op.create_table(
        "celery_ops_executions",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("task_id", sa.String(length=255), nullable=False),
        sa.Column("task_name", sa.String(length=255), nullable=True),
        sa.Column("queue", sa.String(length=255), nullable=True),
        sa.Column(
            "args",
            sa.Text()
            .with_variant(mysql.MEDIUMTEXT(), "mariadb")
            .with_variant(mysql.MEDIUMTEXT(), "mysql"),
            nullable=True,
        ),
        sa.Column(
            "kwargs",
            sa.Text()
            .with_variant(mysql.MEDIUMTEXT(), "mariadb")
            .with_variant(mysql.MEDIUMTEXT(), "mysql"),
            nullable=True,
        ),
        sa.Column(
            "message_args",
            sa.Text()
            .with_variant(mysql.MEDIUMTEXT(), "mariadb")
            .with_variant(mysql.MEDIUMTEXT(), "mysql"),
            nullable=True,
        ),
        sa.Column(
            "message_kwargs",
            sa.Text()
            .with_variant(mysql.MEDIUMTEXT(), "mariadb")
            .with_variant(mysql.MEDIUMTEXT(), "mysql"),
            nullable=True,
        ),
        sa.Column("priority", sa.Integer(), nullable=True),
        sa.Column("eta", celery_ops.store.types.UTCDateTime(), nullable=True),
        sa.Column("expires", celery_ops.store.types.UTCDateTime(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=True),
        sa.Column("progress", sa.Integer(), nullable=False),
        sa.Column("status_at", celery_ops.store.types.UTCDateTime(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("published_at", celery_ops.store.types.UTCDateTime(), nullable=True),
        sa.Column("received_at", celery_ops.store.types.UTCDateTime(), nullable=True),
        sa.Column("started_at", celery_ops.store.types.UTCDateTime(), nullable=True),
        sa.Column("completed_at", celery_ops.store.types.UTCDateTime(), nullable=True),
        sa.Column("failed_at", celery_ops.store.types.UTCDateTime(), nullable=True),
        sa.Column("revoked_at", celery_ops.store.types.UTCDateTime(), nullable=True),
        sa.Column("execution_time_ms", sa.Float(), nullable=True),
        sa.Column("wait_time_ms", sa.Float(), nullable=True),
        sa.Column("worker_id", sa.String(length=255), nullable=True),
        sa.Column("pid", sa.Integer(), nullable=True),
        sa.Column(
            "result",
            sa.Text()
            .with_variant(mysql.MEDIUMTEXT(), "mariadb")
            .with_variant(mysql.MEDIUMTEXT(), "mysql"),
            nullable=True,
        ),
        sa.Column("error_type", sa.String(length=255), nullable=True),
        sa.Column(
            "error_message",
            sa.Text()
            .with_variant(mysql.MEDIUMTEXT(), "mariadb")
            .with_variant(mysql.MEDIUMTEXT(), "mysql"),
            nullable=True,
        ),
        sa.Column(
            "exception_trace",
            sa.Text()
            .with_variant(mysql.MEDIUMTEXT(), "mariadb")
            .with_variant(mysql.MEDIUMTEXT(), "mysql"),
            nullable=True,
        ),
        sa.Column("memory_usage_mb", sa.Float(), nullable=True),
        sa.Column("parent_id", sa.String(length=255), nullable=True),
        sa.Column("root_id", sa.String(length=255), nullable=True),
        sa.Column("group_id", sa.String(length=255), nullable=True),
        sa.Column("schedule_name", sa.String(length=255), nullable=True),
        sa.Column("retried_from", sa.String(length=255), nullable=True),
        sa.Column("tenant_id", sa.String(length=255), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_celery_ops_executions")),
        sa.UniqueConstraint("task_id", name=op.f("uq_celery_ops_executions_task_id")),
        mysql_charset="utf8mb4",
        mysql_engine="InnoDB",
    )
    with op.batch_alter_table("celery_ops_executions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_celery_ops_executions_status_status_at"),
            ["status", "status_at"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_celery_ops_executions_task_name_status_at"),
            ["task_name", "status_at"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_celery_ops_executions_worker_id_status"),
            ["worker_id", "status"],
            unique=False,
        )

    op.create_table(
        "celery_ops_workers",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("hostname", sa.String(length=255), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("last_heartbeat", celery_ops.store.types.UTCDateTime(), nullable=True),
        sa.Column("started_at", celery_ops.store.types.UTCDateTime(), nullable=True),
        sa.Column("stopped_at", celery_ops.store.types.UTCDateTime(), nullable=True),
        sa.Column("pid", sa.Integer(), nullable=True),
        sa.Column("pool", sa.String(length=64), nullable=True),
        sa.Column("concurrency", sa.Integer(), nullable=True),
        sa.Column("queues", sa.Text(), nullable=True),
        sa.Column("versions", sa.Text(), nullable=True),
        sa.Column("tasks_processed", sa.Integer(), nullable=False),
        sa.Column("events_dropped", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_celery_ops_workers")),
        sa.UniqueConstraint("hostname", name=op.f("uq_celery_ops_workers_hostname")),
        mysql_charset="utf8mb4",
        mysql_engine="InnoDB",
    )
    with op.batch_alter_table("celery_ops_workers", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_celery_ops_workers_status_last_heartbeat"),
            ["status", "last_heartbeat"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("celery_ops_workers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_celery_ops_workers_status_last_heartbeat"))

    op.drop_table("celery_ops_workers")
    with op.batch_alter_table("celery_ops_executions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_celery_ops_executions_worker_id_status"))
        batch_op.drop_index(batch_op.f("ix_celery_ops_executions_task_name_status_at"))
        batch_op.drop_index(batch_op.f("ix_celery_ops_executions_status_status_at"))

    op.drop_table("celery_ops_executions")
    with op.batch_alter_table("celery_ops_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_celery_ops_events_task_id_at"))

    op.drop_table("celery_ops_events")
    op.drop_table("celery_ops_definitions")
