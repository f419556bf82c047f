"""An index behind each filter of the executions list, newest first; search by words on
PostgreSQL.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23

On a big PostgreSQL store, build them ahead with ``CREATE INDEX CONCURRENTLY`` (same names,
see docs/upgrading.md) so that this migration finds them and does not lock the table.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

TABLE = "celery_ops_executions"
SPARSE = ("parent_id", "group_id", "retried_from", "schedule_name", "tenant_id")


def upgrade() -> None:
    existing = {index["name"] for index in sa.inspect(op.get_bind()).get_indexes(TABLE)}

    def create(name: str, columns: list[str], where: str | None = None) -> None:
        if name in existing:
            return
        condition = sa.text(where) if where else None
        op.create_index(name, TABLE, columns, postgresql_where=condition, sqlite_where=condition)

    # (task_name, status_at) served no query that (task_name, id) and (status, status_at)
    # do not serve better.
    if "ix_celery_ops_executions_task_name_status_at" in existing:
        op.drop_index("ix_celery_ops_executions_task_name_status_at", table_name=TABLE)
    create("ix_celery_ops_executions_task_name_id", ["task_name", "id"])
    create("ix_celery_ops_executions_queue_id", ["queue", "id"])
    for column in SPARSE:
        create(f"ix_celery_ops_executions_{column}_id", [column, "id"], f"{column} IS NOT NULL")
    if op.get_bind().dialect.name == "postgresql":
        # Trigrams of numbers and JSON punctuation are in nearly every row: a search for
        # "order-1037" read ~17,000 index pages through their posting lists (330 ms on 10M
        # rows). Words are rare where the search is selective. The expression is the one
        # celery_ops.store.queries searches with.
        op.execute("DROP INDEX IF EXISTS ix_celery_ops_search_text_trgm")
        op.execute(
            "CREATE INDEX IF NOT EXISTS ix_celery_ops_search_text_words ON celery_ops_search "
            "USING gin (to_tsvector('simple'::regconfig, translate(text, '-+/._@:', '       ')))"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_celery_ops_search_text_words")
        op.execute(
            "CREATE INDEX ix_celery_ops_search_text_trgm ON celery_ops_search "
            "USING gin (text gin_trgm_ops)"
        )
    for column in SPARSE:
        op.drop_index(f"ix_celery_ops_executions_{column}_id", table_name=TABLE)
    op.drop_index("ix_celery_ops_executions_queue_id", table_name=TABLE)
    op.drop_index("ix_celery_ops_executions_task_name_id", table_name=TABLE)
    op.create_index(
        "ix_celery_ops_executions_task_name_status_at", TABLE, ["task_name", "status_at"]
    )
