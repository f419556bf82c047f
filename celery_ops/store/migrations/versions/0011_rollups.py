"""Metric rollups.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04

``celery_ops_rollups`` keeps, per minute, hour and day, task name and queue, the count of each
final state and the runtime and wait histograms (``celery_ops.core.rollups``);
``celery_ops_queue_samples`` each queue's depth and latency once a minute. The executions
gain the ``was_*`` and ``had_*`` columns their upsert returns, so each write takes away what the
row contributed before it. Rows already stored keep ``was_status`` NULL: ``ops metrics backfill``
counts them.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import celery_ops.store.types

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

EXECUTION_COLUMNS = (
    ("was_status", sa.String(length=16)),
    ("was_status_at", celery_ops.store.types.UTCDateTime()),
    ("was_started_at", celery_ops.store.types.UTCDateTime()),
    ("was_execution_time_ms", sa.Float()),
    ("was_wait_time_ms", sa.Float()),
    ("had_task_name", sa.Boolean()),
    ("had_queue", sa.Boolean()),
)


def upgrade() -> None:
    op.create_table(
        "celery_ops_rollups",
        sa.Column("grain", sa.Integer(), nullable=False),
        sa.Column("at", celery_ops.store.types.UTCDateTime(), nullable=False),
        sa.Column("task_name", sa.String(length=255), nullable=False),
        sa.Column("queue", sa.String(length=255), nullable=False),
        sa.Column("measure", sa.String(length=16), nullable=False),
        sa.Column("bucket", sa.Integer(), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "grain",
            "at",
            "task_name",
            "queue",
            "measure",
            "bucket",
            name=op.f("pk_celery_ops_rollups"),
        ),
        mysql_charset="utf8mb4",
        mysql_engine="InnoDB",
    )
    op.create_index(
        "ix_celery_ops_rollups_grain_measure_at",
        "celery_ops_rollups",
        ["grain", "measure", "at"],
        postgresql_include=["task_name", "queue", "bucket", "count"],
    )
    op.create_table(
        "celery_ops_queue_samples",
        sa.Column("queue", sa.String(length=255), nullable=False),
        sa.Column("at", celery_ops.store.types.UTCDateTime(), nullable=False),
        sa.Column("depth", sa.BigInteger(), nullable=True),
        sa.Column("latency_seconds", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("queue", "at", name=op.f("pk_celery_ops_queue_samples")),
        mysql_charset="utf8mb4",
        mysql_engine="InnoDB",
    )
    with op.batch_alter_table("celery_ops_executions") as batch:
        for name, type_ in EXECUTION_COLUMNS:
            batch.add_column(sa.Column(name, type_, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("celery_ops_executions") as batch:
        for name, _ in reversed(EXECUTION_COLUMNS):
            batch.drop_column(name)
    op.drop_table("celery_ops_queue_samples")
    op.drop_index("ix_celery_ops_rollups_grain_measure_at", "celery_ops_rollups")
    op.drop_table("celery_ops_rollups")
