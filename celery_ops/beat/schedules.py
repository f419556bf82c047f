"""`Schedules`: the one write path for schedules, used by the CLI, the dashboard and users.

Every change is validated first and saved whole or not at all; a change of timing recomputes
``next_run_at`` so the running beats pick it up on their next look (within
``ops_beat_poll_interval``), without restarting and without reloading anything else.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from celery_ops.beat.definition import (
    Schedule,
    ScheduleError,
    ScheduleSpec,
    send_request,
    to_row,
)
from celery_ops.beat.entries import spec_from_celery_entry
from celery_ops.beat.timing import CRON, INTERVAL, ONCE, TimingError, utcnow
from celery_ops.store.schedules import Advance, DuplicateName, ScheduleStore

if TYPE_CHECKING:
    from celery_ops.extension import CeleryOps

# A one-off time this far behind the clock is a mistake (a time zone, a typo), not a wish.
_PAST = timedelta(seconds=1)

#: The keyword names :meth:`Schedules.update` accepts besides the spec's own fields.
TIMING_SHORTCUTS = ("cron", "every", "at")


class ScheduleNotFound(LookupError):
    """No schedule has this name."""

    def __init__(self, name: str) -> None:
        super().__init__(f"no schedule named {name!r}: see `celery -A proj ops schedules list`")


@dataclass
class SyncReport:
    """What syncing ``beat_schedule`` into the store did."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated or self.removed)

    def __str__(self) -> str:
        return f"{len(self.added)} added, {len(self.updated)} updated, {len(self.removed)} removed"


class Schedules:
    """Create, change, inspect and trigger the schedules of one app's store."""

    def __init__(self, ops: CeleryOps) -> None:
        self._ops = ops

    @property
    def store(self) -> ScheduleStore:
        return self._ops.store.schedules

    @property
    def default_timezone(self) -> str:
        """The app's time zone (``timezone`` setting), used where a row names none."""
        return str(self._ops.app.conf.timezone or "UTC")

    # Reading

    def get(self, name: str) -> Schedule:
        row = self.store.get(name)
        if row is None:
            raise ScheduleNotFound(name)
        return Schedule.from_row(row)

    def exists(self, name: str) -> bool:
        return self.store.get(name) is not None

    def page(self, after_name: str | None = None, limit: int = 100) -> list[Schedule]:
        return [Schedule.from_row(row) for row in self.store.page(after_name, limit)]

    def upcoming(self, name: str, count: int = 5, after: datetime | None = None) -> list[datetime]:
        """The next ``count`` due times of a schedule, whether or not it is enabled."""
        schedule = self.get(name)
        try:
            timing = schedule.timing(self.default_timezone).validate()
        except TimingError as exc:
            raise ScheduleError(f"schedule {name!r}: {exc}") from None
        start = after or utcnow()
        if schedule.kind == INTERVAL and schedule.next_run_at and schedule.next_run_at > start:
            times = [schedule.next_run_at]
            while len(times) < count:
                following = timing.next_due_after(times[-1], times[-1])[1]
                if following is None:
                    break
                times.append(following)
            return times
        return timing.upcoming(start, count)

    def recent_runs(self, name: str, limit: int = 10) -> list[dict[str, Any]]:
        return self.store.recent_runs(self.get(name).id, limit)

    # Writing

    def add(self, name: str, task: str, **definition: Any) -> Schedule:
        """Create a schedule; ``cron=``/``every=``/``at=`` give its timing.

        Other keywords are :class:`ScheduleSpec` fields (``args``, ``kwargs``, ``queue``,
        ``priority``, ``options``, ``timezone``, ``start_at``, ``end_at``, ``max_runs``,
        ``misfire``, ``enabled``, ``description``).
        """
        spec = _apply_changes(ScheduleSpec(name=name, task=task, kind=""), definition)
        self.add_many([spec])
        return self.get(spec.name)

    def add_many(self, specs: Iterable[ScheduleSpec]) -> int:
        """Create many schedules in one transaction; none is saved if one is invalid."""
        now = utcnow()
        valid = [spec.validated() for spec in specs]
        self._check_tasks({spec.task for spec in valid})
        rows = [self._row_for(spec, now, last_run_at=None, created=True) for spec in valid]
        try:
            self.store.insert(rows)
        except DuplicateName as exc:
            names = [spec.name for spec in valid]
            taken = [n for n in names if self.store.get(n) is not None] if len(names) < 50 else []
            detail = f"{', '.join(map(repr, taken))} " if taken else ""
            raise ScheduleError(
                f"a schedule named {detail}already exists: choose another name or use "
                "`schedules update`"
            ) from exc
        return len(rows)

    def update(self, name: str, **changes: Any) -> Schedule:
        """Change the given fields only; the timing is recomputed when anything changes."""
        current = self.get(name)
        spec = _apply_changes(current.spec(), changes).validated()
        self._check_tasks({spec.task})
        if spec.enabled and not current.enabled:
            self._check_can_enable(spec, current)
        row = self._row_for(spec, utcnow(), last_run_at=current.last_run_at, created=False)
        if not self.store.update(name, row):
            raise ScheduleNotFound(name)
        return self.get(spec.name)

    def enable(self, name: str) -> Schedule:
        return self.update(name, enabled=True)

    def disable(self, name: str) -> Schedule:
        return self.update(name, enabled=False)

    def remove(self, name: str) -> None:
        if not self.store.delete(name):
            raise ScheduleNotFound(name)

    def run_now(self, name: str) -> str:
        """Send the schedule's task once now, outside its timing; returns the task id."""
        row = self.store.get(name)
        if row is None:
            raise ScheduleNotFound(name)
        schedule = Schedule.from_row(row)
        request = send_request(row)
        self._check_tasks({request.task})
        task_id = str(uuid.uuid4())
        now = utcnow()
        run = {
            "schedule_id": schedule.id,
            "schedule_name": name,
            "due_at": now,
            "task_id": task_id,
            "origin": "manual",
        }
        # Claimed like any fire, so the history shows it; the schedule itself (timing, run
        # count, last run) is left as it was: a manual run is outside the schedule.
        keep = Advance(
            schedule.id,
            schedule.next_run_at,
            schedule.next_run_at,
            schedule.enabled,
            schedule.last_error,
        )
        claims = self.store.claim([run], [keep], f"manual:{uuid.uuid4().hex[:8]}", now)
        self._ops.app.send_task(
            request.task, request.args, request.kwargs, task_id=task_id, **request.options
        )
        self.store.mark_sent([claim.id for claim in claims], utcnow())
        self._ops.recorder.flush(timeout=2.0)  # so that whoever ran it can open it at once
        return task_id

    def sync_config(self, entries: Mapping[str, Any], source: str = "config") -> SyncReport:
        """Make the rows from ``beat_schedule`` match it: add, redefine, remove.

        Each run's state (last run, next due time, counts) and whether an operator disabled
        the schedule are kept; only the definition follows the configuration.
        """
        report = SyncReport()
        wanted: dict[str, ScheduleSpec] = {}
        for name, entry in entries.items():
            try:
                spec = spec_from_celery_entry(name, entry, source)
                if spec.kind == CRON and spec.timezone is None:
                    spec = replace(spec, timezone=self.default_timezone)
                wanted[name] = spec.validated()
            except ScheduleError as exc:
                report.problems.append(f"beat_schedule entry {name!r} not synced: {exc}")
        existing = {s.name: s for s in self._all(source)}
        for name in sorted(set(existing) - set(wanted)):
            self.store.delete(name)
            report.removed.append(name)
        for name, spec in wanted.items():
            current = existing.get(name) or self._get_or_none(name)
            if current is None:
                self.add_many([spec])
                report.added.append(name)
            elif current.source != source:
                report.problems.append(
                    f"beat_schedule entry {name!r} not synced: a schedule of that name was "
                    f"created by {current.source!r}; rename one of them"
                )
            elif _definition(current.spec()) != _definition(replace(spec, enabled=current.enabled)):
                self.update(name, **_definition(replace(spec, enabled=current.enabled)))
                report.updated.append(name)
        return report

    def first_due_times(
        self, rows: Sequence[dict[str, Any]], now: datetime
    ) -> tuple[list[tuple[int, datetime | None, bool]], dict[int, str]]:
        """First due times of rows saved without one, and the rows that cannot have one."""
        computed: list[tuple[int, datetime | None, bool]] = []
        errors: dict[int, str] = {}
        for row in rows:
            try:
                schedule = Schedule.from_row(row)
                timing = schedule.timing(self.default_timezone).validate()
                first = timing.first_due(now, schedule.last_run_at)
            except (TimingError, TypeError, ValueError) as exc:
                errors[row["id"]] = f"schedule {row['name']!r}: {exc}"
                continue
            computed.append((row["id"], first, first is not None))
        return computed, errors

    # Internals

    def _row_for(
        self, spec: ScheduleSpec, now: datetime, last_run_at: datetime | None, created: bool
    ) -> dict[str, Any]:
        row = to_row(spec)
        if spec.timezone is None and spec.kind == CRON:
            row["timezone"] = self.default_timezone
        first = spec.timing(self.default_timezone).first_due(now, last_run_at)
        row["next_run_at"] = first if spec.enabled else None
        if spec.enabled and spec.kind == ONCE and spec.run_at and spec.run_at < now - _PAST:
            raise ScheduleError(
                f"schedule {spec.name!r}: the time to run at, {spec.run_at.isoformat()}, is "
                "in the past (a time without an offset is UTC)"
            )
        if spec.enabled and first is None:
            raise ScheduleError(
                f"schedule {spec.name!r} has no due time left (its end or its one-off time "
                "is past): change the timing or leave it disabled"
            )
        row["last_error"] = None
        row["updated_at"] = now
        if created:
            row["created_at"] = now
        return row

    def _check_tasks(self, names: set[str]) -> None:
        unknown = names - set(self._ops.app.tasks)
        if unknown:
            unknown -= self.store.known_task_names()
        if unknown:
            raise ScheduleError(
                f"unknown task {', '.join(sorted(unknown))}: not registered in this app nor "
                "seen on any worker (check the name, or start a worker that has it)"
            )

    def _check_can_enable(self, spec: ScheduleSpec, current: Schedule) -> None:
        if spec.max_runs is not None and current.total_runs >= spec.max_runs:
            raise ScheduleError(
                f"schedule {spec.name!r} already ran {current.total_runs} of its "
                f"{spec.max_runs} runs: raise --max-runs to enable it again"
            )

    def _all(self, source: str) -> list[Schedule]:
        found: list[Schedule] = []
        after: str | None = None
        while True:
            page = self.store.page(after, 1000, source=source)
            found.extend(Schedule.from_row(row) for row in page)
            if len(page) < 1000:
                return found
            after = page[-1]["name"]

    def _get_or_none(self, name: str) -> Schedule | None:
        row = self.store.get(name)
        return Schedule.from_row(row) if row is not None else None


def _apply_changes(spec: ScheduleSpec, changes: Mapping[str, Any]) -> ScheduleSpec:
    """``spec`` with ``changes``; ``cron``/``every``/``at`` switch the kind of timing."""
    changes = dict(changes)
    allowed = {f.name for f in fields(ScheduleSpec)} | set(TIMING_SHORTCUTS)
    unknown = sorted(set(changes) - allowed - {"name"})
    if unknown:
        raise ScheduleError(f"unknown schedule field(s): {', '.join(unknown)}")
    given = [key for key in TIMING_SHORTCUTS if changes.get(key) is not None]
    if len(given) > 1:
        raise ScheduleError("give one timing only: a cron expression, an interval or a time")
    if "cron" in given:
        changes.update(kind=CRON, cron_expression=changes.pop("cron"))
    elif "every" in given:
        try:
            seconds = float(changes.pop("every"))
        except (TypeError, ValueError):
            raise ScheduleError("the interval must be a number of seconds") from None
        changes.update(kind=INTERVAL, interval_seconds=seconds)
    elif "at" in given:
        changes.update(kind=ONCE, run_at=changes.pop("at"))
    for key in TIMING_SHORTCUTS:
        changes.pop(key, None)
    if not (changes.get("kind") or spec.kind):
        raise ScheduleError("a schedule needs a timing: --cron, --every or --at")
    return replace(spec, **changes)


def _definition(spec: ScheduleSpec) -> dict[str, Any]:
    values = {f.name: getattr(spec, f.name) for f in fields(ScheduleSpec)}
    values.pop("name")
    values.pop("source")
    return values
