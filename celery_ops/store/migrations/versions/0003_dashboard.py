"""Dashboard: its users and the audit log of their actions.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

import celery_ops.store.types

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "celery_ops_audit_log",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("at", celery_ops.store.types.UTCDateTime(), nullable=False),
        sa.Column("username", sa.String(length=150), nullable=True),
        sa.Column("role", sa.String(length=16), nullable=True),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column(
            "targets",
            sa.Text()
            .with_variant(mysql.MEDIUMTEXT(), "mariadb")
            .with_variant(mysql.MEDIUMTEXT(), "mysql"),
            nullable=True,
        ),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("remote_addr", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_celery_ops_audit_log")),
        mysql_charset="utf8mb4",
        mysql_engine="InnoDB",
    )
    with op.batch_alter_table("celery_ops_audit_log", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_celery_ops_audit_log_at"), ["at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_celery_ops_audit_log_username_at"), ["username", "at"], unique=False
        )

    op.create_table(
        "celery_ops_users",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("username", sa.String(length=150), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("active", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("created_at", celery_ops.store.types.UTCDateTime(), nullable=True),
        sa.Column("updated_at", celery_ops.store.types.UTCDateTime(), nullable=True),
        sa.Column("last_login_at", celery_ops.store.types.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_celery_ops_users")),
        sa.UniqueConstraint("username", name=op.f("uq_celery_ops_users_username")),
        mysql_charset="utf8mb4",
        mysql_engine="InnoDB",
    )


def downgrade() -> None:
    op.drop_table("celery_ops_users")
    with op.batch_alter_table("celery_ops_audit_log", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_celery_ops_audit_log_username_at"))
        batch_op.drop_index(batch_op.f("ix_celery_ops_audit_log_at"))

    op.drop_table("celery_ops_audit_log")
