"""Migrations with Alembic: loaded only by a process that creates or migrates the schema.

A process that only checks the schema (every worker, producer and dashboard at start) reads
one row instead (:mod:`celery_ops.store.schema`): Alembic and Mako are about 20,000 objects
kept for the life of a process, which each full garbage collection walks.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import Connection, Engine

from celery_ops.store.errors import SchemaError

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


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def script_revisions() -> list[str]:
    """Every revision of the migration scripts, newest first, as Alembic reads them."""
    script = ScriptDirectory.from_config(alembic_config())
    return [revision.revision for revision in script.walk_revisions()]


def upgrade(engine: Engine, revision: str = "head", quiet: bool = False) -> None:
    """Apply every migration up to ``revision`` in one transaction."""
    try:
        with engine.begin() as connection, _alembic_logs(quiet):
            command.upgrade(alembic_config(connection), revision)
    except CommandError as exc:
        raise SchemaError(f"cannot migrate to {revision!r}: {exc}") from exc


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
