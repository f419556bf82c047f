"""The store: SQLAlchemy models, migrations and every query celery-ops runs."""

from celery_ops.store.database import RecordBatch, Store, WorkerState
from celery_ops.store.maintenance import ReapResult
from celery_ops.store.schema import SchemaError, SchemaState

__all__ = ["ReapResult", "RecordBatch", "SchemaError", "SchemaState", "Store", "WorkerState"]
