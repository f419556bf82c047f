"""Beat: ``celery -A proj beat -S celery_ops.beat:DatabaseScheduler`` fires the schedules kept
in the celery-ops store, once per due time however many beats run.

The schedules themselves are created and changed through the operations layer
(``celery_ops.init_app(app).schedules``); their definitions live in
``celery_ops.scheduling``, re-exported here. ``DatabaseScheduler`` loads on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from celery_ops.scheduling.definition import (
    Schedule,
    ScheduleError,
    ScheduleNotFound,
    ScheduleSpec,
)

if TYPE_CHECKING:
    from celery_ops.beat.scheduler import DatabaseScheduler

__all__ = ["DatabaseScheduler", "Schedule", "ScheduleError", "ScheduleNotFound", "ScheduleSpec"]


def __getattr__(name: str) -> Any:
    if name == "DatabaseScheduler":
        from celery_ops.beat.scheduler import DatabaseScheduler

        return DatabaseScheduler
    raise AttributeError(f"module 'celery_ops.beat' has no attribute {name!r}")
