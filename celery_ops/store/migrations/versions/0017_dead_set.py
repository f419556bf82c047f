"""The dead set's discards.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-05

``celery_ops_discarded``: final failures an operator discarded from the dead set (the final
failures nobody retried yet). The execution's own row is not changed: the mark lives here.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from celery_ops.store.types import UTCDateTime

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "celery_ops_discarded",
        sa.Column("task_id", sa.String(length=255), nullable=False),
        sa.Column("discarded_at", UTCDateTime(), nullable=False),
        sa.Column("discarded_by", sa.String(length=255), nullable=False),
        sa.PrimaryKeyConstraint("task_id", name="pk_celery_ops_discarded"),
        mysql_charset="utf8mb4",
        mysql_engine="InnoDB",
    )


def downgrade() -> None:
    op.drop_table("celery_ops_discarded")
