"""What the assistant interface answers stays small: previews with a marker, tracebacks
ending where the error is, lists cut at the budget with a way to go on."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from celery_ops.assistant.answers import (
    BUDGET,
    bounded,
    encode,
    fit,
    last_frames,
    moment,
    preview,
)
from celery_ops.core.errors import InvalidInput

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=timezone.utc)


def traceback_of(frames: int) -> str:
    lines = ["Traceback (most recent call last):"]
    for n in range(frames):
        lines += [f'  File "/app/module{n}.py", line {n + 1}, in f{n}', f"    call{n}()"]
    lines.append("KeyError: 'missing'")
    return "\n".join(lines)


class TestPreviews:
    def test_short_text_is_kept_whole(self) -> None:
        assert preview("[1, 2]") == "[1, 2]"
        assert preview(None) is None

    def test_long_text_is_cut_with_a_marker_saying_how_much_and_how_to_get_it(self) -> None:
        shown = preview("x" * 2000, 100, "ask with full=true")
        assert shown is not None
        assert shown.startswith("x" * 100)
        assert shown.endswith("… [1900 more characters cut; ask with full=true]")


class TestTracebacks:
    def test_keep_their_last_frames_and_the_exception(self) -> None:
        shown = last_frames(traceback_of(12), frames=5)
        assert shown is not None
        assert shown.startswith("Traceback (most recent call last):")
        assert "[7 earlier frames cut; ask with full_traceback=true]" in shown
        assert "module6.py" not in shown and "module7.py" in shown and "module11.py" in shown
        assert shown.endswith("KeyError: 'missing'")

    def test_a_short_one_is_whole(self) -> None:
        assert last_frames(traceback_of(3)) == traceback_of(3)

    def test_a_huge_one_keeps_its_end(self) -> None:
        shown = last_frames("Traceback:\n" + "y" * 100_000 + "\nValueError: end")
        assert shown is not None and len(shown) < 13_000 and shown.endswith("ValueError: end")


class TestLists:
    def test_stop_at_the_budget_and_say_how_many_were_left_out(self) -> None:
        rows = [{"task_id": f"id-{n}", "args": "a" * 400} for n in range(200)]
        answer: dict[str, object] = {"next_cursor": 7}
        kept = fit(answer, "executions", rows, BUDGET)
        assert 0 < kept < 200
        assert len(encode(answer).encode()) <= BUDGET
        assert answer["executions"] == rows[:kept]
        assert str(200 - kept) in str(answer["cut"])

    def test_that_fit_are_all_kept_without_a_note(self) -> None:
        answer: dict[str, object] = {}
        assert fit(answer, "items", [1, 2, 3]) == 3
        assert answer == {"items": [1, 2, 3]}


class TestBudget:
    def test_an_answer_over_the_budget_is_cut_until_it_fits(self) -> None:
        big = {"texts": ["z" * 10_000 for _ in range(20)]}
        text = bounded(big, 24 * 1024)
        assert len(text.encode()) <= 24 * 1024
        assert "more characters cut" in json.loads(text)["texts"][0]

    def test_times_and_non_finite_numbers_are_standard_json(self) -> None:
        text = bounded({"at": NOW, "rate": float("nan")})
        assert json.loads(text) == {"at": "2026-12-05T12:00:00+00:00", "rate": None}


class TestMoments:
    @pytest.mark.parametrize(
        ("given", "expected"),
        [
            ("24h", NOW - timedelta(hours=24)),
            ("30m", NOW - timedelta(minutes=30)),
            ("2026-12-01T09:00:00Z", datetime(2026, 12, 1, 9, tzinfo=timezone.utc)),
            (None, None),
            ("  ", None),
        ],
    )
    def test_are_iso_times_or_durations_back_from_now(
        self, given: str | None, expected: datetime | None
    ) -> None:
        assert moment(given, NOW, "since") == expected

    @pytest.mark.parametrize("given", ["yesterday", "-5h", "0h", "\x00", "9" * 400 + "d"])
    def test_anything_else_is_refused_with_examples(self, given: str) -> None:
        with pytest.raises(InvalidInput, match="24h"):
            moment(given, NOW, "since")
