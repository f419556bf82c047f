"""One function reads the execution filter for every front end, with the same rules."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from celery_ops.core.errors import InvalidInput
from celery_ops.operations.filters import parse_filter


def test_every_condition_has_its_name() -> None:
    where = parse_filter(
        {
            "status": ["failure", "RETRY"],
            "task": "proj.add",
            "queue": "q",
            "worker": "w@h",
            "schedule": "nightly",
            "tenant": "acme",
            "since": "2026-12-01T09:00:00+01:00",
            "until": "2026-12-02",
            "search": "invoice-4711",
            "error_type": "KeyError",
        }
    )
    assert where.statuses == ("FAILURE", "RETRY")
    assert (where.task_name, where.queue, where.worker_id) == ("proj.add", "q", "w@h")
    assert (where.schedule_name, where.tenant_id, where.error_type) == (
        "nightly",
        "acme",
        "KeyError",
    )
    assert where.since == datetime(2026, 12, 1, 8, 0, tzinfo=timezone.utc)
    assert where.until == datetime(2026, 12, 2, tzinfo=timezone.utc)
    assert where.search == "invoice-4711"


def test_text_is_another_name_for_search_and_empty_values_are_no_condition() -> None:
    assert parse_filter({"text": "order"}).search == "order"
    assert parse_filter({"task": "", "status": [""], "search": "  "}).is_empty


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"status": "FAILED"}, "unknown status FAILED: use one of PENDING"),
        ({"stauts": "FAILURE"}, "unknown filter stauts"),
        ({"since": "yesterday"}, "since 'yesterday' is not an ISO 8601 time"),
        ({"search": "ab"}, "search needs at least 3 characters"),
        ({"task": ["a", "b"]}, "task takes one value"),
        ({"task": "a\x00b"}, "task contains a NUL character"),
        ({"queue": "q" * 256}, "longer than 255"),
        ({"task": 5}, "task must be text"),
    ],
)
def test_what_cannot_be_used_is_said(params: dict, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        parse_filter(params)


def test_a_front_end_names_its_own_parameters() -> None:
    assert parse_filter({"cursor": "5", "status": "SUCCESS"}, other_keys={"cursor"}).statuses == (
        "SUCCESS",
    )
    with pytest.raises(InvalidInput, match="unknown filter cursor"):
        parse_filter({"cursor": "5"})


def test_a_plus_sign_a_url_turned_into_a_space_is_read_as_the_offset_it_was() -> None:
    # ?since=2026-12-01T09:00:00+01:00 typed in a browser arrives as "...09:00:00 01:00".
    assert parse_filter({"since": "2026-12-01T09:00:00 01:00"}).since == datetime(
        2026, 12, 1, 8, 0, tzinfo=timezone.utc
    )
    assert parse_filter({"since": "2026-12-01 09:00"}).since == datetime(
        2026, 12, 1, 9, 0, tzinfo=timezone.utc
    )
