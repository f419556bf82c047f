"""A schedule as users define it, how it is checked, and what it sends when it fires."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields, replace
from datetime import datetime
from typing import Any

from celery_ops.core.clock import as_utc, parse_instant
from celery_ops.core.errors import InvalidInput, NotFound
from celery_ops.core.records import ScheduleRow
from celery_ops.recording.headers import SCHEDULE_HEADER
from celery_ops.scheduling.timing import (
    CRON,
    INTERVAL,
    MISFIRE_ONCE,
    MISFIRE_POLICIES,
    ONCE,
    Timing,
    TimingError,
    check_cron,
    zone,
)

#: apply_async options a schedule may carry in ``options``; the rest are the row's own
#: columns (queue, priority) or belong to the fire itself (task id, arguments, eta).
SENDABLE_OPTIONS = frozenset(
    {
        "expires",
        "headers",
        "countdown",
        "exchange",
        "routing_key",
        "time_limit",
        "soft_time_limit",
        "serializer",
        "compression",
        "ignore_result",
        "retry",
        "retry_policy",
        "shadow",
    }
)


#: The most runs a schedule may be limited to (the column is a 32-bit integer).
MAX_RUNS = 2**31 - 1
#: The longest name of a new schedule (rows written earlier may have up to 255 characters).
MAX_NAME_CHARS = 200


class ScheduleError(InvalidInput):
    """A schedule definition celery-ops cannot save or fire; the message says what to fix."""


class ScheduleNotFound(NotFound):
    """No schedule has this name."""

    def __init__(self, name: str) -> None:
        super().__init__(f"no schedule named {name!r}: see `celery -A proj ops schedules list`")


@dataclass(frozen=True)
class ScheduleSpec:
    """Everything that defines a schedule; the run state lives in :class:`Schedule`.

    Exactly one timing per kind: ``cron_expression`` (with ``timezone``) for ``cron``,
    ``interval_seconds`` for ``interval``, ``run_at`` for ``once``.
    """

    name: str
    task: str
    kind: str
    cron_expression: str | None = None
    timezone: str | None = None
    interval_seconds: float | None = None
    run_at: datetime | None = None
    args: list[Any] = field(default_factory=list)
    kwargs: dict[str, Any] = field(default_factory=dict)
    queue: str | None = None
    priority: int | None = None
    options: dict[str, Any] = field(default_factory=dict)
    enabled: bool = True
    start_at: datetime | None = None
    end_at: datetime | None = None
    max_runs: int | None = None
    misfire: str = MISFIRE_ONCE
    description: str | None = None
    source: str = "user"

    def timing(self, default_timezone: str = "UTC") -> Timing:
        return Timing(
            kind=self.kind,
            cron_expression=self.cron_expression,
            timezone=self.timezone or default_timezone,
            interval_seconds=self.interval_seconds,
            run_at=self.run_at,
            start_at=self.start_at,
            end_at=self.end_at,
        )

    def validated(self) -> ScheduleSpec:
        """This spec, normalised, or a :class:`ScheduleError` naming the first problem."""
        name = (self.name or "").strip()
        if not name or len(name) > 255:
            raise ScheduleError("a schedule needs a name of 1 to 255 characters")
        if not self.task or len(self.task) > 255:
            raise ScheduleError(f"schedule {name!r}: a task name of 1 to 255 characters needed")
        if self.misfire not in MISFIRE_POLICIES:
            raise ScheduleError(
                f"schedule {name!r}: misfire must be one of {', '.join(MISFIRE_POLICIES)}"
            )
        if self.max_runs is not None and not (
            isinstance(self.max_runs, int) and 1 <= self.max_runs <= MAX_RUNS
        ):
            raise ScheduleError(
                f"schedule {name!r}: max runs must be at least 1 and at most {MAX_RUNS}"
            )
        if self.priority is not None and not 0 <= self.priority <= 255:
            raise ScheduleError(f"schedule {name!r}: priority must be between 0 and 255")
        try:
            run_at, start_at, end_at = (
                _aware(self.run_at) if self.kind == ONCE else None,
                _aware(self.start_at),
                _aware(self.end_at),
            )
        except (OverflowError, TypeError, AttributeError):
            raise ScheduleError(f"schedule {name!r}: a time is out of the range of dates") from None
        spec = replace(
            self,
            name=name,
            cron_expression=_checked_cron(self.cron_expression) if self.kind == CRON else None,
            interval_seconds=self.interval_seconds if self.kind == INTERVAL else None,
            run_at=run_at,
            start_at=start_at,
            end_at=end_at,
            args=_json_list(self.args, name),
            kwargs=_json_dict(self.kwargs, "kwargs", name),
            options=_checked_options(self.options, name),
        )
        if spec.timezone is not None:
            try:
                zone(spec.timezone)
            except TimingError as exc:
                raise ScheduleError(f"schedule {name!r}: {exc}") from None
        try:
            spec.timing().validate()
        except TimingError as exc:
            raise ScheduleError(f"schedule {name!r}: {exc}") from None
        return spec


@dataclass(frozen=True)
class Schedule(ScheduleSpec):
    """A saved schedule: its definition and where it stands."""

    id: int = 0
    total_runs: int = 0
    last_run_at: datetime | None = None
    next_run_at: datetime | None = None
    last_task_id: str | None = None
    last_error: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @classmethod
    def from_row(cls, row: ScheduleRow) -> Schedule:
        """Read a row leniently: a row written by plain SQL may hold anything."""
        values = {f.name: getattr(row, f.name) for f in fields(cls)}
        values["args"] = _loads_or_raw(row.args, [])
        values["kwargs"] = _loads_or_raw(row.kwargs, {})
        values["options"] = _loads_or_raw(row.options, {})
        values["misfire"] = row.misfire or MISFIRE_ONCE
        values["enabled"] = bool(row.enabled)
        return cls(**values)

    def spec(self) -> ScheduleSpec:
        names = {f.name for f in fields(ScheduleSpec)}
        return ScheduleSpec(**{name: getattr(self, name) for name in names})

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: datetimes as ISO 8601 text."""
        return {f.name: _iso(getattr(self, f.name)) for f in fields(self) if f.name != "source"} | {
            "source": self.source
        }


def check_new_name(name: str) -> str:
    """The name of a schedule being created or renamed, stripped: 1 to 200 printable
    characters (spaces and slashes are fine: ``beat_schedule`` keys have them)."""
    stripped = (name or "").strip() if isinstance(name, str) else ""
    if not stripped or len(stripped) > MAX_NAME_CHARS or not stripped.isprintable():
        raise ScheduleError(
            f"a schedule's name has 1 to {MAX_NAME_CHARS} printable characters (no control "
            f"character), got {name!r:.80}"
        )
    return stripped


def timing_of(row: ScheduleRow, default_timezone: str) -> Timing:
    """The timing of a stored row, read without decoding the rest of it (beat's hot path)."""
    return Timing(
        kind=row.kind,
        cron_expression=row.cron_expression,
        timezone=row.timezone or default_timezone,
        interval_seconds=row.interval_seconds,
        run_at=row.run_at,
        start_at=row.start_at,
        end_at=row.end_at,
    )


def to_row(spec: ScheduleSpec) -> dict[str, Any]:
    """The definition columns of ``spec`` (already validated)."""
    return {
        "name": spec.name,
        "task": spec.task,
        "kind": spec.kind,
        "cron_expression": spec.cron_expression,
        "timezone": spec.timezone,
        "interval_seconds": spec.interval_seconds,
        "run_at": spec.run_at,
        "args": json.dumps(spec.args, ensure_ascii=False),
        "kwargs": json.dumps(spec.kwargs, ensure_ascii=False),
        "queue": spec.queue,
        "priority": spec.priority,
        "options": json.dumps(spec.options, ensure_ascii=False),
        "enabled": spec.enabled,
        "start_at": spec.start_at,
        "end_at": spec.end_at,
        "max_runs": spec.max_runs,
        "misfire": spec.misfire,
        "description": spec.description,
        "source": spec.source,
    }


@dataclass(frozen=True, slots=True)
class SendRequest:
    """What one fire of a schedule sends: ``app.send_task(task, args, kwargs, **options)``."""

    task: str
    args: list[Any]
    kwargs: dict[str, Any]
    options: dict[str, Any]


def send_request(row: ScheduleRow) -> SendRequest:
    """Decode a stored row into the message it sends, or :class:`ScheduleError` saying why
    it cannot be sent (rows may have been written by plain SQL)."""
    name = row.name
    args = _decode(row.args, [], "args", name)
    kwargs = _decode(row.kwargs, {}, "kwargs", name)
    options = _decode(row.options, {}, "options", name)
    if not isinstance(args, list):
        raise ScheduleError(f"schedule {name!r}: args must be a JSON list, got {args!r:.80}")
    if not isinstance(kwargs, dict):
        raise ScheduleError(f"schedule {name!r}: kwargs must be a JSON object")
    options = _checked_options(options, name)
    headers = dict(options.pop("headers", None) or {})
    headers[SCHEDULE_HEADER] = name
    options["headers"] = headers
    if row.queue:
        options["queue"] = row.queue
    if row.priority is not None:
        options["priority"] = row.priority
    expires = options.get("expires")
    if isinstance(expires, str):
        try:
            options["expires"] = parse_instant(expires, "expires")
        except ValueError as exc:
            raise ScheduleError(f"schedule {name!r}: {exc}") from None
    return SendRequest(task=row.task, args=args, kwargs=kwargs, options=options)


# Internals


def _checked_cron(expression: str | None) -> str | None:
    if expression is None:
        return None
    try:
        return check_cron(expression)
    except TimingError as exc:
        raise ScheduleError(str(exc)) from None


def _aware(value: datetime | None) -> datetime | None:
    return None if value is None else as_utc(value)


def _json_list(value: Any, name: str) -> list[Any]:
    if isinstance(value, tuple):
        value = list(value)
    if not isinstance(value, list):
        raise ScheduleError(f"schedule {name!r}: args must be a list")
    _ensure_json(value, "args", name)
    return value


def _json_dict(value: Any, what: str, name: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ScheduleError(f"schedule {name!r}: {what} must be a mapping")
    _ensure_json(value, what, name)
    return value


def _ensure_json(value: Any, what: str, name: str) -> None:
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ScheduleError(f"schedule {name!r}: {what} must be JSON-serialisable: {exc}") from None


def _checked_options(options: Any, name: str) -> dict[str, Any]:
    options = _json_dict(dict(options or {}), "options", name)
    unknown = sorted(set(options) - SENDABLE_OPTIONS)
    if unknown:
        raise ScheduleError(
            f"schedule {name!r}: unsupported option(s) {', '.join(unknown)}; "
            f"allowed: {', '.join(sorted(SENDABLE_OPTIONS))}"
        )
    if "headers" in options and not isinstance(options["headers"], dict):
        raise ScheduleError(f"schedule {name!r}: options.headers must be a mapping")
    checked: dict[str, Any] = options
    return checked


def _decode(text: Any, empty: Any, what: str, name: str) -> Any:
    if text is None or text == "":
        return empty
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        raise ScheduleError(f"schedule {name!r}: {what} is not valid JSON: {text!r:.80}") from None


def _loads_or_raw(text: Any, empty: Any) -> Any:
    if text is None or text == "":
        return empty
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        return text


def _iso(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value
