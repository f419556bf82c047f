"""What front ends hand to the door, checked by pydantic: types, ranges, unknown fields.

Values may come from JSON (the API, the assistant interface) or as text (a form, the command
line): a list or an object may also be given as its JSON text, a number or a time as text.
What a value means (a cron expression, a task name) is checked further by the operation.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
)

from celery_ops.core.clock import as_utc, parse_instant
from celery_ops.core.durations import parse_duration
from celery_ops.core.errors import InvalidInput

#: A name (task, queue, time zone): 1 to 255 characters, no control character.
Name = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=1, max_length=255, pattern=r"^[^\x00-\x1f\x7f]*$"
    ),
]
#: How deep arguments may nest: deeper, a worker's serialiser runs out of stack (at ~900).
MAX_DEPTH = 32
#: The longest countdown a dispatch may ask for: ten years, in seconds.
MAX_COUNTDOWN = 10 * 365 * 86_400
#: A message priority, as the brokers take it.
Priority = Annotated[int, Field(ge=0, le=255)]
#: Free text: no NUL.
Text = Annotated[str, StringConstraints(max_length=10_000, pattern=r"^[^\x00]*$")]


def checked_identifier(value: Any, what: str) -> str:
    """An identifier as given in a path or a form (a task id, a worker's name): text of 1 to
    255 characters with no control character, taken as it is; InvalidInput otherwise (never
    a database error)."""
    if (
        not isinstance(value, str)
        or not 0 < len(value) <= 255
        or any(ord(c) < 32 or ord(c) == 127 for c in value)
    ):
        raise InvalidInput(f"{value!r:.80} is not {what}")
    return value


def _empty_as_none(value: Any) -> Any:
    return None if isinstance(value, str) and not value.strip() else value


def _json_of(kind: type, example: str) -> BeforeValidator:
    """A list or an object, given as itself or as its JSON text."""

    def parse(value: Any) -> Any:
        value = _empty_as_none(value)
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError as exc:
                raise ValueError(f"is not valid JSON: {exc}") from None
        if isinstance(value, tuple) and kind is list:
            value = list(value)
        if value is not None and not isinstance(value, kind):
            raise ValueError(f"must be a JSON {example}")
        if value is not None:
            checked_json(value)
        return value

    return BeforeValidator(parse)


def _instant(value: Any) -> Any:
    value = _empty_as_none(value)
    if isinstance(value, str):
        try:
            return parse_instant(value)
        except ValueError as exc:
            raise ValueError(str(exc).split(" ", 1)[1]) from None  # the field is named already
    if isinstance(value, datetime):
        try:
            return as_utc(value)
        except OverflowError:  # year 1 at +14:00 is before the first representable instant
            raise ValueError(f"{value.isoformat()} is out of the range of dates") from None
    return value


def checked_json(value: Any, depth: int = 0) -> None:
    """Refuse what a worker could not take: nesting deeper than :data:`MAX_DEPTH`, numbers
    that are not finite, text that is not valid Unicode or holds a NUL."""
    if depth > MAX_DEPTH:
        raise ValueError(f"nests deeper than {MAX_DEPTH} levels")
    if isinstance(value, dict):
        for key, item in value.items():
            _checked_text(key)
            checked_json(item, depth + 1)
    elif isinstance(value, list | tuple):
        for item in value:
            checked_json(item, depth + 1)
    elif isinstance(value, str):
        _checked_text(value)
    elif isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"holds {value}, which is not a number JSON can carry")


def _checked_text(text: Any) -> None:
    if not isinstance(text, str):
        raise ValueError(f"has a key that is not text: {text!r:.40}")
    if "\x00" in text:
        raise ValueError("holds a NUL character")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("holds text that is not valid Unicode (a lone surrogate)") from None


Optional = BeforeValidator(_empty_as_none)
#: A point in time: ISO 8601 text (UTC unless it says) or a datetime.
Instant = Annotated[datetime | None, BeforeValidator(_instant)]
JsonList = Annotated[list[Any] | None, _json_of(list, "list, e.g. [1, 2]")]
JsonObject = Annotated[dict[str, Any] | None, _json_of(dict, 'object, e.g. {"x": 1}')]


class Request(BaseModel):
    """Unknown fields are refused; NaN and infinities are not numbers."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, frozen=True)


class DispatchRequest(Request):
    task: Name
    args: JsonList | None = None
    kwargs: JsonObject | None = None
    queue: Annotated[Name | None, Optional] = None
    countdown: Annotated[
        Annotated[float, Field(ge=0, le=MAX_COUNTDOWN, description="seconds")] | None, Optional
    ] = None
    eta: Instant = None
    priority: Annotated[Priority | None, Optional] = None


class ScheduleChanges(Request):
    """A schedule's definition, or the part of it to change (fields not given stay)."""

    name: Annotated[Name | None, Optional] = None
    task: Annotated[Name | None, Optional] = None
    cron: Annotated[Text | None, Optional] = None
    every: Annotated[
        float | None,
        Optional,
        Field(description="interval in seconds, from 0.1 to 10 years (checked by the schedule)"),
    ] = None
    at: Instant = None
    timezone: Annotated[Name | None, Optional] = None
    args: JsonList | None = None
    kwargs: JsonObject | None = None
    options: JsonObject | None = None
    queue: Annotated[Name | None, Optional] = None
    priority: Annotated[int | None, Optional] = None
    enabled: bool | None = None
    max_runs: Annotated[int | None, Optional] = None
    misfire: Annotated[Name | None, Optional] = None
    description: Annotated[Text | None, Optional] = None
    start_at: Instant = None
    end_at: Instant = None


class Selection(Request):
    """Which executions a bulk operation applies to: these ids, what a filter matches, or
    (for a purge) those whose last change is ``older_than`` a duration, of some ``status``."""

    task_ids: list[Name] | None = Field(default=None, max_length=100_000)
    filter: dict[str, Any] | None = None
    older_than: str | float | None = None
    status: str | list[str] | None = None


_RATE = re.compile(r"\d{1,9}(\.\d{1,6})?(/[smh])?")


def _rate(value: Any) -> Any:
    value = _empty_as_none(value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)
    if value is not None and not (isinstance(value, str) and _RATE.fullmatch(value.strip())):
        raise ValueError(f"{value!r:.40} is not a rate: write 10/m, 0.5/s or 100 (per second)")
    return value.strip() if isinstance(value, str) else value


#: Most processes a pool may grow or shrink by, or an autoscaler may run, at once.
MAX_PROCESSES = 10_000
Processes = Annotated[int, Field(ge=1, le=MAX_PROCESSES)]
#: A limit in seconds: up to ten years.
Seconds = Annotated[float, Field(ge=0, le=MAX_COUNTDOWN)]
#: Workers to address: one hostname or a list; none means every worker.
Destination = Annotated[Name | list[Name] | None, Optional]


class PoolChange(Request):
    """Grow or shrink a worker's pool by ``n`` processes: exactly one of the two."""

    grow: Processes | None = None
    shrink: Processes | None = None

    def by(self) -> int:
        """Processes to add (negative: to remove)."""
        if (self.grow is None) == (self.shrink is None):
            raise InvalidInput('give either "grow" or "shrink", a number of processes')
        return self.grow if self.grow is not None else -(self.shrink or 0)


class AutoscaleRequest(Request):
    max: Processes
    min: Annotated[int, Field(ge=0, le=MAX_PROCESSES)] = 0

    def checked(self) -> AutoscaleRequest:
        if self.min > self.max:
            raise InvalidInput(f"min ({self.min}) must not be above max ({self.max})")
        return self


class QueueRequest(Request):
    queue: Name


class RateLimitRequest(Request):
    """A task type's rate limit on the workers: "10/m", "0.5/s", "100" (per second), or
    null (or "") to lift it."""

    rate: Annotated[str | None, BeforeValidator(_rate)]
    destination: Destination = None


class TimeLimitRequest(Request):
    """A task type's soft and hard time limits on the workers, in seconds (null: none)."""

    soft: Annotated[Seconds | None, Optional] = None
    hard: Annotated[Seconds | None, Optional] = None
    destination: Destination = None

    def checked(self) -> TimeLimitRequest:
        if self.soft is not None and self.hard is not None and self.soft > self.hard:
            raise InvalidInput(f"soft ({self.soft}) must not be above hard ({self.hard})")
        return self


def _step(value: Any) -> Any:
    value = _empty_as_none(value)
    if value is None:
        return "1m"
    seconds = parse_duration(value, numbers_are_seconds=False)
    if seconds % 60:
        raise ValueError(f"{value!r:.40} is not a whole number of minutes (e.g. 1m, 1h, 1d)")
    return str(value).strip().lower()


class MetricsRequest(Request):
    """Which rollups to read: a task name and a queue (none: all), a period (default: the
    last hour, or the last 60 steps), and the step of the series (``1m``, ``1h``, ``1d``)."""

    task: Annotated[Name | None, Optional] = None
    queue: Annotated[Name | None, Optional] = None
    since: Instant = None
    until: Instant = None
    step: Annotated[str, BeforeValidator(_step)] = "1m"

    @property
    def step_seconds(self) -> float:
        return parse_duration(self.step, numbers_are_seconds=False)


class UserChanges(Request):
    role: Annotated[Literal["viewer", "operator", "admin"] | None, Optional] = None
    active: bool | None = None


R = TypeVar("R", bound=Request)


def parse(model: type[R], values: Mapping[str, Any]) -> R:
    """``values`` checked against ``model``, or :class:`InvalidInput` saying what is wrong."""
    if not isinstance(values, Mapping):
        raise InvalidInput("expected a JSON object")
    try:
        return model.model_validate(dict(values))
    except ValidationError as exc:
        raise InvalidInput(describe(exc)) from None


def describe(exc: ValidationError) -> str:
    """A validation error as one line: each field and what is wrong with it."""
    problems = []
    for error in exc.errors(include_url=False):
        where = ".".join(str(part) for part in error["loc"]) or "the request"
        message = str(error["msg"])
        if error["type"] == "extra_forbidden":
            message = "unknown field"
        elif error["type"] == "string_pattern_mismatch":
            message = "contains a NUL character or another control character"
        elif error["type"] == "value_error":
            message = message.removeprefix("Value error, ")
        problems.append(f"{where}: {message}")
    return "; ".join(problems)
