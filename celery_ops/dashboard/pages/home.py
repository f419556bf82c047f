"""Home: what happened in the last hour and day, queue backlogs, workers, latest failures."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask_admin import AdminIndexView, expose

from celery_ops.core import lifecycle as states
from celery_ops.core.filters import ExecutionFilter
from celery_ops.dashboard.auth import actor, door
from celery_ops.dashboard.pages.common import SignedIn, live_page

#: Counts on the home page stop here ("10000" reads "10,000 or more").
COUNT_CAP = 10_000
#: The dead set is counted to here on Home (each one checked for a retry and a discard).
DEAD_CAP = 1_000


class HomeView(SignedIn, AdminIndexView):  # type: ignore[misc]
    """Executions and failures in the last hour and day, and the latest failures."""

    @expose("/")  # type: ignore[untyped-decorator]
    def index(self) -> Any:
        operations = door()
        executions = operations.executions
        now = operations.services.clock.now()
        windows = {"last hour": now - timedelta(hours=1), "last day": now - timedelta(days=1)}
        # Exact, from the rollups; what is under way is counted along the status index.
        ended = {label: operations.metrics.counts(since, now) for label, since in windows.items()}
        under_way = executions.under_way(COUNT_CAP)
        failures = executions.page(ExecutionFilter(statuses=(states.FAILURE,)), 10).items
        dead = executions.count(ExecutionFilter(dead=True), DEAD_CAP)
        return live_page(
            self,
            "celery_ops/home.html",
            ended=ended,
            under_way=under_way,
            health=operations.health.check(),
            queues=operations.queues.all(counts=False),
            workers=operations.workers.all(live=False),
            failures=failures,
            dead=dead,
            dead_cap=DEAD_CAP,
            cap=COUNT_CAP,
            account=actor(),
        )
