"""`DatabaseScheduler`: Celery beat reading its schedules from the celery-ops store.

Nothing is cached between ticks: each tick asks the database for the rows due now (one
indexed query), claims their due times, sends them and marks them sent. Any number of beats
may run; the claim decides which one sends each due time (see ScheduleStore.claim).
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from datetime import datetime, timedelta
from typing import Any

from celery.beat import Scheduler
from celery.schedules import crontab

# The module, not its names: celery_ops.extension imports this package in turn.
from celery_ops import extension
from celery_ops.beat.definition import ScheduleError, send_request
from celery_ops.beat.firing import FirePlan, plan_fire
from celery_ops.beat.schedules import Schedules
from celery_ops.beat.timing import utcnow
from celery_ops.store.schedules import Advance, Claim, ScheduleStore

logger = logging.getLogger("celery_ops.beat")

# Work that need not happen on every tick: abandoned claims, rows written by plain SQL,
# the names of tasks workers registered.
HOUSEKEEPING_INTERVAL = 5.0
TASK_NAMES_TTL = 30.0
FAILURE_LOG_INTERVAL = 60.0


class DatabaseScheduler(Scheduler):  # type: ignore[misc]
    """``celery -A proj beat -S celery_ops.beat:DatabaseScheduler`` (or ``-S ops``)."""

    def __init__(self, app: Any, *args: Any, **kwargs: Any) -> None:
        self.ops: extension.CeleryOps = extension.init_app(app)
        config = self.ops.config
        self.poll_interval = config.beat_poll_interval
        self.batch_size = config.beat_batch_size
        self.round_spacing = config.beat_round_spacing
        self.beat_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._schedules = Schedules(self.ops)
        self._next_housekeeping = 0.0
        self._task_names: frozenset[str] = frozenset()
        self._task_names_at = float("-inf")
        self._reported: dict[int, str] = {}
        self._failing_since: float | None = None
        self._last_failure_log = float("-inf")
        kwargs["max_interval"] = self.poll_interval
        super().__init__(app, *args, **kwargs)

    # Celery's Scheduler interface

    def setup_schedule(self) -> None:
        self.ops.store.ensure_schema(self.ops.config.create_schema)
        report = self._schedules.sync_config(_configured_entries(self.app))
        if report.changed:
            logger.info("celery-ops: beat_schedule synced into the store: %s", report)
        for problem in report.problems:
            logger.error("celery-ops: %s", problem)
        self.ops.start_reaper()

    def tick(self, *args: Any, **kwargs: Any) -> float:
        """Send what is due; return how long beat may sleep before the next look."""
        try:
            interval = self._tick()
        except Exception:
            # A database outage must not stop beat: say so (not every second) and retry.
            now = time.monotonic()
            if self._failing_since is None:
                self._failing_since = now
            if now - self._last_failure_log >= FAILURE_LOG_INTERVAL:
                self._last_failure_log = now
                logger.exception(
                    "celery-ops: beat cannot reach the schedules in %s; retrying every %gs",
                    self.ops.store.safe_url,
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
        with self.ops.store.schedules.bound() as store:
            now = utcnow()
            due, following = store.due(now, self.batch_size)
            upcoming = [following] if following is not None else []
            if due:
                upcoming += self._fire(store, due, now)
                if len(due) == self.batch_size:
                    return 0.0
        if not upcoming:
            return self.poll_interval
        wait = (min(upcoming) - utcnow()).total_seconds()
        if due:
            wait = max(wait, self.round_spacing)
        return min(max(wait, 0.0), self.poll_interval)

    def _fire(
        self, store: ScheduleStore, rows: Sequence[dict[str, Any]], now: datetime
    ) -> list[datetime]:
        """Claim, send and mark the due ``rows``; returns their next due times."""
        # Read once per round: a Celery setting lookup costs more than planning a row.
        default_timezone = self._schedules.default_timezone
        grace = self.ops.config.beat_misfire_grace
        plans = [plan_fire(row, now, default_timezone, grace, self._task_exists) for row in rows]
        runs: list[dict[str, Any]] = [
            {
                "schedule_id": plan.schedule_id,
                "schedule_name": plan.name,
                "due_at": plan.due_at,
                "task_id": str(uuid.uuid4()),
                "origin": "schedule",
            }
            for plan in plans
            if plan.send is not None
        ]
        task_ids: dict[int, str] = {run["schedule_id"]: run["task_id"] for run in runs}
        advances = [_advance(plan, task_ids.get(plan.schedule_id), now) for plan in plans]
        claims = store.claim(runs, advances, self.beat_id, now)
        self._report(plans)
        requests = {plan.schedule_id: plan for plan in plans}
        self._send(store, claims, lambda claim: requests[claim.schedule_id], now)
        return [plan.next_run_at for plan in plans if plan.next_run_at is not None]

    def _send(
        self,
        store: ScheduleStore,
        claims: Sequence[Claim],
        plan_of: Callable[[Claim], FirePlan],
        claimed_at: datetime,
    ) -> None:
        sent: list[int] = []
        failed: dict[int, str] = {}
        deadline = claimed_at + timedelta(seconds=self.ops.config.beat_claim_timeout / 2)
        try:
            with self._publishing():
                for claim in claims:
                    plan = plan_of(claim)
                    if utcnow() > deadline:
                        # Too late to be sure no other beat took this claim over: leave it.
                        logger.warning("celery-ops: beat stalled; leaving %s to others", plan.name)
                        break
                    error = self._publish(claim, plan)
                    if error is None:
                        sent.append(claim.id)
                    else:
                        # The claim stays unsent: a later pass sends it once the broker is back.
                        failed[plan.schedule_id] = error
        except Exception as exc:
            # The round's messages could not be flushed to the broker: none is known to be
            # sent, so none is marked; a later pass sends them under the same task ids.
            logger.error("celery-ops: could not publish %d due task(s): %s", len(sent), exc)
            sent = []
        store.mark_sent(sent, utcnow())
        if failed:
            store.mark_failed({}, failed)

    def _publish(self, claim: Claim, plan: FirePlan) -> str | None:
        """Send one claimed due time; the reason when the broker refused it."""
        assert plan.send is not None
        try:
            self.app.send_task(
                plan.send.task,
                plan.send.args,
                plan.send.kwargs,
                task_id=claim.task_id,
                producer=self.producer,
                **plan.send.options,
            )
        except Exception as exc:
            error = f"could not send {plan.send.task}: {exc}"
            logger.error("celery-ops: schedule %r: %s", plan.name, error)
            return error
        logger.info("Scheduler: Sending due task %s (%s)", plan.name, plan.send.task)
        return None

    def _publishing(self) -> AbstractContextManager[Any]:
        """One broker round trip for a whole round where the transport can (kombu 5.6+
        batches Redis publishes in a pipeline); one per message elsewhere."""
        batch = getattr(self.producer, "batch", None)
        return batch() if batch is not None else nullcontext()

    # Housekeeping

    def _housekeeping(self) -> None:
        self._compute_new_rows()
        self._resend_abandoned_claims()

    def _compute_new_rows(self) -> None:
        """Give a first due time to enabled rows that have none (written by plain SQL)."""
        now = utcnow()
        rows = self.ops.store.schedules.uncomputed(self.batch_size)
        computed, errors = self._schedules.first_due_times(rows, now)
        self.ops.store.schedules.set_next_run(computed)
        if errors:
            self.ops.store.schedules.set_errors({i: (e, None) for i, e in errors.items()})
            for row in rows:
                if row["id"] in errors:
                    self._report_error(row["id"], errors[row["id"]])

    def _resend_abandoned_claims(self) -> None:
        """Send due times whose beat claimed them and died before sending."""
        store = self.ops.store.schedules
        now = utcnow()
        cutoff = now - timedelta(seconds=self.ops.config.beat_claim_timeout)
        for run in store.stale_claims(cutoff, self.batch_size):
            if not store.take_over(run, self.beat_id, now):
                continue
            row = store.get(run["schedule_name"])
            try:
                if row is None:
                    raise ScheduleError(f"schedule {run['schedule_name']!r} was deleted")
                request = send_request(row)
            except ScheduleError as exc:
                store.mark_failed({run["id"]: str(exc)}, {})
                continue
            plan = FirePlan(row["id"], row["name"], None, run["due_at"], request, None, True)
            claim = Claim(run["id"], run["schedule_id"], run["due_at"], run["task_id"])
            logger.warning(
                "celery-ops: sending %s due %s, claimed by %s which never sent it",
                run["schedule_name"],
                run["due_at"].isoformat(),
                run["claimed_by"],
            )
            self._send(store, [claim], _always(plan), now)

    # Helpers

    def _task_exists(self, name: str) -> bool:
        if name in self.app.tasks:
            return True
        if time.monotonic() - self._task_names_at > TASK_NAMES_TTL:
            self._task_names = frozenset(self.ops.store.schedules.known_task_names())
            self._task_names_at = time.monotonic()
        return name in self._task_names

    def _report(self, plans: Sequence[FirePlan]) -> None:
        for plan in plans:
            if plan.error:
                self._report_error(plan.schedule_id, plan.error)
            else:
                self._reported.pop(plan.schedule_id, None)

    def _report_error(self, schedule_id: int, error: str) -> None:
        """Log a row's problem once, not at every due time, until it changes."""
        if self._reported.get(schedule_id) != error:
            self._reported[schedule_id] = error
            logger.error("celery-ops: %s (skipped; the other schedules go on)", error)


def _always(plan: FirePlan) -> Callable[[Claim], FirePlan]:
    return lambda _claim: plan


def _advance(plan: FirePlan, task_id: str | None, now: datetime) -> Advance:
    return Advance(
        schedule_id=plan.schedule_id,
        expected_next_run_at=plan.expected_next_run_at,
        next_run_at=plan.next_run_at,
        enabled=plan.enabled,
        last_error=plan.error,
        fired_task_id=task_id,
        fired_at=now if task_id else None,
    )


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
