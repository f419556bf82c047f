"""Schedules: the one write path, for the CLI, the dashboard, the API and users' code.

Every change is validated first and saved whole or not at all, with its audit row in the
same transaction; a change of timing recomputes ``next_run_at`` so the running beats pick it
up on their next look (within ``ops_beat_poll_interval``), without restarting.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import datetime, timedelta
from typing import Any

from celery_ops.core.clock import as_utc
from celery_ops.core.errors import InvalidInput, Unavailable
from celery_ops.core.records import AuditEntry, ScheduleRow, ScheduleRun
from celery_ops.operations.actors import OPERATOR, VIEWER
from celery_ops.operations.audit import PARTIAL
from celery_ops.operations.errors import store_errors
from celery_ops.operations.requests import ScheduleChanges, parse
from celery_ops.operations.services import OperationGroup
from celery_ops.scheduling.definition import (
    Schedule,
    ScheduleError,
    ScheduleNotFound,
    ScheduleSpec,
    check_new_name,
    to_row,
)
from celery_ops.scheduling.entries import read_redbeat, spec_from_celery_entry
from celery_ops.scheduling.firing import UNREADABLE_TIMING
from celery_ops.scheduling.timing import CRON, INTERVAL, ONCE
from celery_ops.store import Duplicate, NotFound
from celery_ops.store.schedules import ScheduleStore

# A one-off time this far behind the clock is a mistake (a time zone, a typo), not a wish.
_PAST = timedelta(seconds=1)

#: The keyword names :meth:`ScheduleOperations.update` accepts besides the spec's own fields.
TIMING_SHORTCUTS = ("cron", "every", "at")


@dataclass
class ImportReport:
    """What importing schedules from elsewhere did."""

    imported: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)


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


class ScheduleOperations(OperationGroup):
    """Create, change, inspect and trigger the schedules of one app's store."""

    @property
    def _store(self) -> ScheduleStore:
        return self._services.store.schedules

    @property
    def default_timezone(self) -> str:
        """The app's time zone (``timezone`` setting), used where a row names none."""
        return self._services.broker.default_timezone

    # Reading (viewer)

    def get(self, name: str) -> Schedule:
        self._require(VIEWER)
        return Schedule.from_row(self._row(name))

    def exists(self, name: str) -> bool:
        self._require(VIEWER)
        with store_errors():
            return self._store.get(name) is not None

    def page(self, after_name: str | None = None, limit: int = 100) -> list[Schedule]:
        """Schedules by name, ``limit`` at a time after ``after_name``."""
        self._require(VIEWER)
        with store_errors():
            return [Schedule.from_row(row) for row in self._store.page(after_name, limit)]

    def all(self) -> Iterator[Schedule]:
        """Every schedule, by name."""
        after: str | None = None
        while True:
            page = self.page(after, 500)
            yield from page
            if len(page) < 500:
                return
            after = page[-1].name

    def upcoming(self, name: str, count: int = 5, after: datetime | None = None) -> list[datetime]:
        """The next ``count`` due times of a schedule, whether or not it is enabled."""
        schedule = self.get(name)
        start = after or self._services.clock.now()
        try:
            timing = schedule.timing(self.default_timezone).validate()
            if schedule.kind == INTERVAL and schedule.next_run_at and schedule.next_run_at > start:
                times = [schedule.next_run_at]
                while len(times) < count:
                    following = timing.next_due_after(times[-1], times[-1])[1]
                    if following is None:
                        break
                    times.append(following)
                return times
            return timing.upcoming(start, count)
        except UNREADABLE_TIMING as exc:  # a row written by plain SQL may hold anything
            raise ScheduleError(f"schedule {name!r}: {exc}") from None

    def preview(self, name: str, definition: Mapping[str, Any], count: int = 5) -> list[datetime]:
        """The next due times of a definition not saved yet (a form's "check" button)."""
        self._require(VIEWER)
        spec = _apply_changes(
            ScheduleSpec(name=name or "preview", task="-", kind=""), _changes(definition)
        )
        spec = spec.validated()
        timezone = spec.timezone or self.default_timezone
        return spec.timing(timezone).upcoming(self._services.clock.now(), count)

    def recent_runs(self, name: str, limit: int = 10) -> list[ScheduleRun]:
        schedule_id = self.get(name).id
        with store_errors():
            return self._store.recent_runs(schedule_id, limit)

    # Writing (operator)

    def add(self, name: str, task: str, **definition: Any) -> Schedule:
        """Create a schedule; ``cron=``/``every=``/``at=`` give its timing.

        Other keywords are :class:`ScheduleSpec` fields (``args``, ``kwargs``, ``queue``,
        ``priority``, ``options``, ``timezone``, ``start_at``, ``end_at``, ``max_runs``,
        ``misfire``, ``enabled``, ``description``), as values or as text.
        """
        with self._operation("schedule-create", {"name": name}, OPERATOR) as audited:
            name = check_new_name(name)
            changes = _changes({"task": task, **definition})
            spec = _apply_changes(ScheduleSpec(name=name, task=task, kind=""), changes)
            self._insert([spec], audited.commit)
        return self.get(spec.validated().name)

    def add_many(self, specs: Iterable[ScheduleSpec]) -> int:
        """Create many schedules in one transaction; none is saved if one is invalid."""
        specs = list(specs)
        names = [spec.name for spec in specs]
        targets = {"names": names[:50], "count": len(names)}
        with self._operation("schedule-create", targets, OPERATOR) as audited:
            specs = [replace(spec, name=check_new_name(spec.name)) for spec in specs]
            return self._insert(specs, audited.commit)

    def update(self, name: str, /, **changes: Any) -> Schedule:
        """Change the given fields only; the timing is recomputed when anything changes.
        ``name=`` renames the schedule."""
        with self._operation("schedule-update", {"name": name}, OPERATOR) as audited:
            current = Schedule.from_row(self._row(name))
            given = _changes(changes)
            audited.targets["changed"] = sorted(given)
            if given.get("name") is not None:
                given["name"] = check_new_name(given["name"])
            spec = _apply_changes(current.spec(), given).validated()
            if spec.name != name:
                audited.targets["renamed_to"] = spec.name
            self._check_tasks({spec.task})
            if spec.enabled and not current.enabled:
                _check_can_enable(spec, current)
            row = self._row_for(spec, last_run_at=current.last_run_at, created=False)
            try:
                audited.commit(lambda entry: self._store.update(name, row, entry))
            except Duplicate:
                raise ScheduleError(
                    f"a schedule named {spec.name!r} already exists: choose another name"
                ) from None
            except NotFound:
                raise ScheduleNotFound(name) from None
        return self.get(spec.name)

    def enable(self, name: str) -> Schedule:
        return self._switch(name, True)

    def disable(self, name: str) -> Schedule:
        return self._switch(name, False)

    def remove(self, name: str) -> None:
        """Delete a schedule (its run history stays)."""
        with self._operation("schedule-delete", {"name": name}, OPERATOR) as audited:
            try:
                audited.commit(lambda entry: self._store.delete(name, entry))
            except NotFound:
                raise ScheduleNotFound(name) from None

    def run_now(self, name: str) -> str:
        """Send the schedule's task once now, outside its timing, through beat's own claim,
        send and mark path; the task id (for a unique task whose key another execution
        holds, that execution's: nothing is sent)."""
        with self._operation("schedule-run", {"name": name}, OPERATOR) as audited:
            row = self._row(name)
            self._check_tasks({row.task})
            sent = self._services.sender.run_now(self._store, row)
            # A unique task whose key is held sends nothing: the one holding it stands for it.
            audited.targets["duplicate_of" if sent.duplicate else "created"] = sent.task_id
            self._services.settle()
            return sent.task_id

    def sync_config(self, entries: Mapping[str, Any], source: str = "config") -> SyncReport:
        """Make the rows from ``beat_schedule`` match it: add, redefine, remove.

        Each run's state (last run, next due time, counts) and whether an operator disabled
        the schedule are kept; only the definition follows the configuration. Audited as one
        row when anything changed or could not be synced.
        """
        report = SyncReport()
        with self._operation("schedule-sync", {"source": source}, OPERATOR) as audited:
            wanted: dict[str, ScheduleSpec] = {}
            for name, entry in entries.items():
                try:
                    spec = spec_from_celery_entry(name, entry, source)
                    if spec.kind == CRON and spec.timezone is None:
                        spec = replace(spec, timezone=self.default_timezone)
                    wanted[name] = spec.validated()
                except ScheduleError as exc:
                    report.problems.append(f"beat_schedule entry {name!r} not synced: {exc}")
            existing = {row.name: Schedule.from_row(row) for row in self._rows(source)}
            for name in sorted(set(existing) - set(wanted)):
                self._store.delete(name)
                report.removed.append(name)
            for name, spec in wanted.items():
                try:
                    self._sync_one(name, spec, existing.get(name), source, report)
                except ScheduleError as exc:
                    report.problems.append(f"beat_schedule entry {name!r} not synced: {exc}")
            audited.targets.update(
                added=report.added, updated=report.updated, removed=report.removed
            )
            if report.problems:
                audited.outcome, audited.detail = PARTIAL, "; ".join(report.problems)
            elif not report.changed:
                audited.nothing_happened()
        return report

    def import_redbeat(
        self, redis_url: str, key_prefix: str = "redbeat:", replace_existing: bool = False
    ) -> ImportReport:
        """Copy celery-redbeat's entries from Redis into schedules (redbeat is left as it
        was); an existing name is skipped, or replaced with ``replace_existing``."""
        report = ImportReport()
        targets = {"source": "redbeat", "redis": redact(redis_url), "prefix": key_prefix}
        with self._operation("schedule-import", targets, OPERATOR) as audited:
            try:
                specs = list(read_redbeat(redis_url, key_prefix))
            except ScheduleError:
                raise
            except Exception as exc:
                raise Unavailable(
                    f"could not read redbeat entries from {redact(redis_url)}: "
                    f"{type(exc).__name__}: {exc}"
                ) from None
            for spec in specs:
                try:
                    valid = replace(spec, name=check_new_name(spec.name)).validated()
                    if self._store.get(valid.name) is not None:
                        if not replace_existing:
                            report.skipped.append(valid.name)
                            continue
                        self._store.delete(valid.name)
                    self._check_tasks({valid.task})
                    self._store.insert([self._row_for(valid, None, created=True)])
                    report.imported.append(valid.name)
                except ScheduleError as exc:
                    report.refused.append(f"{spec.name}: {exc}")
            audited.targets.update(
                imported=len(report.imported),
                skipped=len(report.skipped),
                refused=len(report.refused),
            )
            if report.refused:
                audited.outcome = PARTIAL if report.imported else "failed"
                audited.detail = "; ".join(report.refused[:5])
        return report

    # Internals

    def _sync_one(
        self,
        name: str,
        spec: ScheduleSpec,
        current: Schedule | None,
        source: str,
        report: SyncReport,
    ) -> None:
        current = current or self._schedule_or_none(name)
        if current is None:
            check_new_name(name)
            self._check_tasks({spec.task})
            self._store.insert([self._row_for(spec, None, created=True)])
            report.added.append(name)
        elif current.source != source:
            report.problems.append(
                f"beat_schedule entry {name!r} not synced: a schedule of that name was "
                f"created by {current.source!r}; rename one of them"
            )
        else:
            wanted = _definition(replace(spec, enabled=current.enabled))
            if _definition(current.spec()) != wanted:
                self._check_tasks({spec.task})
                changed = _apply_changes(current.spec(), wanted).validated()
                self._store.update(name, self._row_for(changed, current.last_run_at, False))
                report.updated.append(name)

    def _row(self, name: str) -> ScheduleRow:
        if not isinstance(name, str) or not 0 < len(name) <= 255 or "\x00" in name:
            raise ScheduleNotFound(str(name)[:80])  # no schedule can have such a name
        with store_errors():
            row = self._store.get(name)
        if row is None:
            raise ScheduleNotFound(name)
        return row

    def _schedule_or_none(self, name: str) -> Schedule | None:
        row = self._store.get(name)
        return Schedule.from_row(row) if row is not None else None

    def _rows(self, source: str) -> list[ScheduleRow]:
        found: list[ScheduleRow] = []
        after: str | None = None
        while True:
            page = self._store.page(after, 1000, source=source)
            found.extend(page)
            if len(page) < 1000:
                return found
            after = page[-1].name

    def _switch(self, name: str, enabled: bool) -> Schedule:
        action = "schedule-enable" if enabled else "schedule-disable"
        with self._operation(action, {"name": name}, OPERATOR) as audited:
            current = Schedule.from_row(self._row(name))
            spec = replace(current.spec(), enabled=enabled).validated()
            if enabled and not current.enabled:
                _check_can_enable(spec, current)
            row = self._row_for(spec, last_run_at=current.last_run_at, created=False)
            try:
                audited.commit(lambda entry: self._store.update(name, row, entry))
            except NotFound:
                raise ScheduleNotFound(name) from None
        return self.get(name)

    def _insert(
        self, specs: Sequence[ScheduleSpec], commit: Callable[[Callable[[AuditEntry], None]], None]
    ) -> int:
        valid = [spec.validated() for spec in specs]
        self._check_tasks({spec.task for spec in valid})
        rows = [self._row_for(spec, last_run_at=None, created=True) for spec in valid]
        try:
            commit(lambda entry: self._store.insert(rows, entry))
        except Duplicate:
            names = [spec.name for spec in valid]
            taken = [n for n in names if self._store.get(n) is not None] if len(names) < 50 else []
            detail = f"{', '.join(map(repr, taken))} " if taken else ""
            raise ScheduleError(
                f"a schedule named {detail}already exists: choose another name or use "
                "`schedules update`"
            ) from None
        return len(rows)

    def _row_for(
        self, spec: ScheduleSpec, last_run_at: datetime | None, created: bool
    ) -> dict[str, Any]:
        now = self._services.clock.now()
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
        unknown = {name for name in names if not self._services.broker.knows_task(name)}
        if unknown:
            with store_errors():
                unknown -= self._services.store.known_task_names()
        if unknown:
            raise ScheduleError(
                f"unknown task {', '.join(sorted(unknown))}: not registered in this app nor "
                "seen on any worker (check the name, or start a worker that has it)"
            )


def redact(url: str) -> str:
    """A URL without its password, for messages and the audit log."""
    return re.sub(r"(//[^:@/]*):[^@/]*@", r"\1:***@", url)


def _changes(values: Mapping[str, Any]) -> dict[str, Any]:
    """Keyword changes checked for their types (text from a form or the command line is
    read here), with the fields the caller did not give left out."""
    unknown = sorted(set(values) - set(ScheduleChanges.model_fields) - _SPEC_FIELDS)
    if unknown:
        raise ScheduleError(f"unknown schedule field(s): {', '.join(unknown)}")
    typed = {key: value for key, value in values.items() if key in ScheduleChanges.model_fields}
    try:
        checked = parse(ScheduleChanges, typed).model_dump(exclude_unset=True)
    except InvalidInput as exc:
        # A schedule's own error, so that callers catching ScheduleError see every refusal.
        raise ScheduleError(str(exc)) from None
    return {**{k: v for k, v in values.items() if k not in typed}, **checked}


#: ScheduleSpec fields also accepted as they are (the spec's own names for its timing).
_SPEC_FIELDS = frozenset({"kind", "cron_expression", "interval_seconds", "run_at", "source"})


def _apply_changes(spec: ScheduleSpec, changes: Mapping[str, Any]) -> ScheduleSpec:
    """``spec`` with ``changes``; ``cron``/``every``/``at`` switch the kind of timing."""
    changes = dict(changes)
    given = [key for key in TIMING_SHORTCUTS if changes.get(key) is not None]
    if len(given) > 1:
        raise ScheduleError("give one timing only: a cron expression, an interval or a time")
    if "cron" in given:
        changes.update(kind=CRON, cron_expression=changes.pop("cron"))
    elif "every" in given:
        changes.update(kind=INTERVAL, interval_seconds=float(changes.pop("every")))
    elif "at" in given:
        changes.update(kind=ONCE, run_at=as_utc(changes.pop("at")))
    for key in TIMING_SHORTCUTS:
        changes.pop(key, None)
    for key in ("start_at", "end_at"):
        if isinstance(changes.get(key), datetime):
            changes[key] = as_utc(changes[key])
    for key, empty in (("args", []), ("kwargs", {}), ("options", {})):
        if key in changes and changes[key] is None:
            changes[key] = empty
    if "enabled" in changes and changes["enabled"] is None:
        changes.pop("enabled")
    if "misfire" in changes and changes["misfire"] is None:
        changes.pop("misfire")
    if not (changes.get("kind") or spec.kind):
        raise ScheduleError("a schedule needs a timing: --cron, --every or --at")
    return replace(spec, **changes)


def _definition(spec: ScheduleSpec) -> dict[str, Any]:
    values = {f.name: getattr(spec, f.name) for f in fields(ScheduleSpec)}
    values.pop("name")
    values.pop("source")
    return values


def _check_can_enable(spec: ScheduleSpec, current: Schedule) -> None:
    if spec.max_runs is not None and current.total_runs >= spec.max_runs:
        raise ScheduleError(
            f"schedule {spec.name!r} already ran {current.total_runs} of its "
            f"{spec.max_runs} runs: raise --max-runs to enable it again"
        )
