"""When schedules are due, with a fixed clock: cron in a time zone, intervals, DST changes."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest

from celery_ops.scheduling.timing import Timing, TimingError, check_cron

UTC = timezone.utc
ROME = ZoneInfo("Europe/Rome")
NEW_YORK = ZoneInfo("America/New_York")


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def local(tz: ZoneInfo, *parts: int, fold: int = 0) -> datetime:
    return datetime(*parts, tzinfo=tz, fold=fold).astimezone(UTC)


def walk(timing: Timing, start: datetime, until: datetime) -> list[datetime]:
    """Every due time from ``start`` to ``until`` (both included), as beat would fire them."""
    fired: list[datetime] = []
    due = timing.first_due(start - timedelta(microseconds=1))
    while due is not None and due <= until:
        fired.append(due)
        due = timing.next_due_after(due, due)[1]
    return fired


class TestCronExpressions:
    def test_five_fields_are_minute_hour_day_month_weekday(self) -> None:
        timing = Timing("cron", "30 9 * * 1-5", "UTC")
        # 2026-11-21 is a Saturday: the next weekday 09:30 is Monday the 23rd.
        assert timing.upcoming(utc(2026, 11, 21, 12, 0), 2) == [
            utc(2026, 11, 23, 9, 30),
            utc(2026, 11, 24, 9, 30),
        ]

    def test_a_sixth_field_counts_seconds(self) -> None:
        timing = Timing("cron", "* * * * * */20", "UTC")
        assert timing.upcoming(utc(2026, 1, 1, 0, 0, 5), 3) == [
            utc(2026, 1, 1, 0, 0, 20),
            utc(2026, 1, 1, 0, 0, 40),
            utc(2026, 1, 1, 0, 1, 0),
        ]

    def test_the_time_zone_of_the_row_decides_the_wall_clock(self) -> None:
        timing = Timing("cron", "0 9 * * *", "America/New_York")
        assert timing.upcoming(utc(2026, 7, 1), 1) == [local(NEW_YORK, 2026, 7, 1, 9, 0)]

    @pytest.mark.parametrize(
        ("expression", "problem"),
        [
            ("61 * * * *", "out of range"),
            ("* * * *", "expected 5 fields"),
            ("* * * * * * *", "expected 5 fields"),
            ("every day", "expected 5 fields"),
            ("*/0 * * * *", "out of range or malformed"),
        ],
    )
    def test_invalid_expressions_are_refused_with_the_reason(
        self, expression: str, problem: str
    ) -> None:
        with pytest.raises(TimingError, match=problem):
            check_cron(expression)

    def test_an_unknown_time_zone_is_refused(self) -> None:
        with pytest.raises(TimingError, match="unknown time zone 'Mars/Olympus'"):
            Timing("cron", "* * * * *", "Mars/Olympus").validate()

    def test_an_expression_naming_no_date_never_fires(self) -> None:
        assert Timing("cron", "0 0 30 2 *", "UTC").upcoming(utc(2026, 1, 1), 3) == []


class TestDaylightSavingInRome:
    """Europe/Rome: 2026-03-29 02:00 -> 03:00, 2026-10-25 03:00 -> 02:00."""

    def test_a_time_skipped_in_spring_fires_once_an_hour_later(self) -> None:
        timing = Timing("cron", "30 2 * * *", "Europe/Rome")
        fired = walk(timing, utc(2026, 3, 27), utc(2026, 3, 31))
        assert [f.astimezone(ROME).strftime("%d %H:%M %Z") for f in fired] == [
            "27 02:30 CET",
            "28 02:30 CET",
            "29 03:30 CEST",
            "30 02:30 CEST",
        ]

    def test_a_time_repeated_in_autumn_fires_once_at_its_first_occurrence(self) -> None:
        timing = Timing("cron", "30 2 * * *", "Europe/Rome")
        fired = walk(timing, utc(2026, 10, 24), utc(2026, 10, 26, 12))
        assert fired == [
            local(ROME, 2026, 10, 24, 2, 30),
            local(ROME, 2026, 10, 25, 2, 30, fold=0),
            local(ROME, 2026, 10, 26, 2, 30),
        ]

    def test_every_half_hour_across_the_spring_change_has_no_duplicate(self) -> None:
        timing = Timing("cron", "*/30 * * * *", "Europe/Rome")
        fired = walk(timing, utc(2026, 3, 29, 0, 0), utc(2026, 3, 29, 2, 0))
        # 02:00 and 02:30 do not exist: they are the same instants as 03:00 and 03:30.
        assert [f.astimezone(ROME).strftime("%H:%M") for f in fired] == [
            "01:00",
            "01:30",
            "03:00",
            "03:30",
            "04:00",
        ]
        assert len(set(fired)) == len(fired)

    def test_every_half_hour_across_the_autumn_change_skips_the_repeated_hour(self) -> None:
        timing = Timing("cron", "*/30 * * * *", "Europe/Rome")
        fired = walk(timing, utc(2026, 10, 24, 23, 0), utc(2026, 10, 25, 2, 0))
        assert [(f.astimezone(ROME).strftime("%H:%M %Z")) for f in fired] == [
            "01:00 CEST",
            "01:30 CEST",
            "02:00 CEST",
            "02:30 CEST",
            "03:00 CET",
        ]

    def test_intervals_count_elapsed_time_whatever_the_clock_does(self) -> None:
        timing = Timing("interval", interval_seconds=3600)
        fired = walk(timing, utc(2026, 10, 24, 22, 0), utc(2026, 10, 25, 2, 0))
        assert [b - a for a, b in pairwise(fired)] == [timedelta(hours=1)] * 4


class TestDaylightSavingInNewYork:
    """America/New_York: 2026-03-08 02:00 -> 03:00, 2026-11-01 02:00 -> 01:00."""

    def test_a_time_skipped_in_spring_fires_once_an_hour_later(self) -> None:
        timing = Timing("cron", "30 2 * * *", "America/New_York")
        fired = walk(timing, utc(2026, 3, 7), utc(2026, 3, 10))
        assert [f.astimezone(NEW_YORK).strftime("%d %H:%M %Z") for f in fired] == [
            "07 02:30 EST",
            "08 03:30 EDT",
            "09 02:30 EDT",
        ]

    def test_a_time_repeated_in_autumn_fires_once(self) -> None:
        timing = Timing("cron", "30 1 * * *", "America/New_York")
        fired = walk(timing, utc(2026, 10, 31), utc(2026, 11, 2, 12))
        assert fired == [
            local(NEW_YORK, 2026, 10, 31, 1, 30),
            local(NEW_YORK, 2026, 11, 1, 1, 30, fold=0),
            local(NEW_YORK, 2026, 11, 2, 1, 30),
        ]

    def test_hourly_across_both_changes_fires_each_instant_once(self) -> None:
        timing = Timing("cron", "0 * * * *", "America/New_York")
        for day in (utc(2026, 3, 8, 4), utc(2026, 11, 1, 3)):
            fired = walk(timing, day, day + timedelta(hours=5))
            assert len(set(fired)) == len(fired)
            assert all(b > a for a, b in pairwise(fired))


class TestMissedDueTimes:
    def test_an_interval_behind_by_several_periods_offers_only_the_latest(self) -> None:
        timing = Timing("interval", interval_seconds=10)
        fire, following = timing.next_due_after(utc(2026, 1, 1, 0, 0, 0), utc(2026, 1, 1, 0, 0, 35))
        assert (fire, following) == (utc(2026, 1, 1, 0, 0, 30), utc(2026, 1, 1, 0, 0, 40))

    def test_a_cron_behind_by_several_periods_offers_only_the_latest(self) -> None:
        timing = Timing("cron", "*/5 * * * *", "UTC")
        fire, following = timing.next_due_after(utc(2026, 1, 1, 0, 0), utc(2026, 1, 1, 0, 17))
        assert (fire, following) == (utc(2026, 1, 1, 0, 15), utc(2026, 1, 1, 0, 20))

    def test_on_time_the_due_time_itself_fires(self) -> None:
        timing = Timing("cron", "*/5 * * * *", "UTC")
        fire, following = timing.next_due_after(utc(2026, 1, 1, 0, 5), utc(2026, 1, 1, 0, 5, 1))
        assert (fire, following) == (utc(2026, 1, 1, 0, 5), utc(2026, 1, 1, 0, 10))


class TestBounds:
    def test_nothing_is_due_before_the_start(self) -> None:
        timing = Timing("interval", interval_seconds=60, start_at=utc(2026, 5, 1))
        assert timing.first_due(utc(2026, 4, 1)) == utc(2026, 5, 1)

    def test_nothing_is_due_after_the_end(self) -> None:
        timing = Timing("cron", "0 * * * *", "UTC", end_at=utc(2026, 1, 1, 2, 30))
        assert timing.upcoming(utc(2026, 1, 1), 5) == [utc(2026, 1, 1, 1), utc(2026, 1, 1, 2)]

    def test_a_one_off_is_due_once(self) -> None:
        timing = Timing("once", run_at=utc(2026, 6, 1, 12))
        assert timing.upcoming(utc(2026, 1, 1), 5) == [utc(2026, 6, 1, 12)]
        assert timing.next_due_after(utc(2026, 6, 1, 12), utc(2026, 6, 1, 12))[1] is None

    def test_an_interval_keeps_its_phase_from_the_last_run(self) -> None:
        timing = Timing("interval", interval_seconds=2)
        last = utc(2026, 1, 1, 0, 0, 10)
        assert timing.first_due(utc(2026, 1, 1, 0, 0, 11), last_run_at=last) == utc(
            2026, 1, 1, 0, 0, 12
        )
