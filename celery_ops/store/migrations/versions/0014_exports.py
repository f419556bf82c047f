"""Exports kept in the store.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-05

``celery_ops_export_parts``: the file of an export (what a filter of the executions list
matched, as CSV or JSON Lines), in zlib-compressed pieces, so that any dashboard process can
serve its download. Kept a day.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

from celery_ops.store.types import UTCDateTime

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "celery_ops_export_parts",
        sa.Column("job_id", sa.String(length=32), nullable=False),
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column(
            "data",
            sa.LargeBinary().with_variant(mysql.MEDIUMBLOB(), "mysql", "mariadb"),
            nullable=False,
        ),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("job_id", "seq"),
        mysql_charset="utf8mb4",
        mysql_engine="InnoDB",
    )


def downgrade() -> None:
    op.drop_table("celery_ops_export_parts")
