"""Paused queues.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04

``celery_ops_queue_pauses`` names each queue an operator paused, who paused it and when. Every
worker reads it before its consumer starts, so a paused queue stays paused across restarts.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import celery_ops.store.types

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "celery_ops_queue_pauses",
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("paused_by", sa.String(length=255), nullable=False),
        sa.Column("paused_at", celery_ops.store.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_celery_ops_queue_pauses")),
        mysql_charset="utf8mb4",
        mysql_engine="InnoDB",
    )


def downgrade() -> None:
    op.drop_table("celery_ops_queue_pauses")
