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
