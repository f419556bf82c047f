"""Beat: schedules kept as rows in the celery-ops store, fired once per due time.

``celery -A proj beat -S celery_ops.beat:DatabaseScheduler`` runs them; :class:`Schedules`
(``celery_ops.init_app(app).schedules``) is the one way to create and change them.
"""

from celery_ops.beat.definition import Schedule, ScheduleError, ScheduleSpec
from celery_ops.beat.scheduler import DatabaseScheduler
from celery_ops.beat.schedules import ScheduleNotFound, Schedules, SyncReport

__all__ = [
    "DatabaseScheduler",
    "Schedule",
    "ScheduleError",
    "ScheduleNotFound",
    "ScheduleSpec",
    "Schedules",
    "SyncReport",
]
