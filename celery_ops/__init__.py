"""celery-ops: a permanent record of every Celery task execution, a database beat scheduler
and an operations dashboard.

Add it to an existing app with ``celery_ops.init_app(app)``.
"""

from celery_ops.config import ConfigurationError, OpsConfig
from celery_ops.extension import CeleryOps, get_ops, init_app
from celery_ops.version import __version__

__all__ = ["CeleryOps", "ConfigurationError", "OpsConfig", "__version__", "get_ops", "init_app"]
