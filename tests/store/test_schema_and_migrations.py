"""The schema is created on first start, migrated by command, and never silently mismatched."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from celery_ops.store import SchemaError, Store
from celery_ops.store.models import Base
from celery_ops.store.schema import VERSION_TABLE, head_revision, include_object

PUBLIC_TABLES = {
    "celery_ops_executions",
    "celery_ops_events",
    "celery_ops_workers",
    "celery_ops_definitions",
}


def test_first_start_creates_every_table_on_an_empty_database(database_url: str) -> None:
    store = Store(database_url)
    store.ensure_schema(create=True)
    tables = set(inspect(store.engine).get_table_names())
    assert PUBLIC_TABLES | {VERSION_TABLE} <= tables
    assert store.current_revision() == head_revision()
    store.dispose()


def test_the_migrations_build_exactly_the_models(store: Store) -> None:
    with store.engine.connect() as connection:
        context = MigrationContext.configure(
            connection,
            opts={
                "compare_type": True,
                "version_table": VERSION_TABLE,
                "include_object": include_object,
            },
        )
        differences = compare_metadata(context, Base.metadata)
    assert differences == []


def test_an_empty_database_is_refused_when_creation_is_off(database_url: str) -> None:
    store = Store(database_url)
    with pytest.raises(SchemaError, match="ops db upgrade"):
        store.ensure_schema(create=False)
    store.dispose()


def test_a_schema_older_than_the_code_names_the_command_to_run(store: Store) -> None:
    with store.engine.begin() as connection:
        connection.execute(text(f"DELETE FROM {VERSION_TABLE}"))
    with pytest.raises(SchemaError, match=r"run `celery -A proj ops db upgrade`"):
        store.ensure_schema(create=True)


def test_a_schema_newer_than_the_code_asks_for_a_newer_package(store: Store) -> None:
    with store.engine.begin() as connection:
        connection.execute(text(f"UPDATE {VERSION_TABLE} SET version_num = 'ffff_future'"))
    with pytest.raises(SchemaError, match=r"upgrade the celery-ops package"):
        store.ensure_schema(create=True)


def test_upgrading_twice_is_harmless(store: Store) -> None:
    store.upgrade()
    assert store.current_revision() == head_revision()
