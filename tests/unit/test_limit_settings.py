"""Limits as the settings write them: rates with their period, counts, keys of argument
names; anything else refused with what to write instead."""

from __future__ import annotations

import pytest

from celery_ops.core.errors import InvalidInput
from celery_ops.core.limits import configured_limits, parse_rate


@pytest.mark.parametrize(
    ("text", "count", "seconds", "shown"),
    [("10/s", 10, 1.0, "10/s"), ("100/m", 100, 60.0, "100/m"), ("5/10s", 5, 10.0, "5/10s"),
     (" 1000 / h ", 1000, 3600.0, "1000/h"), ("1/d", 1, 86_400.0, "1/d")],
)  # fmt: skip
def test_a_rate_is_a_count_per_period(text: str, count: int, seconds: float, shown: str) -> None:
    rate = parse_rate(text)
    assert (rate.count, rate.per_seconds, rate.text) == (count, seconds, shown)


@pytest.mark.parametrize("text", ["10", "0/s", "-1/s", "10/x", "1/2d", "nan/s", 10, None, "1e3/s"])
def test_anything_else_is_not_a_rate(text: object) -> None:
    with pytest.raises(InvalidInput, match="10/s"):
        parse_rate(text)


def test_both_settings_make_one_limit_per_task() -> None:
    limits = configured_limits(
        {"proj.call_api": {"rate": "10/s", "key": ["account_id"]}, "proj.mail": "100/m"},
        {"proj.call_api": 3, "proj.sync": {"limit": 1, "key": ["tenant_id"]}},
    )
    call_api = limits["proj.call_api"]
    assert call_api.rate is not None and call_api.rate.text == "10/s"
    assert (call_api.rate_key, call_api.concurrency, call_api.concurrency_key) == (
        ("account_id",),
        3,
        (),
    )
    assert limits["proj.sync"].concurrency_key == ("tenant_id",)
    assert limits["proj.mail"].concurrency is None


@pytest.mark.parametrize(
    ("rates", "concurrency", "message"),
    [
        ({"t": {"rate": "10/s", "keys": ["a"]}}, {}, r"ops_rate_limits\['t'\]: unknown key"),
        ({}, {"t": 0}, r"ops_concurrency_limits\['t'\]: a concurrency limit"),
        ({}, {"t": True}, "whole number"),
        ({}, {"t": {"limit": 2, "key": "tenant"}}, "list of at most"),
        ({}, {"t": {"limit": 2, "key": ["not a name"]}}, "argument names"),
    ],
)
def test_settings_that_cannot_work_name_the_entry(
    rates: dict, concurrency: dict, message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        configured_limits(rates, concurrency)
