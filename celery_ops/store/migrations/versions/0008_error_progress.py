"""The progress of the error a row shows.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04

``celery_ops_executions.error_progress`` is the progress of the event whose error the row
shows, so a retry's error written after a later attempt's events does not replace the later
error (core.lifecycle.Policy.LATEST_ERROR). Existing rows keep NULL: their error stays until an
event with an error arrives.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("celery_ops_executions") as batch_op:
        batch_op.add_column(sa.Column("error_progress", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("celery_ops_executions") as batch_op:
        batch_op.drop_column("error_progress")
