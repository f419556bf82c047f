"""Tasks: every task name registered on a worker, its defaults and its recent counts."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask_admin import expose

from celery_ops.core import lifecycle as states
from celery_ops.dashboard.auth import door
from celery_ops.dashboard.pages.common import Page

#: Counts are taken over at most this many of the latest executions of each status.
SAMPLE = 50_000
COUNTED = (states.SUCCESS, states.FAILURE)


#: The periods a task's page sets against the period before each.
PERIODS = {
    "last hour": timedelta(hours=1),
    "last day": timedelta(days=1),
    "last 7 days": timedelta(days=7),
}


class TasksView(Page):
    @expose("/")  # type: ignore[untyped-decorator]
    def index(self) -> Any:
        operations = door()
        since = operations.services.clock.now() - timedelta(days=1)
        counts = operations.tasks.recent_counts(since, COUNTED, SAMPLE)
        sampled = [
            status
            for status in COUNTED
            if sum(by_status.get(status, 0) for by_status in counts.values()) >= SAMPLE
        ]
        return self.render(
            "celery_ops/tasks.html",
            definitions=operations.tasks.definitions(),
            counts=counts,
            sampled=sampled,
            sample=SAMPLE,
        )

    # Not `name`: Flask-Admin's views take that argument themselves.
    @expose("/view/<path:task_name>")  # type: ignore[untyped-decorator]
    def details(self, task_name: str) -> Any:
        """One task name: its defaults, each period against the one before, and charts."""
        operations = door()
        now = operations.services.clock.now()
        definition = next((d for d in operations.tasks.definitions() if d.name == task_name), None)
        metrics = operations.metrics
        periods = {
            label: (
                metrics.summary(now - length, now, task=task_name),
                metrics.summary(now - 2 * length, now - length, task=task_name),
            )
            for label, length in PERIODS.items()
        }
        return self.render(
            "celery_ops/task.html", name=task_name, definition=definition, periods=periods
        )
