"""The local services the tests use, and what to do when one is missing."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import create_engine, text

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

SERVICES = {
    "postgresql": ("127.0.0.1", 5432),
    "mariadb": ("127.0.0.1", 3306),
    "redis": ("127.0.0.1", 6379),
    "rabbitmq": ("127.0.0.1", 5672),
}
REDIS_BROKER = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/3")
RABBITMQ_BROKER = os.environ.get("TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672//")
POSTGRES_ADMIN_URL = os.environ.get(
    "TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
MARIADB_ADMIN_URL = os.environ.get("TEST_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306/test")


def reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def require(service: str) -> None:
    """Skip (locally) or fail (under CI=true) when ``service`` is not running."""
    host, port = SERVICES[service]
    if reachable(host, port):
        return
    message = (
        f"{service} is not reachable on {host}:{port}; start it (see README, 'Running the tests')"
    )
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


@contextmanager
def fresh_database(backend: str, tmp_dir: str) -> Iterator[str]:
    """A new, empty database on ``backend``; dropped afterwards."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_dir}/store-{uuid.uuid4().hex[:8]}.sqlite3"
        return
    require(backend)
    name = f"ops_test_{uuid.uuid4().hex[:12]}"
    if backend == "postgresql":
        admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
        create = f'CREATE DATABASE "{name}"'
        drop = f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'
        url = POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    else:
        admin = create_engine(MARIADB_ADMIN_URL, isolation_level="AUTOCOMMIT")
        create = f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
        drop = f"DROP DATABASE IF EXISTS `{name}`"
        url = MARIADB_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    with admin.connect() as connection:
        connection.execute(text(create))
    try:
        yield url
    finally:
        with admin.connect() as connection:
            connection.execute(text(drop))
        admin.dispose()
