"""Tasks: every task name registered on a worker, its defaults and its recent counts."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from flask_admin import expose

from celery_ops import lifecycle as states
from celery_ops.dashboard.auth import current_account, ops
from celery_ops.dashboard.pages.common import Page
from celery_ops.store.queries import ExecutionFilter

COUNT_CAP = 10_000


class TasksView(Page):
    @expose("/")  # type: ignore[untyped-decorator]
    def index(self) -> Any:
        store = ops().store
        since = datetime.now(timezone.utc) - timedelta(days=1)
        definitions = store.definitions()
        counts = {
            row["name"]: {
                status: store.count_executions(
                    ExecutionFilter(statuses=(status,), task_name=row["name"], since=since),
                    cap=COUNT_CAP,
                )
                for status in (states.SUCCESS, states.FAILURE)
            }
            for row in definitions
        }
        return self.render(
            "celery_ops/tasks.html",
            definitions=definitions,
            counts=counts,
            cap=COUNT_CAP,
            account=current_account(),
        )
