"""Home: what happened in the last hour and day, queue backlogs, workers, latest failures."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from flask_admin import AdminIndexView, expose

from celery_ops import lifecycle as states
from celery_ops.actions import Operations
from celery_ops.dashboard.auth import current_account, ops
from celery_ops.dashboard.pages.common import SignedIn
from celery_ops.store.queries import ExecutionFilter

#: Counts on the home page stop here ("10000" reads "10,000 or more").
COUNT_CAP = 10_000


class HomeView(SignedIn, AdminIndexView):  # type: ignore[misc]
    """Executions and failures in the last hour and day, and the latest failures."""

    @expose("/")  # type: ignore[untyped-decorator]
    def index(self) -> Any:
        store = ops().store
        now = datetime.now(timezone.utc)
        windows = {"last hour": now - timedelta(hours=1), "last day": now - timedelta(days=1)}
        counts = {
            label: {
                status: store.count_executions(
                    ExecutionFilter(statuses=(status,), since=since), cap=COUNT_CAP
                )
                for status in states.ALL_STATUSES
            }
            for label, since in windows.items()
        }
        failures = store.executions(ExecutionFilter(statuses=(states.FAILURE,)), limit=10)
        operations = Operations(ops())
        backlogs, broker_error = operations.backlogs(operations.known_queues())
        return self.render(
            "celery_ops/home.html",
            counts=counts,
            backlogs=backlogs,
            broker_error=broker_error,
            workers=store.workers(),
            failures=failures,
            cap=COUNT_CAP,
            account=current_account(),
        )
