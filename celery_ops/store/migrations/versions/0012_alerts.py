"""Alerts.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04

``celery_ops_alerts`` holds each alert a rule of ``ops_alerts`` raised (one per rule, key and
throttle window, so it is sent once whatever number of processes evaluate the rules), with
what was held back and how its delivery went; ``celery_ops_alert_occurrences`` the executions
each rule has counted (once).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import celery_ops.store.types

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "celery_ops_alerts",
        sa.Column("id", celery_ops.store.types.BigId, autoincrement=True, nullable=False),
        sa.Column("rule", sa.String(length=255), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("alert_key", sa.String(length=255), nullable=False),
        sa.Column("window_start", celery_ops.store.types.UTCDateTime(), nullable=False),
        sa.Column("first_at", celery_ops.store.types.UTCDateTime(), nullable=False),
        sa.Column("last_at", celery_ops.store.types.UTCDateTime(), nullable=False),
        sa.Column("held", sa.Integer(), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("body", celery_ops.store.types.LongText, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", celery_ops.store.types.UTCDateTime(), nullable=False),
        sa.Column("claimed_until", celery_ops.store.types.UTCDateTime(), nullable=True),
        sa.Column("sent_at", celery_ops.store.types.UTCDateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("delivered_to", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_celery_ops_alerts")),
        sa.UniqueConstraint(
            "rule", "alert_key", "window_start", name=op.f("uq_celery_ops_alerts_rule")
        ),
        mysql_charset="utf8mb4",
        mysql_engine="InnoDB",
        sqlite_autoincrement=True,
    )
    op.create_index(
        op.f("ix_celery_ops_alerts_status_next_attempt_at"),
        "celery_ops_alerts",
        ["status", "next_attempt_at"],
    )
    op.create_table(
        "celery_ops_alert_occurrences",
        sa.Column("rule", sa.String(length=255), nullable=False),
        sa.Column("task_id", sa.String(length=255), nullable=False),
        sa.Column("seen_at", celery_ops.store.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("rule", "task_id", name=op.f("pk_celery_ops_alert_occurrences")),
        mysql_charset="utf8mb4",
        mysql_engine="InnoDB",
    )
    op.create_index(
        op.f("ix_celery_ops_alert_occurrences_seen_at"),
        "celery_ops_alert_occurrences",
        ["seen_at"],
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_celery_ops_alert_occurrences_seen_at"), "celery_ops_alert_occurrences")
    op.drop_table("celery_ops_alert_occurrences")
    op.drop_index(op.f("ix_celery_ops_alerts_status_next_attempt_at"), "celery_ops_alerts")
    op.drop_table("celery_ops_alerts")
