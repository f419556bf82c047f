"""Schema versions: create on first start, refuse to run on a schema older than the code.

The check reads the version table with plain queries; Alembic is loaded only when the schema
is created or migrated (:mod:`celery_ops.store.migrate`).
"""

from __future__ import annotations

from enum import Enum

from sqlalchemy import Connection, Engine, inspect, text

from celery_ops.store.errors import SchemaError

VERSION_TABLE = "celery_ops_alembic_version"

#: The newest migration shipped in ``migrations/versions``. Revisions are numbered from 0001
#: without gaps; tests hold both to what Alembic reads from the scripts.
HEAD_REVISION = "0019"

#: Every revision this version of celery-ops knows.
KNOWN_REVISIONS = frozenset(f"{number:04d}" for number in range(1, int(HEAD_REVISION) + 1))


class SchemaState(Enum):
    EMPTY = "empty"
    CURRENT = "current"
    OUTDATED = "outdated"
    AHEAD = "ahead"


def current_revision(connection: Connection) -> str | None:
    """The revision the database is at; None before the first migration."""
    if not inspect(connection).has_table(VERSION_TABLE):
        return None
    rows = connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}"))
    found = sorted(str(revision) for (revision,) in rows)
    if len(found) > 1:
        raise SchemaError(
            f"{VERSION_TABLE} holds several revisions ({', '.join(found)}) where "
            "`celery -A proj ops db upgrade` writes one: keep only the row of the revision "
            "the tables are at"
        )
    return found[0] if found else None


def schema_state(current: str | None) -> SchemaState:
    if current is None:
        return SchemaState.EMPTY
    if current == HEAD_REVISION:
        return SchemaState.CURRENT
    return SchemaState.OUTDATED if current in KNOWN_REVISIONS else SchemaState.AHEAD


def upgrade(engine: Engine, revision: str = "head", quiet: bool = False) -> None:
    """Apply every migration up to ``revision`` in one transaction."""
    # Imported here, not above: only a process that migrates pays for loading Alembic.
    from celery_ops.store import migrate

    migrate.upgrade(engine, revision, quiet)


def ensure_schema(engine: Engine, create: bool) -> None:
    """Make sure the schema matches the code, creating it when the database is empty."""
    with engine.connect() as connection:
        current = current_revision(connection)
        # Asked only without a revision (the current schema, every start, costs no more).
        has_tables = current is None and inspect(connection).has_table("celery_ops_executions")
    state = schema_state(current)
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
                if schema_state(current_revision(connection)) is SchemaState.CURRENT:
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
        f"{HEAD_REVISION}: run `celery -A proj ops db upgrade`"
    )
