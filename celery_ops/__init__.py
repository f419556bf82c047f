"""celery-ops: a permanent record of every Celery task execution, a database beat scheduler
and an operations dashboard.

Add it to an existing app with ``celery_ops.init_app(app)``.

The names below load on first use, so that ``import celery_ops.store`` (or any part) does not
load Celery's signals, beat and the dashboard with it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from celery_ops.core.lazy import lazy_exports
from celery_ops.version import __version__

if TYPE_CHECKING:
    from celery_ops.batching import Batch, batch, current_batch
    from celery_ops.extension import CeleryOps, get_ops, init_app
    from celery_ops.settings import ConfigurationError, OpsConfig
    from celery_ops.signals.progress import report_progress

__all__ = [
    "Batch",
    "CeleryOps",
    "ConfigurationError",
    "OpsConfig",
    "__version__",
    "batch",
    "current_batch",
    "get_ops",
    "init_app",
    "report_progress",
]

_LAZY = {
    "Batch": "celery_ops.batching",
    "batch": "celery_ops.batching",
    "current_batch": "celery_ops.batching",
    "CeleryOps": "celery_ops.extension",
    "get_ops": "celery_ops.extension",
    "init_app": "celery_ops.extension",
    "ConfigurationError": "celery_ops.settings",
    "OpsConfig": "celery_ops.settings",
    "report_progress": "celery_ops.signals.progress",
}


__getattr__ = lazy_exports(__name__, _LAZY)
