"""The one clock: what time it is, how a user's time is read, how a time is stored.

Every moment celery-ops handles is an aware UTC datetime, except in two places: the recorder's
events carry ``time.time()`` floats (cheap on the task's path), and the store keeps naive UTC
(what every backend binds without a conversion). The conversions between the three live here.

Code that decides by the time (retention, the reaper, beat, purge) takes a :class:`Clock`, so
that tests move the time instead of sleeping past it.
"""

from __future__ import annotations

import functools
import re
import time
from datetime import datetime, timedelta, timezone
from typing import Any


class Clock:
    """The system clock. Tests pass a :class:`FixedClock` (or move time with time-machine)."""

    def now(self) -> datetime:
        """Now, as an aware UTC datetime."""
        return datetime.now(timezone.utc)

    def timestamp(self) -> float:
        """Now, as seconds since the epoch."""
        return time.time()


class FixedClock(Clock):
    """A clock that stands still until moved."""

    def __init__(self, now: datetime) -> None:
        self._now = as_utc(now)

    def now(self) -> datetime:
        return self._now

    def timestamp(self) -> float:
        return self._now.timestamp()

    def advance(self, seconds: float) -> None:
        self._now += timedelta(seconds=seconds)


SYSTEM_CLOCK = Clock()

#: A time of day, a space, and an offset: the "+" of the offset became a space in a URL.
_SPACED_OFFSET = re.compile(r"(\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?) (\d{2}:?\d{2})$")


def utcnow() -> datetime:
    """Now, aware UTC, from the system clock."""
    return datetime.now(timezone.utc)


def as_utc(moment: datetime) -> datetime:
    """``moment`` as aware UTC; a naive datetime is taken to be UTC already."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def parse_instant(text: str, what: str = "time") -> datetime:
    """An ISO 8601 time written by a user, as aware UTC; without an offset it is UTC.

    A positive offset whose ``+`` a query string turned into a space (``...T09:00 01:00``) is
    read as the offset it was. Raises ValueError with a sentence naming ``what`` and showing
    a valid example.
    """
    cleaned = _SPACED_OFFSET.sub(r"\1+\2", str(text).strip()).replace("Z", "+00:00")
    try:
        return as_utc(datetime.fromisoformat(cleaned))
    except OverflowError:
        raise ValueError(f"{what} {text!r} is out of the range of dates") from None
    except ValueError:
        raise ValueError(
            f"{what} {text!r} is not an ISO 8601 time such as 2026-12-01T09:30:00+01:00"
        ) from None


def from_timestamp(seconds: float) -> datetime:
    """Seconds since the epoch as aware UTC."""
    return datetime.fromtimestamp(seconds, timezone.utc)


def to_instant(value: Any) -> datetime | None:
    """Timestamps, ISO 8601 text (as Celery writes ``eta`` headers) and datetimes, as aware
    UTC; None and "" stay None. Anything else is a TypeError, unreadable text a ValueError."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise TypeError(f"not a point in time: {value!r}")
    if isinstance(value, int | float):
        return from_timestamp(float(value))
    if isinstance(value, str):
        return parse_instant(value)
    if isinstance(value, datetime):
        return as_utc(value)
    raise TypeError(f"not a point in time: {value!r}")


# Storage: naive UTC.

_EPOCH = datetime(1970, 1, 1)


def to_storage(moment: datetime) -> datetime:
    """``moment`` as the store keeps it: naive UTC."""
    if moment.tzinfo is None:
        return moment
    return moment.astimezone(timezone.utc).replace(tzinfo=None)


# Cached: a batch holds each moment several times (an event's time is also its row's
# started_at or completed_at, and the row's status_at), and a hit costs a tenth of converting.
@functools.lru_cache(maxsize=256)
def storage_from_timestamp(seconds: float) -> datetime:
    """A timestamp as the store keeps it, without building an aware datetime first."""
    return _EPOCH + timedelta(seconds=seconds)


def from_storage(moment: datetime) -> datetime:
    """A stored (naive UTC) time as aware UTC."""
    return moment.replace(tzinfo=timezone.utc)
