"""Alerts in the store: raised once per rule, key and window, claimed by one sender at a time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, delete, insert, or_, select, update

from celery_ops.core.clock import to_storage
from celery_ops.core.lifecycle import FAILURE
from celery_ops.core.records import Execution
from celery_ops.store.errors import Duplicate, translated
from celery_ops.store.models import alert_occurrences, alerts, execution_record, executions

PENDING, SENT, FAILED = "pending", "sent", "failed"


@dataclass(frozen=True)
class AlertRecord:
    id: int
    rule: str
    kind: str
    alert_key: str
    window_start: datetime
    first_at: datetime
    last_at: datetime
    held: int
    subject: str
    body: str
    status: str
    attempts: int
    next_attempt_at: datetime
    claimed_until: datetime | None
    sent_at: datetime | None
    last_error: str | None
    delivered_to: str | None

    @property
    def destinations_done(self) -> set[int]:
        """Positions of the rule's destinations that took it."""
        return {int(part) for part in (self.delivered_to or "").split(",") if part.isdigit()}


@dataclass(frozen=True)
class Raised:
    """An occurrence to record: a new alert, or one more held back in its window."""

    rule: str
    kind: str
    alert_key: str
    window_start: datetime
    at: datetime
    subject: str
    body: str
    #: Counted again when the alert of its window exists already (a failure is; a condition
    #: still holding is not).
    counts_again: bool


class AlertStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def raise_(self, raised: Raised) -> bool:
        """Record ``raised``; True when it made a new alert (to send), False when its
        window had one (counted as held back if it counts again)."""
        row = {
            "rule": raised.rule,
            "kind": raised.kind,
            "alert_key": raised.alert_key[:255],
            "window_start": raised.window_start,
            "first_at": raised.at,
            "last_at": raised.at,
            "held": 0,
            "subject": raised.subject,
            "body": raised.body,
            "status": PENDING,
            "attempts": 0,
            "next_attempt_at": raised.at,
        }
        try:
            with translated(duplicate="alert raised already"), self.engine.begin() as connection:
                connection.execute(insert(alerts).values(**row))
            return True
        except Duplicate:
            pass
        if raised.counts_again:
            self.hold(raised.rule, raised.alert_key, raised.window_start, 1, raised.at)
        return False

    def hold(self, rule: str, key: str, window: datetime, count: int, at: datetime) -> None:
        """Count ``count`` more occurrences held back by the alert of ``window``."""
        a = alerts.c
        with translated(), self.engine.begin() as connection:
            connection.execute(
                update(alerts)
                .where(
                    a.rule == rule,
                    a.alert_key == key[:255],
                    a.window_start == to_storage(window),
                )
                .values(held=a.held + count, last_at=at)
            )

    def due(self, now: datetime, limit: int = 50) -> list[AlertRecord]:
        """Pending alerts whose next attempt has come and that no sender holds."""
        a = alerts.c
        query = (
            select(alerts)
            .where(
                a.status == PENDING,
                a.next_attempt_at <= to_storage(now),
                or_(a.claimed_until.is_(None), a.claimed_until < to_storage(now)),
            )
            .order_by(a.next_attempt_at)
            .limit(limit)
        )
        with translated(), self.engine.connect() as connection:
            return [AlertRecord(**row._mapping) for row in connection.execute(query)]

    def claim(self, alert_id: int, now: datetime, until: datetime) -> bool:
        """Hold ``alert_id`` to send it until ``until``; False when another sender holds it
        or it is no longer pending."""
        a = alerts.c
        with translated(), self.engine.begin() as connection:
            result = connection.execute(
                update(alerts)
                .where(
                    a.id == alert_id,
                    a.status == PENDING,
                    or_(a.claimed_until.is_(None), a.claimed_until < to_storage(now)),
                )
                .values(claimed_until=until)
            )
            return bool(result.rowcount)

    def delivered(self, alert_id: int, at: datetime, done: set[int]) -> None:
        """Every destination took it (``done``: their positions)."""
        with translated(), self.engine.begin() as connection:
            connection.execute(
                update(alerts)
                .where(alerts.c.id == alert_id)
                .values(
                    status=SENT,
                    sent_at=at,
                    attempts=alerts.c.attempts + 1,
                    claimed_until=None,
                    last_error=None,
                    delivered_to=_positions(done),
                )
            )

    def failed(
        self, alert_id: int, error: str, retry_at: datetime | None, done: set[int] | None = None
    ) -> None:
        """A failed attempt (``done``: the destinations that took it all the same): tried
        again at ``retry_at``, or given up (None)."""
        with translated(), self.engine.begin() as connection:
            values: dict[str, Any] = {
                "attempts": alerts.c.attempts + 1,
                "claimed_until": None,
                "last_error": error[:2000],
                "delivered_to": _positions(done or set()),
            }
            if retry_at is None:
                values["status"] = FAILED
            else:
                values["next_attempt_at"] = retry_at
            connection.execute(update(alerts).where(alerts.c.id == alert_id).values(**values))

    def recent(self, limit: int = 100) -> list[AlertRecord]:
        """The latest alerts, newest first."""
        query = select(alerts).order_by(alerts.c.id.desc()).limit(limit)
        with translated(), self.engine.connect() as connection:
            return [AlertRecord(**row._mapping) for row in connection.execute(query)]

    def uncounted_failures(
        self,
        rule: str,
        since: datetime,
        until: datetime,
        limit: int,
        task_name: str | None = None,
        queue: str | None = None,
    ) -> list[Execution]:
        """FAILURE executions (of ``task_name``, in ``queue``) that failed in (since, until]
        and ``rule`` has not counted, oldest first."""
        e, o = executions.c, alert_occurrences.c
        counted = select(o.task_id).where(o.rule == rule, o.task_id == e.task_id).exists()
        conditions = [
            e.status == FAILURE,
            e.status_at > to_storage(since),
            e.status_at <= to_storage(until),
            ~counted,
        ]
        if task_name is not None:
            conditions.append(e.task_name == task_name)
        if queue is not None:
            conditions.append(e.queue == queue)
        query = select(*execution_record).where(*conditions).order_by(e.status_at).limit(limit)
        with translated(), self.engine.connect() as connection:
            return [Execution(**row._mapping) for row in connection.execute(query)]

    def new_occurrences(self, rule: str, task_ids: list[str], now: datetime) -> set[str]:
        """Which of ``task_ids`` ``rule`` has not counted yet, now counted; an id another
        evaluator counts at the same time is left to it."""
        if not task_ids:
            return set()
        o = alert_occurrences.c
        with translated(), self.engine.connect() as connection:
            seen: set[str] = set(
                connection.execute(
                    select(o.task_id).where(o.rule == rule, o.task_id.in_(task_ids))
                ).scalars()
            )
        fresh = set()
        for task_id in task_ids:
            if task_id in seen:
                continue
            try:
                with translated(duplicate="counted already"), self.engine.begin() as connection:
                    connection.execute(
                        insert(alert_occurrences).values(rule=rule, task_id=task_id, seen_at=now)
                    )
                fresh.add(task_id)
            except Duplicate:
                continue
        return fresh

    def forget_before(self, before: datetime) -> int:
        """Delete the alerts first seen before ``before`` that are no longer pending."""
        a = alerts.c
        with translated(), self.engine.begin() as connection:
            old = (a.first_at < to_storage(before)) & (a.status != PENDING)
            return int(connection.execute(delete(alerts).where(old)).rowcount or 0)

    def forget_occurrences(self, before: datetime) -> int:
        """Occurrences seen before ``before``, past any look-back, are not needed any more."""
        with translated(), self.engine.begin() as connection:
            old = alert_occurrences.c.seen_at < to_storage(before)
            return int(connection.execute(delete(alert_occurrences).where(old)).rowcount or 0)


def _positions(done: set[int]) -> str:
    return ",".join(str(position) for position in sorted(done))
