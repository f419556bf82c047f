"""Cluster-wide limits of task types.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-05

``celery_ops_limits``: each task type's rate and concurrency limits (seeded from
``ops_rate_limits`` and ``ops_concurrency_limits``, or edited live). ``celery_ops_limit_gates``:
one row per limited (task, key, kind) that admissions lock. ``celery_ops_limit_permits``: the
starts a rate counts and the slots running tasks hold.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from celery_ops.store.types import BigId, UTCDateTime

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "celery_ops_limits",
        sa.Column("task_name", sa.String(length=255), nullable=False),
        sa.Column("rate", sa.String(length=32), nullable=True),
        sa.Column("rate_key", sa.String(length=1024), nullable=True),
        sa.Column("concurrency", sa.Integer(), nullable=True),
        sa.Column("concurrency_key", sa.String(length=1024), nullable=True),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("updated_by", sa.String(length=255), nullable=False),
        sa.PrimaryKeyConstraint("task_name", name="pk_celery_ops_limits"),
        mysql_charset="utf8mb4",
        mysql_engine="InnoDB",
    )
    op.create_table(
        "celery_ops_limit_gates",
        sa.Column("task_name", sa.String(length=255), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.PrimaryKeyConstraint("task_name", "key_hash", "kind", name="pk_celery_ops_limit_gates"),
        mysql_charset="utf8mb4",
        mysql_engine="InnoDB",
    )
    op.create_table(
        "celery_ops_limit_permits",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("task_name", sa.String(length=255), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("task_id", sa.String(length=255), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_celery_ops_limit_permits"),
        mysql_charset="utf8mb4",
        mysql_engine="InnoDB",
    )
    op.create_index(
        "ix_celery_ops_limit_permits_task_name_key_hash_kind_at",
        "celery_ops_limit_permits",
        ["task_name", "key_hash", "kind", "at"],
    )
    op.create_index("ix_celery_ops_limit_permits_task_id", "celery_ops_limit_permits", ["task_id"])


def downgrade() -> None:
    op.drop_table("celery_ops_limit_permits")
    op.drop_table("celery_ops_limit_gates")
    op.drop_table("celery_ops_limits")
