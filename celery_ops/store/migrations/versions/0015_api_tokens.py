"""Bearer tokens of dashboard users.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-05

``celery_ops_api_tokens``: tokens made with ``ops users token NAME``, accepted by the JSON
API and the assistant interface (``ops mcp --http``) as that user. Only a SHA-256 of each
token is kept.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from celery_ops.store.types import BigId, UTCDateTime

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "celery_ops_api_tokens",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("user_id", BigId, nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("label", sa.String(length=150), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["celery_ops_users.id"],
            name="fk_celery_ops_api_tokens_user_id",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_celery_ops_api_tokens"),
        sa.UniqueConstraint("token_hash", name="uq_celery_ops_api_tokens_token_hash"),
        mysql_charset="utf8mb4",
        mysql_engine="InnoDB",
    )
    op.create_index(
        "ix_celery_ops_api_tokens_user_id", "celery_ops_api_tokens", ["user_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_celery_ops_api_tokens_user_id", table_name="celery_ops_api_tokens")
    op.drop_table("celery_ops_api_tokens")
