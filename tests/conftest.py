"""Fixtures shared by every test: real databases per backend and a clean store."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack

import pytest
from helpers.fuzzing import EXPLORE_FACTOR, EXPLORING
from helpers.services import fresh_database
from hypothesis import HealthCheck, settings

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


# Generated input (hypothesis, schemathesis). In the suite every run tries the same examples
# (derandomized: CI cannot go red by chance); `scripts/explore.sh` sets
# CELERY_OPS_EXPLORE=1 for many more, freshly random, examples.
settings.register_profile(
    "suite",
    derandomize=True,
    database=None,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
settings.register_profile(
    "explore",
    derandomize=False,
    deadline=None,
    print_blob=True,
    max_examples=EXPLORE_FACTOR * 100,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
settings.load_profile("explore" if EXPLORING else "suite")
