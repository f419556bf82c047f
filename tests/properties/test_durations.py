"""Any duration a user can type is read as what it says, or refused with what to type."""

from __future__ import annotations

import pytest
from helpers.fuzzing import examples
from hypothesis import given, settings
from hypothesis import strategies as st

from celery_ops.core.durations import MAX_SECONDS, format_duration, parse_duration

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}


@settings(max_examples=examples(300))
@given(st.one_of(st.text(max_size=30), st.floats(), st.integers()))
def test_any_value_is_a_duration_in_range_or_a_clear_refusal(value: object) -> None:
    try:
        seconds = parse_duration(value, numbers_are_seconds=True)  # type: ignore[arg-type]
    except ValueError as exc:
        assert "duration" in str(exc)
    else:
        assert 0 < seconds <= MAX_SECONDS


@settings(max_examples=examples(200))
@given(st.integers(min_value=1, max_value=5_000), st.sampled_from(sorted(UNITS)))
def test_a_number_with_its_unit_is_that_many_units(count: int, unit: str) -> None:
    seconds = count * UNITS[unit]
    assert parse_duration(f"{count}{unit}", numbers_are_seconds=False) == seconds
    assert parse_duration(format_duration(seconds)) == seconds


@settings(max_examples=examples(100))
@given(st.one_of(st.integers(min_value=1, max_value=10**6), st.floats(0.1, 1e6)))
def test_a_bare_number_is_never_guessed_where_the_name_does_not_say_seconds(
    number: float,
) -> None:
    for value in (number, str(number)):
        with pytest.raises(ValueError, match="unit"):
            parse_duration(value, numbers_are_seconds=False)
