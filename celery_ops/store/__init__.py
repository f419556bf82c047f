"""The store: SQLAlchemy models, migrations and every query celery-ops runs.

Nothing outside this package imports SQLAlchemy, and nothing here imports Celery, Flask or
click. Every failure leaves it as one of the errors of :mod:`celery_ops.store.errors`.
"""

from celery_ops.store.batches import RecordBatch, WorkerState
from celery_ops.store.database import Store, redact_url
from celery_ops.store.errors import (
    Duplicate,
    NotFound,
    RowRejected,
    SchemaError,
    StoreError,
    StoreUnavailable,
)
from celery_ops.store.maintenance import ReapResult
from celery_ops.store.schema import SchemaState

__all__ = [
    "Duplicate",
    "NotFound",
    "ReapResult",
    "RecordBatch",
    "RowRejected",
    "SchemaError",
    "SchemaState",
    "Store",
    "StoreError",
    "StoreUnavailable",
    "WorkerState",
    "redact_url",
]
