"""`DatabaseScheduler`: Celery beat reading its schedules from the celery-ops store.

Nothing is cached between ticks: each tick asks the database for the rows due now (one
indexed query), and :class:`~celery_ops.scheduling.sending.ScheduleSender` claims their due times,
sends them and marks them sent. Any number of beats may run; the claim decides which one
sends each due time.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from datetime import datetime
from typing import Any

from celery.beat import Scheduler
from celery.schedules import crontab

from celery_ops.core.records import ScheduleRow
from celery_ops.extension import CeleryOps, init_app
from celery_ops.operations import Actor
from celery_ops.scheduling.definition import SendRequest
from celery_ops.scheduling.firing import first_due_times, plan_fire
from celery_ops.scheduling.sending import ScheduleSender
from celery_ops.store import StoreError
from celery_ops.store.schedules import ScheduleStore

logger = logging.getLogger("celery_ops.beat")

# Work that need not happen on every tick: abandoned claims, rows written by plain SQL,
# the names of tasks workers registered.
HOUSEKEEPING_INTERVAL = 5.0
TASK_NAMES_TTL = 30.0
FAILURE_LOG_INTERVAL = 60.0

#: Who syncs ``beat_schedule`` into the store, in the audit log.
BEAT = Actor.system("beat")


class DatabaseScheduler(Scheduler):  # type: ignore[misc]
    """``celery -A proj beat -S celery_ops.beat:DatabaseScheduler`` (or ``-S ops``)."""

    def __init__(self, app: Any, *args: Any, **kwargs: Any) -> None:
        self.ops: CeleryOps = init_app(app)
        config = self.ops.config
        self.poll_interval = config.beat_poll_interval
        self.batch_size = config.beat_batch_size
        self.round_spacing = config.beat_round_spacing
        self.beat_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.sender = ScheduleSender(
            self._publish,
            self.beat_id,
            config.beat_claim_timeout,
            self.ops.clock,
            self._publishing,
        )
        self._next_housekeeping = 0.0
        self._task_names: frozenset[str] = frozenset()
        self._task_names_at = float("-inf")
        self._reported: dict[int, str] = {}
        self._failing_since: float | None = None
        self._last_failure_log = float("-inf")
        kwargs["max_interval"] = self.poll_interval
        super().__init__(app, *args, **kwargs)

    @property
    def default_timezone(self) -> str:
        """The app's time zone, for cron schedules that name none."""
        return str(self.app.conf.timezone or "UTC")

    # Celery's Scheduler interface

    def setup_schedule(self) -> None:
        self.ops.store.ensure_schema(self.ops.config.create_schema)
        report = self.ops.operations(BEAT).schedules.sync_config(_configured_entries(self.app))
        if report.changed:
            logger.info("celery-ops: beat_schedule synced into the store: %s", report)
        for problem in report.problems:
            logger.error("celery-ops: %s", problem)
        self.ops.start_reaper()
        self.ops.start_monitoring()

    def tick(self, *args: Any, **kwargs: Any) -> float:
        """Send what is due; return how long beat may sleep before the next look."""
        try:
            interval = self._tick()
        except Exception as exc:
            # Nothing must stop beat: say what happened (not every second) and retry.
            now = time.monotonic()
            if self._failing_since is None:
                self._failing_since = now
            if now - self._last_failure_log >= FAILURE_LOG_INTERVAL:
                self._last_failure_log = now
                if isinstance(exc, StoreError):
                    logger.error(
                        "celery-ops: beat cannot reach the schedules in %s (%s); retrying "
                        "every %gs",
                        self.ops.store.safe_url,
                        exc,
                        self.poll_interval,
                    )
                else:
                    logger.exception(
                        "celery-ops: beat failed on a tick; retrying every %gs",
                        self.poll_interval,
                    )
            return self.poll_interval
        if self._failing_since is not None:
            logger.warning(
                "celery-ops: beat reached the store again after %.0fs; due times missed "
                "meanwhile follow each schedule's misfire policy",
                time.monotonic() - self._failing_since,
            )
            self._failing_since = None
        return interval

    def sync(self) -> None:
        """Nothing to write back: the store is updated as each due time is claimed."""

    def get_schedule(self) -> dict[str, Any]:
        return {}

    def set_schedule(self, schedule: Any) -> None:
        pass

    schedule = property(get_schedule, set_schedule)

    @property
    def info(self) -> str:
        return f"    . db -> {self.ops.store.safe_url}"

    # The loop

    def _tick(self) -> float:
        if time.monotonic() >= self._next_housekeeping:
            self._housekeeping()
            self._next_housekeeping = time.monotonic() + HOUSEKEEPING_INTERVAL
        clock = self.ops.clock
        with self.ops.store.schedules.bound() as store:
            now = clock.now()
            due, following = store.due(now, self.batch_size)
            upcoming = [following] if following is not None else []
            if due:
                upcoming += self._fire(store, due, now)
                if len(due) == self.batch_size:
                    return 0.0
        if not upcoming:
            return self.poll_interval
        wait = (min(upcoming) - clock.now()).total_seconds()
        if due:
            wait = max(wait, self.round_spacing)
        return min(max(wait, 0.0), self.poll_interval)

    def _fire(
        self, store: ScheduleStore, rows: Sequence[ScheduleRow], now: datetime
    ) -> list[datetime]:
        """Claim, send and mark the due ``rows``; returns their next due times."""
        # Read once per round: a Celery setting lookup costs more than planning a row.
        default_timezone = self.default_timezone
        grace = self.ops.config.beat_misfire_grace
        plans = [plan_fire(row, now, default_timezone, grace, self._task_exists) for row in rows]
        self.sender.fire(store, plans, now)
        for plan in plans:
            if plan.error:
                self._report_error(plan.schedule_id, plan.error)
            else:
                self._reported.pop(plan.schedule_id, None)
        return [plan.next_run_at for plan in plans if plan.next_run_at is not None]

    def _publish(self, request: SendRequest, task_id: str) -> str:
        result = self.app.send_task(
            request.task,
            request.args,
            request.kwargs,
            task_id=task_id,
            producer=self.producer,
            **request.options,
        )
        return str(result.id)

    def _publishing(self) -> AbstractContextManager[Any]:
        """One broker round trip for a whole round where the transport can (kombu 5.6+
        batches Redis publishes in a pipeline); one per message elsewhere."""
        batch = getattr(self.producer, "batch", None)
        return batch() if batch is not None else nullcontext()

    # Housekeeping

    def _housekeeping(self) -> None:
        store = self.ops.store.schedules
        self._compute_new_rows(store)
        self.sender.resend_abandoned(store, self.batch_size)

    def _compute_new_rows(self, store: ScheduleStore) -> None:
        """Give a first due time to enabled rows that have none (written by plain SQL)."""
        rows = store.uncomputed(self.batch_size)
        computed, errors = first_due_times(rows, self.ops.clock.now(), self.default_timezone)
        store.set_next_run(computed)
        if errors:
            store.set_errors({schedule_id: (error, None) for schedule_id, error in errors.items()})
            for schedule_id, error in errors.items():
                self._report_error(schedule_id, error)

    # Helpers

    def _task_exists(self, name: str) -> bool:
        if name in self.app.tasks:
            return True
        if time.monotonic() - self._task_names_at > TASK_NAMES_TTL:
            self._task_names = frozenset(self.ops.store.known_task_names())
            self._task_names_at = time.monotonic()
        return name in self._task_names

    def _report_error(self, schedule_id: int, error: str) -> None:
        """Log a row's problem once, not at every due time, until it changes."""
        if self._reported.get(schedule_id) != error:
            self._reported[schedule_id] = error
            logger.error("celery-ops: %s (skipped; the other schedules go on)", error)


def _configured_entries(app: Any) -> dict[str, Any]:
    """The app's beat_schedule plus the entry Celery's own beat would add."""
    entries = dict(app.conf.beat_schedule or {})
    if (
        app.conf.result_expires
        and not app.backend.supports_autoexpire
        and "celery.backend_cleanup" not in entries
    ):
        entries["celery.backend_cleanup"] = {
            "task": "celery.backend_cleanup",
            "schedule": crontab("0", "4", "*"),
            "options": {"expires": 12 * 3600},
        }
    return entries
