"""Alembic environment for celery-ops: its own version table, the connection it is given."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine

from celery_ops.store.migrate import include_object
from celery_ops.store.models import metadata
from celery_ops.store.schema import VERSION_TABLE


def run_migrations() -> None:
    connection = context.config.attributes.get("connection")
    if connection is None:
        url = context.config.get_main_option("sqlalchemy.url")
        assert url, "set sqlalchemy.url or pass a connection in config.attributes"
        with create_engine(url).begin() as own_connection:
            _run(own_connection)
    else:
        _run(connection)


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        version_table=VERSION_TABLE,
        render_as_batch=True,
        compare_type=True,
        include_object=include_object,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations()
