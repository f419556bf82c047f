"""The folding rules, in Python: the same ones the store applies in SQL."""

from __future__ import annotations

from datetime import datetime

from celery_ops.core.lifecycle import ExecutionPatch, merge_patches, progress


def patch(status: str | None, attempt: int = 1, **values: object) -> ExecutionPatch:
    return ExecutionPatch(
        "t", status, progress(status, attempt), datetime(2026, 1, 1), dict(values)
    )


def test_progress_orders_attempts_before_ranks() -> None:
    assert progress("RETRY", 1) < progress("RECEIVED", 2) < progress("SUCCESS", 2)
    assert progress("LOST", 1) < progress("RECEIVED", 1) < progress("STARTED", 1)
    assert progress(None, 5) == -1


def test_an_older_event_only_fills_empty_columns() -> None:
    current = patch("SUCCESS", worker_id="w1")
    merge_patches(current, patch("RECEIVED", worker_id="w2", received_at=5))
    assert current.status == "SUCCESS"
    assert current.values == {"worker_id": "w1", "received_at": 5}


def test_a_newer_event_replaces_latest_columns_but_not_first_ones() -> None:
    current = patch("RECEIVED", task_name="a", worker_id="w1")
    merge_patches(current, patch("STARTED", task_name="b", worker_id="w2"))
    assert current.status == "STARTED"
    assert current.values == {"task_name": "a", "worker_id": "w2"}


def test_attempts_add_up_whatever_the_order() -> None:
    current = patch("SUCCESS", 2, attempts=1)
    merge_patches(current, patch("STARTED", 1, attempts=1))
    assert current.values["attempts"] == 2 and current.status == "SUCCESS"


def test_equal_terminal_events_keep_the_first() -> None:
    current = patch("FAILURE", error_message="first")
    merge_patches(current, patch("FAILURE", error_message="second"))
    assert current.values["error_message"] == "first"


def test_an_ignored_run_ends_the_row_until_a_replacement_finishes_under_its_id() -> None:
    # Task.replace() raises Ignore once the replacement is sent with the same task id: the
    # replacement's own start does not undo IGNORED, its outcome does, in either order.
    for replacement in ("STARTED", "RECEIVED", "PENDING"):
        current = patch("IGNORED")
        merge_patches(current, patch(replacement))
        assert current.status == "IGNORED"
    current = patch("IGNORED")
    merge_patches(current, patch("SUCCESS", result="42"))
    assert (current.status, current.values["result"]) == ("SUCCESS", "42")
    current = patch("SUCCESS", result="42")
    merge_patches(current, patch("IGNORED"))
    assert current.status == "SUCCESS"


def test_an_earlier_attempts_error_arriving_late_does_not_hide_the_later_one() -> None:
    current = patch("RECEIVED", 3, error_progress=24, error_message="try 2")
    merge_patches(current, patch("RETRY", 1, error_progress=14, error_message="try 1"))
    assert current.values["error_message"] == "try 2"
    merge_patches(current, patch("FAILURE", 3, error_progress=35, error_message="final"))
    assert current.values["error_message"] == "final"
    assert current.values["error_progress"] == 35


def test_the_first_publish_and_receipt_win_whatever_the_order() -> None:
    current = patch("RECEIVED", 2, received_at=20, published_at=15)
    merge_patches(current, patch("RECEIVED", 1, received_at=10, published_at=5))
    assert (current.values["received_at"], current.values["published_at"]) == (10, 5)
