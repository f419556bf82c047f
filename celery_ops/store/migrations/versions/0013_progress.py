"""What a running task says of how far it got.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05

``progress_current``, ``progress_total``, ``progress_note`` and ``progress_at`` on
``celery_ops_executions``: the latest progress report of a task
(``celery_ops.report_progress``, or ``update_state`` with a meta of current and total),
kept when the task ends. Existing rows keep NULL: they reported nothing.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from celery_ops.store.types import UTCDateTime

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("celery_ops_executions") as batch_op:
        batch_op.add_column(sa.Column("progress_current", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("progress_total", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("progress_note", sa.String(255), nullable=True))
        batch_op.add_column(sa.Column("progress_at", UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("celery_ops_executions") as batch_op:
        for column in ("progress_at", "progress_note", "progress_total", "progress_current"):
            batch_op.drop_column(column)
