"""Schema versions: create on first start, refuse to run on a schema older than the code."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from enum import Enum

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, inspect

from celery_ops.store.errors import SchemaError

VERSION_TABLE = "celery_ops_alembic_version"
SCRIPT_LOCATION = "celery_ops.store:migrations"


#: Made by migrations 0004 and 0005 for one backend each, so absent from the models.
SEARCH_INDEXES = frozenset(
    {
        "ix_celery_ops_search_text_trgm",
        "ix_celery_ops_search_text_words",
        "ix_celery_ops_search_text_fulltext",
    }
)


def include_object(
    obj: object, name: str | None, type_: str, reflected: bool, compare_to: object
) -> bool:
    """What Alembic compares with the models: not the per-backend search indexes."""
    if type_ == "table" and (name or "").startswith("celery_ops_search_fts"):
        return False
    return not (type_ == "index" and name in SEARCH_INDEXES)


class SchemaState(Enum):
    EMPTY = "empty"
    CURRENT = "current"
    OUTDATED = "outdated"
    AHEAD = "ahead"


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "celery-ops ships at least one migration"
    return head


def current_revision(connection: Connection) -> str | None:
    context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
    return context.get_current_revision()


def schema_state(connection: Connection) -> SchemaState:
    current = current_revision(connection)
    if current is None:
        return SchemaState.EMPTY
    head = head_revision()
    if current == head:
        return SchemaState.CURRENT
    script = ScriptDirectory.from_config(alembic_config())
    known = {revision.revision for revision in script.walk_revisions()}
    return SchemaState.OUTDATED if current in known else SchemaState.AHEAD


def upgrade(engine: Engine, revision: str = "head", quiet: bool = False) -> None:
    """Apply every migration up to ``revision`` in one transaction."""
    with engine.begin() as connection, _alembic_logs(quiet):
        command.upgrade(alembic_config(connection), revision)


@contextmanager
def _alembic_logs(quiet: bool) -> Iterator[None]:
    # Alembic reports at INFO; at every worker start that is noise in the user's logs.
    alembic_logger = logging.getLogger("alembic")
    level = alembic_logger.level
    if quiet:
        alembic_logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        alembic_logger.setLevel(level)


def ensure_schema(engine: Engine, create: bool) -> None:
    """Make sure the schema matches the code, creating it when the database is empty."""
    with engine.connect() as connection, _alembic_logs(quiet=True):
        state = schema_state(connection)
        current = current_revision(connection)
        has_tables = inspect(connection).has_table("celery_ops_executions")
    if state is SchemaState.CURRENT:
        return
    if state is SchemaState.EMPTY and not has_tables:
        if not create:
            raise SchemaError(
                "the celery-ops tables do not exist and ops_create_schema is off: "
                "run `celery -A proj ops db upgrade`"
            )
        try:
            upgrade(engine, quiet=True)
        except Exception:
            # Another process may have created the schema at the same moment.
            with engine.connect() as connection:
                if schema_state(connection) is SchemaState.CURRENT:
                    return
            raise
        return
    if state is SchemaState.AHEAD:
        raise SchemaError(
            f"the celery-ops schema is at revision {current}, newer than this version of "
            "celery-ops knows: upgrade the celery-ops package"
        )
    raise SchemaError(
        f"the celery-ops schema is at revision {current or 'none'} and this version needs "
        f"{head_revision()}: run `celery -A proj ops db upgrade`"
    )
