"""From a due time to a message: claim it, send it, mark it sent. The one path, for beat's due
times and for an operator's "run now".

A due time is sent by whoever inserted its ``(schedule_id, due_at)`` run first (the claim);
the schedule moves on in the same transaction. A claim not marked sent (the sender died,
the broker refused it) is sent again by a beat once ``ops_beat_claim_timeout`` has passed,
under the same task id.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from celery_ops.core.clock import Clock
from celery_ops.core.records import ScheduleRow, ScheduleRun
from celery_ops.recording.headers import SCHEDULE_HEADER
from celery_ops.scheduling.definition import ScheduleError, SendRequest, send_request
from celery_ops.scheduling.firing import FirePlan
from celery_ops.store.schedules import Advance, Claim, NewRun, ScheduleStore

logger = logging.getLogger("celery_ops.beat")

#: Publishes one message: ``publish(request, task_id)``; the id of the execution that stands
#: for it: ``task_id``, or for a unique task whose key is held, the holder's (nothing sent).
Publish = Callable[[SendRequest, str], str]


@dataclass(frozen=True)
class ManualRun:
    """What an operator's "run now" sent: the id of the execution standing for it, and
    whether that is another one's (a unique task whose key it holds: nothing was sent)."""

    task_id: str
    duplicate: bool = False


@dataclass
class SendReport:
    """What a round of sending did."""

    sent: list[int] = field(default_factory=list)
    #: schedule id -> why its message could not be sent
    failed: dict[int, str] = field(default_factory=dict)
    #: claims left for another beat: this one stalled past half the claim timeout
    left: int = 0
    #: run id -> the execution holding the unique key its task was refused for (sent: none)
    duplicates: dict[int, str] = field(default_factory=dict)


class ScheduleSender:
    """Claims, sends and marks due times; each call names the :class:`ScheduleStore` to use
    (beat binds one connection per tick)."""

    def __init__(
        self,
        publish: Publish,
        claimed_by: str,
        claim_timeout: float,
        clock: Clock,
        publishing: Callable[[], AbstractContextManager[object]] = nullcontext,
    ) -> None:
        self.publish = publish
        self.claimed_by = claimed_by
        self.claim_timeout = claim_timeout
        self.clock = clock
        #: Wraps a round of publishing (one broker round trip where the transport can).
        self.publishing = publishing

    def fire(self, store: ScheduleStore, plans: Sequence[FirePlan], now: datetime) -> SendReport:
        """Claim the due times ``plans`` decided to send, move every schedule on, then send
        the claims this sender won."""
        runs = [
            NewRun(plan.schedule_id, plan.name, plan.due_at, str(uuid.uuid4()))
            for plan in plans
            if plan.send is not None and plan.due_at is not None
        ]
        task_ids = {run.schedule_id: run.task_id for run in runs}
        advances = [_advance(plan, task_ids.get(plan.schedule_id), now) for plan in plans]
        claims = store.claim(runs, advances, self.claimed_by, now)
        by_schedule = {plan.schedule_id: plan for plan in plans}
        requests = {claim.id: _request(by_schedule[claim.schedule_id]) for claim in claims}
        return self._send(store, claims, requests, now)

    def run_now(self, store: ScheduleStore, row: ScheduleRow) -> ManualRun:
        """Send ``row``'s task once now, outside its timing.

        Claimed like any fire (the history shows it, as a ``manual`` run), while the schedule
        itself (timing, run count, last run) stays as it was. A message the broker refuses
        raises :class:`ScheduleError`, and the run keeps the reason (no beat resends it).
        """
        request = send_request(row)
        now = self.clock.now()
        run = NewRun(row.id, row.name, now, str(uuid.uuid4()), origin="manual")
        unchanged = Advance(row.id, row.next_run_at, row.next_run_at, row.enabled, row.last_error)
        claims = store.claim([run], [unchanged], self.claimed_by, now)
        report = self._send(store, claims, {claim.id: request for claim in claims}, now)
        if report.failed:
            error = next(iter(report.failed.values()))
            store.mark_failed({claim.id: error for claim in claims}, {})
            raise ScheduleError(f"schedule {row.name!r}: {error}")
        if report.duplicates:
            return ManualRun(next(iter(report.duplicates.values())), duplicate=True)
        return ManualRun(run.task_id)

    def resend_abandoned(self, store: ScheduleStore, limit: int) -> int:
        """Send claims whose sender died between claim and send; how many were sent."""
        now = self.clock.now()
        cutoff = now - timedelta(seconds=self.claim_timeout)
        sent = 0
        for run in store.stale_claims(cutoff, limit):
            if not store.take_over(run, self.claimed_by, now):
                continue  # another beat took it first
            try:
                row = store.get(run.schedule_name)
                if row is None:
                    raise ScheduleError(f"schedule {run.schedule_name!r} was deleted")
                request = send_request(row)
            except ScheduleError as exc:
                store.mark_failed({run.id: str(exc)}, {})
                continue
            logger.warning(
                "celery-ops: sending %s due %s, claimed by %s which never sent it",
                run.schedule_name,
                run.due_at.isoformat(),
                run.claimed_by,
            )
            claim = _claim_of(run)
            sent += len(self._send(store, [claim], {claim.id: request}, now).sent)
        return sent

    def _send(
        self,
        store: ScheduleStore,
        claims: Sequence[Claim],
        requests: dict[int, SendRequest],
        claimed_at: datetime,
    ) -> SendReport:
        report = SendReport()
        deadline = claimed_at + timedelta(seconds=self.claim_timeout / 2)
        try:
            with self.publishing():
                for index, claim in enumerate(claims):
                    if self.clock.now() > deadline:
                        # Too late to be sure no other beat took this claim over: leave it.
                        report.left = len(claims) - index
                        logger.warning(
                            "celery-ops: beat stalled; leaving %d due time(s) to others",
                            report.left,
                        )
                        break
                    error, standing_for = self._publish(claim, requests[claim.id])
                    if error is None:
                        report.sent.append(claim.id)
                        if standing_for != claim.task_id:
                            report.duplicates[claim.id] = standing_for
                    else:
                        # The claim stays unsent: a later pass sends it once the broker is back.
                        report.failed[claim.schedule_id] = error
        except Exception as exc:
            # The round's messages could not be flushed to the broker: none is known to be
            # sent, so none is marked; a later pass sends them under the same task ids.
            logger.error("celery-ops: could not publish %d due task(s): %s", len(claims), exc)
            report.failed.update({claim.schedule_id: str(exc) for claim in claims})
            report.sent = []
            report.duplicates = {}
        store.mark_sent(report.sent, self.clock.now())
        if report.duplicates:
            # The due time is served by the execution already waiting or running: its run
            # and its schedule point at that one, not at an id nothing was sent under.
            store.mark_duplicates(
                {
                    claim.id: (claim.task_id, report.duplicates[claim.id])
                    for claim in claims
                    if claim.id in report.duplicates
                }
            )
        if report.failed:
            store.mark_failed({}, report.failed)
        return report

    def _publish(self, claim: Claim, request: SendRequest) -> tuple[str | None, str]:
        """Send one claimed due time: the reason when the broker refused it (else None), and
        the id of the execution that stands for it."""
        try:
            standing_for = self.publish(request, claim.task_id)
        except Exception as exc:
            error = f"could not send {request.task}: {exc}"
            logger.error("celery-ops: %s", error)
            return error, claim.task_id
        name = (request.options.get("headers") or {}).get(SCHEDULE_HEADER)
        if standing_for != claim.task_id:
            logger.info(
                "Scheduler: %s (%s) not sent: its unique key is held by %s",
                name,
                request.task,
                standing_for,
            )
        else:
            logger.info("Scheduler: Sending due task %s (%s)", name, request.task)
        return None, standing_for


def _request(plan: FirePlan) -> SendRequest:
    assert plan.send is not None, "only plans that send are claimed"
    return plan.send


def _claim_of(run: ScheduleRun) -> Claim:
    return Claim(run.id, run.schedule_id, run.due_at, run.task_id)


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
