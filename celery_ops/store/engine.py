"""Engines tuned per backend: WAL and a busy timeout for SQLite, short connect timeouts."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.pool import StaticPool

SQLITE_BUSY_TIMEOUT_MS = 30_000
CONNECT_TIMEOUT_S = 5


def create_store_engine(url: str) -> Engine:
    """An engine for ``url`` that survives restarts of the server and concurrent writers."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    kwargs: dict[str, Any] = {"pool_pre_ping": True}
    if backend == "sqlite":
        kwargs["connect_args"] = {
            "check_same_thread": False,
            "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000,
        }
        if parsed.database in (None, "", ":memory:"):
            kwargs["poolclass"] = StaticPool
        engine = create_engine(parsed, **kwargs)
        _configure_sqlite(engine)
        return engine
    if backend == "postgresql":
        kwargs["connect_args"] = {"connect_timeout": CONNECT_TIMEOUT_S}
        if parsed.get_driver_name() == "psycopg":
            # No server-side prepared statements: behind PgBouncer in transaction mode (before
            # 1.21), or any pooler that hands each transaction another server connection, a
            # statement prepared on one connection is missing, or taken, on the next.
            kwargs["connect_args"]["prepare_threshold"] = None
    elif backend in ("mysql", "mariadb"):
        kwargs["connect_args"] = {"connect_timeout": CONNECT_TIMEOUT_S}
        if "charset" not in parsed.query:
            parsed = parsed.update_query_dict({"charset": "utf8mb4"})
        kwargs["pool_recycle"] = 3600
    kwargs["pool_size"] = 2
    kwargs["max_overflow"] = 2
    engine = create_engine(parsed, **kwargs)
    if backend == "postgresql":
        _configure_postgresql(engine)
    return engine


def _configure_postgresql(engine: Engine) -> None:
    # Times are stored as naive UTC. A session in UTC turns an aware time sent as timestamptz
    # into the same naive UTC, whatever the zone of the server or of PGTZ.
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        with dbapi_connection.cursor() as cursor:
            cursor.execute("SET TIME ZONE 'UTC'")
        dbapi_connection.commit()


def _configure_sqlite(engine: Engine) -> None:
    # Several processes write one file: WAL lets readers run beside the writer, and
    # BEGIN IMMEDIATE takes the write lock up front so a transaction never fails half-way
    # on an upgrade from a read lock (the recipe from SQLAlchemy's SQLite documentation).
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        if engine.url.database not in (None, "", ":memory:"):
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")
