"""Fixtures shared by every test: real databases per backend and a clean store."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack

import pytest
from helpers.services import fresh_database

from celery_ops.store import Store

#: Every backend; PostgreSQL and MariaDB are servers, so their runs are not in the fast loop.
BACKENDS = [
    "sqlite",
    pytest.param("postgresql", marks=pytest.mark.slow),
    pytest.param("mariadb", marks=pytest.mark.slow),
]


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:
    """An empty database on each supported backend in turn."""
    with fresh_database(request.param, str(tmp_path)) as url:
        yield url


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    """A store with the current schema on each backend."""
    store = Store(database_url)
    store.upgrade()
    yield store
    store.dispose()


@pytest.fixture
def new_database(tmp_path) -> Iterator[Callable[[str], str]]:
    """Create empty databases on demand; each is dropped when the test is over."""
    with ExitStack() as stack:
        yield lambda backend: stack.enter_context(fresh_database(backend, str(tmp_path)))
