"""The operations layer: the audit log's actor, and background jobs.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04

``username`` becomes ``actor``: every operation names who asked, a dashboard user or one of
the product's own actors (``cli:<os user>@<host>``, ``system:<component>``).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import celery_ops.store.types

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

AUDIT = "celery_ops_audit_log"


def upgrade() -> None:
    with op.batch_alter_table(AUDIT) as batch_op:
        batch_op.drop_index("ix_celery_ops_audit_log_username_at")
        batch_op.alter_column(
            "username",
            new_column_name="actor",
            existing_type=sa.String(length=150),
            type_=sa.String(length=255),
            existing_nullable=True,
        )
    # Entries written before actors existed without a user (a failed sign-in, say).
    op.execute(sa.text(f"UPDATE {AUDIT} SET actor = 'anonymous:' WHERE actor IS NULL"))
    with op.batch_alter_table(AUDIT) as batch_op:
        batch_op.alter_column("actor", existing_type=sa.String(length=255), nullable=False)
        batch_op.create_index("ix_celery_ops_audit_log_actor_id", ["actor", "id"])
        batch_op.create_index("ix_celery_ops_audit_log_action_id", ["action", "id"])

    op.create_table(
        "celery_ops_jobs",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("actor", sa.String(length=255), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("done", sa.BigInteger(), nullable=False),
        sa.Column("total", sa.BigInteger(), nullable=True),
        sa.Column("result", sa.Text(), nullable=True),
        sa.Column("audit_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", celery_ops.store.types.UTCDateTime(), nullable=False),
        sa.Column("updated_at", celery_ops.store.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_celery_ops_jobs")),
        mysql_charset="utf8mb4",
        mysql_engine="InnoDB",
    )
    op.create_index(
        "ix_celery_ops_jobs_status_updated_at", "celery_ops_jobs", ["status", "updated_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_celery_ops_jobs_status_updated_at", table_name="celery_ops_jobs")
    op.drop_table("celery_ops_jobs")
    with op.batch_alter_table(AUDIT) as batch_op:
        batch_op.drop_index("ix_celery_ops_audit_log_action_id")
        batch_op.drop_index("ix_celery_ops_audit_log_actor_id")
        batch_op.alter_column(
            "actor",
            new_column_name="username",
            existing_type=sa.String(length=255),
            type_=sa.String(length=150),
            nullable=True,
        )
        batch_op.create_index("ix_celery_ops_audit_log_username_at", ["username", "at"])
