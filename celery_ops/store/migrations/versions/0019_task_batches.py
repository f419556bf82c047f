"""Batches of tasks with callbacks.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-05

``celery_ops_batches``: each batch (``celery_ops.batch``), its size, its callbacks and when
each was sent. ``celery_ops_executions.batch_id``: the batch a member belongs to (its
message's ``ops_batch`` header), with a sparse index like the other filters'.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

from celery_ops.store.types import UTCDateTime

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

LONG_TEXT = sa.Text().with_variant(mysql.MEDIUMTEXT(), "mysql", "mariadb")


def upgrade() -> None:
    op.create_table(
        "celery_ops_batches",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=255), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("allow_failures", sa.Boolean(), nullable=False),
        sa.Column("on_success", LONG_TEXT, nullable=True),
        sa.Column("on_failure", LONG_TEXT, nullable=True),
        sa.Column("on_finish", LONG_TEXT, nullable=True),
        sa.Column("success_sent_at", UTCDateTime(), nullable=True),
        sa.Column("failure_sent_at", UTCDateTime(), nullable=True),
        sa.Column("finish_sent_at", UTCDateTime(), nullable=True),
        sa.Column("cancelled_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_celery_ops_batches"),
        mysql_charset="utf8mb4",
        mysql_engine="InnoDB",
    )
    op.create_index("ix_celery_ops_batches_created_at", "celery_ops_batches", ["created_at"])
    op.add_column(
        "celery_ops_executions", sa.Column("batch_id", sa.String(length=36), nullable=True)
    )
    where = sa.text("batch_id IS NOT NULL")
    op.create_index(
        "ix_celery_ops_executions_batch_id_id",
        "celery_ops_executions",
        ["batch_id", "id"],
        postgresql_where=where,
        sqlite_where=where,
    )


def downgrade() -> None:
    op.drop_index("ix_celery_ops_executions_batch_id_id", table_name="celery_ops_executions")
    with op.batch_alter_table("celery_ops_executions") as table:
        table.drop_column("batch_id")
    op.drop_index("ix_celery_ops_batches_created_at", table_name="celery_ops_batches")
    op.drop_table("celery_ops_batches")
