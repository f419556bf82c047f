"""Sessions that can be ended, and sign-in throttling.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04

``celery_ops_users.session_version`` is part of every session cookie; raising it ends every
session of that user. ``celery_ops_login_throttle`` counts wrong passwords per user name and
per client address, shared by every dashboard process.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import celery_ops.store.types

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("celery_ops_users") as batch_op:
        batch_op.add_column(
            sa.Column("session_version", sa.Integer(), server_default="0", nullable=False)
        )
    op.create_table(
        "celery_ops_login_throttle",
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("first_failure_at", celery_ops.store.types.UTCDateTime(), nullable=False),
        sa.Column("locked_until", celery_ops.store.types.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_celery_ops_login_throttle")),
        mysql_charset="utf8mb4",
        mysql_engine="InnoDB",
    )


def downgrade() -> None:
    op.drop_table("celery_ops_login_throttle")
    with op.batch_alter_table("celery_ops_users") as batch_op:
        batch_op.drop_column("session_version")
