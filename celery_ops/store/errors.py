"""The store's own errors. Nothing above ``celery_ops.store`` ever sees a SQLAlchemy or driver
exception: each one is turned into one of these where the store runs a statement."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.exc import (
    DataError,
    DBAPIError,
    IntegrityError,
    NoSuchModuleError,
    SQLAlchemyError,
    StatementError,
)


class StoreError(Exception):
    """The store could not do what was asked; ``str()`` says what went wrong."""


class StoreUnavailable(StoreError):
    """The database cannot be reached or used right now (down, refusing connections, locked
    past the timeout, its driver not installed). Retrying later may work."""


class RowRejected(StoreError):
    """The database is up but refused the values (too long, wrong type, a constraint)."""


class Duplicate(RowRejected):
    """A row with this unique name already exists."""


class NotFound(StoreError):
    """No row by that name or id."""


class SchemaError(StoreError):
    """The database schema does not match this version of celery-ops."""


def one_line(exc: BaseException) -> str:
    """The first line of an exception's message, with its type, for logs and errors."""
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0] if lines else ''}"[:300]


def translate(exc: Exception, duplicate: str | None = None) -> StoreError:
    """The store's error for an exception raised while running a statement; ``duplicate``
    is the message of a unique constraint refusing the row, when the caller knows that it is
    the only constraint its statement can break."""
    if isinstance(exc, StoreError):
        return exc
    if isinstance(exc, IntegrityError):
        if duplicate is not None:
            return Duplicate(duplicate)
        return RowRejected(one_line(exc.orig or exc))
    if isinstance(exc, DataError):
        return RowRejected(one_line(exc.orig or exc))
    if isinstance(exc, StatementError) and not isinstance(exc, DBAPIError):
        # Raised before the database saw anything: a value the driver cannot send.
        return RowRejected(one_line(exc.orig or exc))
    if isinstance(exc, NoSuchModuleError | ModuleNotFoundError):
        return StoreUnavailable(
            f"{one_line(exc)}: install the driver, e.g. pip install 'celery-ops[postgres]' "
            "or 'celery-ops[mysql]'"
        )
    return StoreUnavailable(one_line(exc))


@contextmanager
def translated(duplicate: str | None = None) -> Iterator[None]:
    """Run a block of store code; a database or driver error leaves it as a StoreError
    (see :func:`translate` for ``duplicate``)."""
    try:
        yield
    except StoreError:
        raise
    except (SQLAlchemyError, ModuleNotFoundError, OSError) as exc:
        raise translate(exc, duplicate) from exc
