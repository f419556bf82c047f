"""Beat: schedules and the runs each beat claims before sending.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

import celery_ops.store.types

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "celery_ops_schedule_runs",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "schedule_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("schedule_name", sa.String(length=255), nullable=False),
        sa.Column("due_at", celery_ops.store.types.UTCDateTime(), nullable=False),
        sa.Column("claimed_at", celery_ops.store.types.UTCDateTime(), nullable=False),
        sa.Column("claimed_by", sa.String(length=255), nullable=False),
        sa.Column("sent_at", celery_ops.store.types.UTCDateTime(), nullable=True),
        sa.Column("task_id", sa.String(length=255), nullable=False),
        sa.Column("origin", sa.String(length=16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_celery_ops_schedule_runs")),
        sa.UniqueConstraint(
            "schedule_id", "due_at", name=op.f("uq_celery_ops_schedule_runs_schedule_id")
        ),
        mysql_charset="utf8mb4",
        mysql_engine="InnoDB",
    )
    with op.batch_alter_table("celery_ops_schedule_runs", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_celery_ops_schedule_runs_sent_at_claimed_at"),
            ["sent_at", "claimed_at"],
            unique=False,
        )

    op.create_table(
        "celery_ops_schedules",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("task", sa.String(length=255), nullable=False),
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
        sa.Column("queue", sa.String(length=255), nullable=True),
        sa.Column("priority", sa.Integer(), nullable=True),
        sa.Column("options", sa.Text(), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("cron_expression", sa.String(length=255), nullable=True),
        sa.Column("timezone", sa.String(length=64), nullable=True),
        sa.Column("interval_seconds", sa.Float(), nullable=True),
        sa.Column("run_at", celery_ops.store.types.UTCDateTime(), nullable=True),
        sa.Column("misfire", sa.String(length=16), nullable=True),
        sa.Column("enabled", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("start_at", celery_ops.store.types.UTCDateTime(), nullable=True),
        sa.Column("end_at", celery_ops.store.types.UTCDateTime(), nullable=True),
        sa.Column("max_runs", sa.Integer(), nullable=True),
        sa.Column("total_runs", sa.Integer(), server_default="0", nullable=False),
        sa.Column("last_run_at", celery_ops.store.types.UTCDateTime(), nullable=True),
        sa.Column("next_run_at", celery_ops.store.types.UTCDateTime(), nullable=True),
        sa.Column("last_task_id", sa.String(length=255), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("source", sa.String(length=16), server_default="user", nullable=False),
        sa.Column("created_at", celery_ops.store.types.UTCDateTime(), nullable=True),
        sa.Column("updated_at", celery_ops.store.types.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_celery_ops_schedules")),
        sa.UniqueConstraint("name", name=op.f("uq_celery_ops_schedules_name")),
        mysql_charset="utf8mb4",
        mysql_engine="InnoDB",
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("celery_ops_schedules", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_celery_ops_schedules_enabled_next_run_at"),
            ["enabled", "next_run_at"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("celery_ops_schedules", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_celery_ops_schedules_enabled_next_run_at"))

    op.drop_table("celery_ops_schedules")
    with op.batch_alter_table("celery_ops_schedule_runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_celery_ops_schedule_runs_sent_at_claimed_at"))

    op.drop_table("celery_ops_schedule_runs")
