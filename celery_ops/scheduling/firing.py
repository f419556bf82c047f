"""What to do with a due schedule row: pure decisions, separate from the beat loop's I/O."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from celery_ops.core.records import ScheduleRow
from celery_ops.scheduling.definition import ScheduleError, SendRequest, send_request, timing_of
from celery_ops.scheduling.timing import MISFIRE_SKIP, ONCE, TimingError

#: What a row written by plain SQL can make the timing arithmetic raise: such a row is
#: parked with the reason, and every other row keeps firing.
UNREADABLE_TIMING = (TimingError, TypeError, ValueError, ArithmeticError)


@dataclass(frozen=True, slots=True)
class FirePlan:
    """One due row, decided: fire ``due_at`` (when ``send`` is set), then move to
    ``next_run_at``; ``enabled`` False once nothing is left to fire."""

    schedule_id: int
    name: str
    expected_next_run_at: datetime | None
    due_at: datetime | None
    send: SendRequest | None
    next_run_at: datetime | None
    enabled: bool
    error: str | None = None


def plan_fire(
    row: ScheduleRow,
    now: datetime,
    default_timezone: str,
    misfire_grace: float,
    task_exists: Callable[[str], bool],
) -> FirePlan:
    """Decide what happens to ``row``, found due (its ``next_run_at`` is at or before now)."""
    schedule_id, name, due = row.id, row.name, row.next_run_at
    assert due is not None, "plan_fire takes rows found due"
    try:
        timing = timing_of(row, default_timezone).validate()
        fire_at, following = timing.next_due_after(due, now)
    except UNREADABLE_TIMING as exc:
        # Nothing can be computed: park the row (next_run_at NULL) until someone edits it.
        return FirePlan(schedule_id, name, due, None, None, None, True, _explain(name, exc))

    max_runs, total_runs = row.max_runs, row.total_runs or 0
    if max_runs is not None and total_runs >= max_runs:
        return FirePlan(schedule_id, name, due, None, None, None, False)
    if timing.end_at is not None and fire_at > timing.end_at:
        return FirePlan(schedule_id, name, due, None, None, None, False)
    if row.misfire == MISFIRE_SKIP and (now - fire_at).total_seconds() > misfire_grace:
        return FirePlan(schedule_id, name, due, None, None, following, following is not None)

    try:
        request = send_request(row)
        if not task_exists(request.task):
            raise ScheduleError(
                f"schedule {name!r}: task {request.task!r} is not registered in this app "
                "nor seen on any worker"
            )
    except ScheduleError as exc:
        # Skip this due time but keep the schedule going: the next one may work (a worker
        # that registers the task is deployed, the row is fixed).
        return FirePlan(schedule_id, name, due, None, None, following, True, str(exc))

    runs_after = total_runs + 1
    finished = (
        timing.kind == ONCE
        or following is None
        or (max_runs is not None and runs_after >= max_runs)
    )
    return FirePlan(
        schedule_id,
        name,
        due,
        fire_at,
        request,
        None if finished else following,
        not finished,
    )


def first_due_times(
    rows: Sequence[ScheduleRow], now: datetime, default_timezone: str
) -> tuple[list[tuple[int, datetime | None, bool]], dict[int, str]]:
    """First due times of rows saved without one (written by plain SQL), as (id, due time,
    enabled), and the rows that cannot have one, with the reason."""
    computed: list[tuple[int, datetime | None, bool]] = []
    errors: dict[int, str] = {}
    for row in rows:
        try:
            timing = timing_of(row, default_timezone).validate()
            first = timing.first_due(now, row.last_run_at)
        except UNREADABLE_TIMING as exc:
            errors[row.id] = _explain(row.name, exc)
            continue
        computed.append((row.id, first, first is not None))
    return computed, errors


def _explain(name: str, exc: BaseException) -> str:
    message = str(exc)
    prefix = f"schedule {name!r}: "
    return message if message.startswith(prefix) else prefix + message
