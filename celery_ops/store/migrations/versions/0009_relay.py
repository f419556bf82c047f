"""The relay write path: batches already ingested, and leases.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04

``celery_ops_relayed_batches`` keeps the id of every batch the relay's ingesters wrote, in the
same transaction as its rows, so a batch delivered twice is written once.
``celery_ops_leases`` names the process that holds a cluster-wide role for a while (the
ingester that runs inside a worker).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import celery_ops.store.types

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "celery_ops_relayed_batches",
        sa.Column("batch_id", sa.String(length=36), nullable=False),
        sa.Column("applied_at", celery_ops.store.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("batch_id", name=op.f("pk_celery_ops_relayed_batches")),
        mysql_charset="utf8mb4",
        mysql_engine="InnoDB",
    )
    op.create_index(
        "ix_celery_ops_relayed_batches_applied_at", "celery_ops_relayed_batches", ["applied_at"]
    )
    op.create_table(
        "celery_ops_leases",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("holder", sa.String(length=255), nullable=False),
        sa.Column("expires_at", celery_ops.store.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_celery_ops_leases")),
        mysql_charset="utf8mb4",
        mysql_engine="InnoDB",
    )


def downgrade() -> None:
    op.drop_table("celery_ops_leases")
    op.drop_index(
        "ix_celery_ops_relayed_batches_applied_at", table_name="celery_ops_relayed_batches"
    )
    op.drop_table("celery_ops_relayed_batches")
