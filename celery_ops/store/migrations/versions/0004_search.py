"""Search: the text of each execution's arguments, and the index that serves it per backend.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "celery_ops_search",
        sa.Column("task_id", sa.String(length=255), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("task_id", name=op.f("pk_celery_ops_search")),
        mysql_charset="utf8mb4",
        mysql_engine="InnoDB",
    )
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        # pg_trgm is a trusted extension: any user who may create objects here may add it.
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        op.create_index(
            "ix_celery_ops_search_text_trgm",
            "celery_ops_search",
            ["text"],
            postgresql_using="gin",
            postgresql_ops={"text": "gin_trgm_ops"},
        )
    elif dialect in ("mysql", "mariadb"):
        op.create_index(
            "ix_celery_ops_search_text_fulltext",
            "celery_ops_search",
            ["text"],
            mysql_prefix="FULLTEXT",
        )
    elif dialect == "sqlite":
        # An FTS5 index over the table (external content), kept in step by triggers; the
        # trigram tokenizer lets LIKE '%...%' use it.
        op.execute(
            "CREATE VIRTUAL TABLE celery_ops_search_fts USING fts5("
            "text, content='celery_ops_search', tokenize='trigram')"
        )
        op.execute(
            "CREATE TRIGGER celery_ops_search_ai AFTER INSERT ON celery_ops_search BEGIN "
            "INSERT INTO celery_ops_search_fts(rowid, text) VALUES (new.rowid, new.text); END"
        )
        op.execute(
            "CREATE TRIGGER celery_ops_search_ad AFTER DELETE ON celery_ops_search BEGIN "
            "INSERT INTO celery_ops_search_fts(celery_ops_search_fts, rowid, text) "
            "VALUES ('delete', old.rowid, old.text); END"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS celery_ops_search_ad")
        op.execute("DROP TRIGGER IF EXISTS celery_ops_search_ai")
        op.execute("DROP TABLE IF EXISTS celery_ops_search_fts")
    op.drop_table("celery_ops_search")
