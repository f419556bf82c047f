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
    """The bars of ``timeline`` (in time order); None when nothing waited or ran yet.

    Events are matched by their attempt: the next attempt may start before the retry of the
    one before is written (a worker runs it at once), so runs are kept per attempt.
    """
    bars: list[Bar] = []
    waiting: dict[int, tuple[datetime, str]] = {}  # attempt -> since when, and for what
    running: dict[int, datetime] = {}
    started: set[int] = set()
    attempt = 1
    for entry in timeline:
        at = as_utc(entry.at)
        attempt = _attempt(entry, attempt)
        if entry.event == "published" and not started and not waiting:
            waiting[attempt] = (at, WAITING)
        elif entry.event == "started":
            since = waiting.pop(attempt, None)
            if since is not None:
                bars.append(Bar(attempt, since[1], since[0], max(at, since[0])))
            running[attempt] = at
            started.add(attempt)
        elif entry.event in _ENDS_A_RUN and attempt in running:
            began = running.pop(attempt)
            bars.append(
                Bar(attempt, RUNNING, began, max(at, began), outcome=_ENDS_A_RUN[entry.event])
            )
            if entry.event in _WAITS_AGAIN:
                if attempt + 1 not in started:
                    waiting[attempt + 1] = (at, RETRY_GAP)
                else:
                    # The next attempt began before this retry was written: it waited for
                    # nothing, and the gap between the two is still drawn, empty.
                    bars.append(Bar(attempt + 1, RETRY_GAP, at, at))
        elif entry.event in _ENDS_A_WAIT and attempt in waiting:
            since = waiting.pop(attempt)
            bars.append(Bar(attempt, since[1], since[0], max(at, since[0]), outcome=entry.event))
    now = as_utc(now)
    for ran, began in running.items():
        bars.append(Bar(ran, RUNNING, began, max(now, began), ongoing=True))
    for waits, (waited_since, kind) in waiting.items():
        bars.append(Bar(waits, kind, waited_since, max(now, waited_since), ongoing=True))
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
