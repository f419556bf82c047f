"""What a running task says of how far it got: checked, kept latest-only, handed over."""

from __future__ import annotations

import math

import pytest

from celery_ops.recording.progress import InvalidProgress, ProgressBoard, progress_values


class TestAReport:
    def test_holds_the_numbers_the_note_and_the_time(self) -> None:
        assert progress_values(3, 10, "page 3", 100.0) == {
            "progress_current": 3.0,
            "progress_total": 10.0,
            "progress_note": "page 3",
            "progress_at": 100.0,
        }

    def test_without_a_note_clears_an_earlier_note(self) -> None:
        assert progress_values(1, None, None, 1.0)["progress_note"] == ""

    def test_a_long_note_is_cut(self) -> None:
        assert len(progress_values(1, 2, "x" * 10_000, 1.0)["progress_note"]) == 255

    @pytest.mark.parametrize(
        ("current", "total"),
        [(math.nan, 10), (1, math.inf), ("3", 10), (True, 10), (None, 10), (1, 0), (1, -5)],
    )
    def test_that_is_not_a_finite_number_is_refused(self, current: object, total: object) -> None:
        with pytest.raises(InvalidProgress):
            progress_values(current, total, None, 1.0)


class TestTheBoard:
    def test_keeps_only_the_latest_report_of_each_task(self) -> None:
        board = ProgressBoard()
        for n in range(1000):
            board.report("a", 1, "w", progress_values(n, 1000, None, float(n)))
        board.report("b", 2, "w", progress_values(5, 9, None, 1.0))
        events = {event.task_id: event for event in board.hand_over()}
        assert events["a"].values["progress_current"] == 999.0
        assert (events["b"].attempt, events["b"].status, events["b"].on_timeline) == (
            2,
            None,
            False,
        )
        assert board.hand_over() == []  # nothing new since

    def test_a_report_not_handed_over_goes_with_the_final_event(self) -> None:
        board = ProgressBoard()
        board.report("a", 1, "w", progress_values(10, 10, "done", 5.0))
        assert board.take("a") == progress_values(10, 10, "done", 5.0)
        assert board.take("a") is None
        assert board.hand_over() == []

    def test_a_task_that_reports_nothing_has_nothing_to_take(self) -> None:
        assert ProgressBoard().take("never") is None


class TestTheWaterfallOfARetry:
    def test_the_next_attempt_starting_before_the_retry_is_written_keeps_both_runs(self) -> None:
        from datetime import datetime, timezone

        from celery_ops.core.records import TimelineEntry
        from celery_ops.core.waterfall import waterfall

        def entry(event: str, second: float, attempt: int) -> TimelineEntry:
            at = datetime.fromtimestamp(1000 + second, timezone.utc)
            return TimelineEntry(0, "t", event, at, None, f'{{"attempt": {attempt}}}')

        timeline = [
            entry("published", 0, 1),
            entry("started", 1, 1),
            entry("started", 2, 2),  # the worker ran the retry before attempt 1 said so
            entry("retried", 2.5, 1),
            entry("succeeded", 3, 2),
        ]
        drawn = waterfall(timeline, datetime.now(timezone.utc))
        assert drawn is not None
        runs = [(bar.attempt, bar.outcome) for bar in drawn.bars if bar.kind == "running"]
        assert runs == [(1, "retried"), (2, "succeeded")]
        assert not [bar for bar in drawn.bars if bar.ongoing]
