"""An execution's timeline as a waterfall: per attempt, how long it waited, ran, and waited
again before its retry, as bars on one time axis."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from celery_ops.core.clock import as_utc
from celery_ops.core.records import TimelineEntry

WAITING = "waiting"
RUNNING = "running"
RETRY_GAP = "retry gap"

#: Timeline events that end a run, and the outcome each bar shows.
_ENDS_A_RUN = {
    "succeeded": "succeeded",
    "failed": "failed",
    "internal-error": "failed",
    "retried": "retried",
    "ignored": "ignored",
    "revoked": "revoked",
    "rejected": "rejected",
}
#: Timeline events after which the task waits again (for its next attempt).
_WAITS_AGAIN = frozenset({"retried"})
#: Timeline events that end the execution whether it started or not.
_ENDS_A_WAIT = frozenset({"revoked", "rejected"})


@dataclass(frozen=True, slots=True)
class Bar:
    attempt: int
    kind: str
    start: datetime
    end: datetime
    #: Still going (drawn up to now).
    ongoing: bool = False
    #: How the run ended (succeeded, failed, retried...); None for a wait.
    outcome: str | None = None

    @property
    def milliseconds(self) -> float:
        return (self.end - self.start).total_seconds() * 1000.0


@dataclass(frozen=True, slots=True)
class Waterfall:
    bars: tuple[Bar, ...]
    start: datetime
    end: datetime

    @property
    def attempts(self) -> list[int]:
        return sorted({bar.attempt for bar in self.bars})

    def of_attempt(self, attempt: int) -> list[Bar]:
        return [bar for bar in self.bars if bar.attempt == attempt]

    def place(self, bar: Bar) -> tuple[float, float]:
        """Where ``bar`` sits on the axis: left edge and width, as percentages."""
        span = (self.end - self.start).total_seconds() or 1.0
        left = (bar.start - self.start).total_seconds() / span * 100.0
        width = (bar.end - bar.start).total_seconds() / span * 100.0
        return round(left, 3), round(max(width, 0.4), 3)


def waterfall(timeline: list[TimelineEntry], now: datetime) -> Waterfall | None:
    """The bars of ``timeline`` (in time order); None when nothing waited or ran yet."""
    bars: list[Bar] = []
    ready: tuple[datetime, str] | None = None  # since when it waits, and for what
    running: tuple[datetime, int] | None = None
    attempt = 1
    for entry in timeline:
        at = as_utc(entry.at)
        attempt = _attempt(entry, attempt)
        if entry.event == "published" and ready is None and running is None:
            ready = (at, WAITING)
        elif entry.event == "started":
            if ready is not None:
                bars.append(Bar(attempt, ready[1], ready[0], max(at, ready[0])))
            ready, running = None, (at, attempt)
        elif entry.event in _ENDS_A_RUN and running is not None:
            began, ran = running
            bars.append(Bar(ran, RUNNING, began, max(at, began), outcome=_ENDS_A_RUN[entry.event]))
            running = None
            if entry.event in _WAITS_AGAIN:
                ready, attempt = (at, RETRY_GAP), ran + 1
        elif entry.event in _ENDS_A_WAIT and ready is not None:
            bars.append(Bar(attempt, ready[1], ready[0], max(at, ready[0]), outcome=entry.event))
            ready = None
    now = as_utc(now)
    if running is not None:
        began, ran = running
        bars.append(Bar(ran, RUNNING, began, max(now, began), ongoing=True))
    elif ready is not None:
        bars.append(Bar(attempt, ready[1], ready[0], max(now, ready[0]), ongoing=True))
    if not bars:
        return None
    return Waterfall(tuple(bars), min(bar.start for bar in bars), max(bar.end for bar in bars))


def _attempt(entry: TimelineEntry, current: int) -> int:
    if not entry.details:
        return current
    try:
        details = json.loads(entry.details)
    except ValueError:
        return current
    attempt = details.get("attempt") if isinstance(details, dict) else None
    return attempt if isinstance(attempt, int) and 0 < attempt < 10_000 else current
