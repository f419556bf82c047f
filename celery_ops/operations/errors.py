"""The store's and the broker's failures, as the operation errors front ends know."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from celery_ops.core.errors import InvalidInput, NotFound, OperationError, Unavailable
from celery_ops.store import NotFound as MissingRow
from celery_ops.store import RowRejected, SchemaError, StoreError, StoreUnavailable


def from_store(exc: StoreError) -> OperationError:
    """What to tell the person who asked when the store failed."""
    if isinstance(exc, MissingRow):
        return NotFound(str(exc))
    if isinstance(exc, RowRejected):
        return InvalidInput(f"the store refused the values: {exc}")
    if isinstance(exc, SchemaError):
        return Unavailable(str(exc))
    if isinstance(exc, StoreUnavailable):
        return Unavailable(f"the store cannot be reached ({exc}); try again when it is back")
    return Unavailable(f"the store failed: {exc}")


@contextmanager
def store_errors() -> Iterator[None]:
    """Run a read or a change; a store failure leaves it as an operation error."""
    try:
        yield
    except StoreError as exc:
        raise from_store(exc) from exc


def broker_unavailable(exc: Exception) -> Unavailable:
    return Unavailable(
        f"the broker cannot be reached ({type(exc).__name__}: {exc}); try again when it is back"
    )
