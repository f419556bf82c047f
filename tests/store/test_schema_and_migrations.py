"""The schema is created on first start, migrated by command, and never silently mismatched."""

from __future__ import annotations

import subprocess
import sys

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from celery_ops.store import SchemaError, Store
from celery_ops.store.migrate import include_object, script_revisions
from celery_ops.store.models import metadata
from celery_ops.store.schema import HEAD_REVISION, KNOWN_REVISIONS, VERSION_TABLE

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
    assert store.current_revision() == HEAD_REVISION
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
        differences = compare_metadata(context, metadata)
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


def test_a_version_table_with_two_rows_is_refused_with_what_to_do(store: Store) -> None:
    with store.engine.begin() as connection:
        connection.execute(text(f"INSERT INTO {VERSION_TABLE} (version_num) VALUES ('0001')"))
    with pytest.raises(SchemaError, match=r"several revisions \(0001, \d{4}\).*keep only"):
        store.ensure_schema(create=True)


def test_upgrading_twice_is_harmless(store: Store) -> None:
    store.upgrade()
    assert store.current_revision() == HEAD_REVISION


def test_the_shipped_head_is_the_head_alembic_reads_from_the_scripts() -> None:
    revisions = script_revisions()
    assert revisions[0] == HEAD_REVISION
    assert set(revisions) == KNOWN_REVISIONS


def test_a_process_that_finds_the_schema_current_never_loads_alembic(
    database_url: str, store: Store
) -> None:
    # Producers and workers check the schema at start; Alembic (with Mako) would stay in
    # each of them for nothing.
    check = (
        "import sys\n"
        "from celery_ops.store import Store\n"
        f"Store({database_url!r}).ensure_schema(create=True)\n"
        "loaded = sorted(name for name in sys.modules if name.split('.')[0] in "
        "('alembic', 'mako'))\n"
        "assert not loaded, loaded\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", check], capture_output=True, text=True, timeout=60
    )
    assert completed.returncode == 0, completed.stderr
