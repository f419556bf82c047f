"""Claims of unique tasks.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-05

``celery_ops_unique_claims``: one row per (task name, key) of a task with ``ops_unique_for``
while an execution with that key is waiting or running; taken at publish by
insert-or-nothing on the primary key, so two producers racing cannot both win.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from celery_ops.store.types import UTCDateTime

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "celery_ops_unique_claims",
        sa.Column("task_name", sa.String(length=255), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("key_text", sa.String(length=255), nullable=False),
        sa.Column("task_id", sa.String(length=255), nullable=False),
        sa.Column("claimed_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("until", sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint("task_name", "key_hash", name="pk_celery_ops_unique_claims"),
        mysql_charset="utf8mb4",
        mysql_engine="InnoDB",
    )
    op.create_index("ix_celery_ops_unique_claims_task_id", "celery_ops_unique_claims", ["task_id"])


def downgrade() -> None:
    op.drop_index("ix_celery_ops_unique_claims_task_id", table_name="celery_ops_unique_claims")
    op.drop_table("celery_ops_unique_claims")
