"""When a schedule is due: pure arithmetic on aware UTC datetimes, testable with a fixed clock.

Cron expressions are evaluated on the wall clock of the schedule's time zone and then mapped
to UTC instants. Around a daylight-saving change that gives the rule documented in
docs/scheduling.md:

* a wall time that does not exist (the hour skipped in spring) fires once, shifted forward by
  the size of the gap (02:30 becomes 03:30); when that lands on an instant the expression
  names anyway, the two are one fire;
* a wall time that exists twice (the hour repeated in autumn) fires once, at its first
  occurrence.

Intervals are counted in elapsed seconds and ignore time zones entirely.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterError, croniter

#: Kinds of schedule; the values are stored in ``celery_ops_schedules.kind``.
CRON, INTERVAL, ONCE = "cron", "interval", "once"
KINDS = (CRON, INTERVAL, ONCE)

#: What to do with due times that passed while no beat was running.
MISFIRE_ONCE, MISFIRE_SKIP = "once", "skip"
MISFIRE_POLICIES = (MISFIRE_ONCE, MISFIRE_SKIP)

#: The shortest and longest interval, in seconds: ten fires a second at most, and ten years.
MIN_INTERVAL = 0.1
MAX_INTERVAL = 3653 * 86_400.0
#: The instants a schedule may name (start, end, one-off time): far enough from the ends of
#: what a datetime holds that no time zone or interval arithmetic can overflow.
EARLIEST = datetime(1970, 1, 1, tzinfo=timezone.utc)
LATEST = datetime(9000, 1, 1, tzinfo=timezone.utc)

# A cron expression that names no instant for this long (e.g. 30 February) is treated as
# never firing again instead of searching forever.
_CRON_HORIZON = timedelta(days=366 * 5)


class TimingError(ValueError):
    """A schedule's timing cannot be evaluated; the message says which part and why."""


def zone(name: str) -> ZoneInfo:
    """The IANA time zone ``name``, or a :class:`TimingError` saying it does not exist."""
    try:
        if len(name) > 255:
            raise ValueError("too long")
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError, OSError):
        raise TimingError(
            f"unknown time zone {name!r}: use an IANA name such as 'Europe/Rome' or 'UTC'"
        ) from None


def check_cron(expression: str) -> str:
    """``expression`` normalised, or a :class:`TimingError` naming what is wrong with it."""
    normalised = " ".join(str(expression).split())
    if len(normalised) > 255:
        raise TimingError("invalid cron expression: longer than 255 characters")
    fields = normalised.split(" ")
    if not normalised.startswith("@") and len(fields) not in (5, 6):
        raise TimingError(
            f"invalid cron expression {expression!r}: expected 5 fields "
            "(minute hour day-of-month month day-of-week) and an optional 6th for seconds, "
            f"got {len(fields)}"
        )
    if not croniter.is_valid(normalised):
        raise TimingError(
            f"invalid cron expression {expression!r}: a field is out of range or malformed"
        )
    return normalised


@dataclass(frozen=True, slots=True)
class Timing:
    """The timing part of a schedule: enough to compute every due time it has."""

    kind: str
    cron_expression: str | None = None
    timezone: str = "UTC"
    interval_seconds: float | None = None
    run_at: datetime | None = None
    start_at: datetime | None = None
    end_at: datetime | None = None

    def validate(self) -> Timing:
        """Raise :class:`TimingError` unless every due time can be computed."""
        if self.kind == CRON:
            if not self.cron_expression:
                raise TimingError("a cron schedule needs a cron expression")
            check_cron(self.cron_expression)
            zone(self.timezone)
        elif self.kind == INTERVAL:
            seconds = self.interval_seconds
            if (
                isinstance(seconds, bool)
                or not isinstance(seconds, int | float)
                or not MIN_INTERVAL <= seconds <= MAX_INTERVAL
            ):
                raise TimingError(
                    f"an interval must be a number of seconds above 0, from {MIN_INTERVAL:g} "
                    f"to {MAX_INTERVAL:.0f} (10 years), got {seconds!r}"
                )
        elif self.kind == ONCE:
            if self.run_at is None:
                raise TimingError("a one-off schedule needs the time to run at")
        else:
            raise TimingError(f"unknown schedule kind {self.kind!r}: use one of {KINDS}")
        for what, moment in (("time to run at", self.run_at), ("start", self.start_at),
                             ("end", self.end_at)):  # fmt: skip
            if moment is not None and not (
                isinstance(moment, datetime)
                and moment.tzinfo is not None
                and EARLIEST <= moment <= LATEST
            ):
                raise TimingError(
                    f"the {what} must be a time between {EARLIEST.year} and {LATEST.year}, "
                    f"got {moment!r}"
                )
        if self.start_at and self.end_at and self.end_at <= self.start_at:
            raise TimingError("the end must come after the start")
        return self

    def first_due(self, now: datetime, last_run_at: datetime | None = None) -> datetime | None:
        """The first due time of a definition created or changed at ``now``.

        An interval keeps its phase from the last run when there was one (so shortening it
        takes effect at once) and otherwise fires immediately, as Celery's beat does.
        """
        if self.kind == ONCE:
            return self._bounded(self.run_at)
        if self.kind == INTERVAL:
            candidate = now
            if last_run_at is not None:
                candidate = max(now, last_run_at + self._interval())
            if self.start_at is not None and self.start_at > candidate:
                candidate = self.start_at
            return self._bounded(candidate)
        after = max(now, self.start_at - _TICK) if self.start_at is not None else now
        return self._bounded(self._next_cron(after))

    def next_due_after(self, due: datetime, now: datetime) -> tuple[datetime, datetime | None]:
        """For a due time ``due`` reached at ``now``: the time to fire now and the next one.

        When several due times passed (no beat ran, or it fell behind), the one returned for
        firing is the latest of them; the caller's misfire policy decides whether it fires.
        """
        if self.kind == ONCE:
            return due, None
        horizon = min(now, self.end_at) if self.end_at is not None else now
        if self.kind == INTERVAL:
            step = self._interval()
            latest = due + step * max(0, int((horizon - due) / step))
            following = latest + step
            while following <= now:  # float rounding at the boundary
                following += step
            return latest, self._bounded(following)
        following_due = self._next_cron(due)
        if following_due is None or following_due > now:
            return due, self._bounded(following_due)
        latest = self._previous_cron(horizon) or due
        return max(latest, due), self._bounded(self._next_cron(now))

    def upcoming(self, after: datetime, count: int) -> list[datetime]:
        """The next ``count`` due times strictly after ``after`` (fewer if the schedule ends)."""
        times: list[datetime] = []
        current = self.first_due(after + _TICK)
        while current is not None and len(times) < count:
            times.append(current)
            if self.kind == ONCE:
                break
            current = self.next_due_after(current, current)[1]
        return times

    # Internals

    def _interval(self) -> timedelta:
        assert self.interval_seconds is not None
        return timedelta(seconds=self.interval_seconds)

    def _bounded(self, when: datetime | None) -> datetime | None:
        if when is None or (self.end_at is not None and when > self.end_at):
            return None
        return when

    def _next_cron(self, after: datetime) -> datetime | None:
        for candidate in self._cron_instants(after, forward=True):
            if candidate > after:
                return candidate
        return None

    def _previous_cron(self, at: datetime) -> datetime | None:
        for candidate in self._cron_instants(at, forward=False):
            if candidate <= at:
                return candidate
        return None

    def _cron_instants(self, start: datetime, forward: bool) -> Iterator[datetime]:
        """UTC instants of the expression's wall-clock times, walking from ``start``."""
        assert self.cron_expression is not None
        tz = zone(self.timezone)
        wall = start.astimezone(tz).replace(tzinfo=None)
        if _near_offset_change(tz, start):
            # Wall times in a skipped or repeated hour lie up to an hour on the other side
            # of ``start``'s wall time: begin the walk before them.
            wall += -_DST_MARGIN if forward else _DST_MARGIN
        walker = croniter(self.cron_expression, wall)
        limit = start + _CRON_HORIZON if forward else start - _CRON_HORIZON
        while True:
            try:
                local = walker.get_next(datetime) if forward else walker.get_prev(datetime)
            except (CroniterError, ValueError, OverflowError):
                return  # names no date at all (e.g. 30 February)
            instant = to_instant(local, tz)
            if (forward and instant > limit) or (not forward and instant < limit):
                return
            yield instant


def _near_offset_change(tz: ZoneInfo, instant: datetime) -> bool:
    before = (instant - _DST_MARGIN).astimezone(tz).utcoffset()
    after = (instant + _DST_MARGIN).astimezone(tz).utcoffset()
    return before != after


def to_instant(wall: datetime, tz: ZoneInfo) -> datetime:
    """The UTC instant of a naive wall-clock time in ``tz``: first occurrence of a repeated
    time, and a skipped time shifted forward by the gap (zoneinfo's ``fold=0`` mapping)."""
    return wall.replace(tzinfo=tz, fold=0).astimezone(timezone.utc)


_TICK = timedelta(microseconds=1)
_DST_MARGIN = timedelta(hours=2)
