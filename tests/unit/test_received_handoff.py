"""Who records RECEIVED: the worker's main process holds it back; exactly one side records."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from celery_ops.signals.handoff import (
    RECEIVED_AT_FIELD,
    START_SLACK,
    ReceivedHandoff,
    runner_records,
)

DELAY = 1.0


def request(task_id: str, time_start: float | None = None) -> SimpleNamespace:
    """What the handoff reads of Celery's worker Request."""
    return SimpleNamespace(id=task_id, request_dict={}, time_start=time_start)


class Recorded(list[str]):
    """Task ids whose RECEIVED the main process recorded, in order."""

    def ids(self) -> list[str]:
        return list(self)

    def record(self, request: Any, at: float) -> None:
        self.append(request.id)


def handoff(limit: int = 100) -> tuple[ReceivedHandoff, Recorded]:
    recorded = Recorded()
    return ReceivedHandoff(DELAY, recorded.record, limit), recorded


def started_after(task_id: str, seconds: float, now: float) -> tuple[ReceivedHandoff, Recorded]:
    """A task received at 100.0 and started ``seconds`` later, looked at ``now``."""
    held, recorded = handoff()
    message = request(task_id)
    held.hold(message, 100.0)
    message.time_start = 100.0 + seconds
    held.release_due(now=now)
    return held, recorded


def test_the_message_to_the_pool_carries_the_receiving_time() -> None:
    held, _ = handoff()
    message = request("a")
    held.hold(message, 100.0)
    assert message.request_dict[RECEIVED_AT_FIELD] == 100.0


def test_a_task_started_at_once_is_left_to_the_process_that_runs_it() -> None:
    held, recorded = started_after("a", 0.01, now=100.3)
    assert recorded == [] and len(held) == 0
    assert runner_records(100.0, 100.01, DELAY)


def test_a_task_still_waiting_after_the_delay_is_recorded_by_the_main_process() -> None:
    held, recorded = handoff()
    held.hold(request("eta"), 100.0)
    held.release_due(now=100.5)
    assert recorded == []
    held.release_due(now=101.0)
    assert recorded.ids() == ["eta"] and len(held) == 0


def test_a_task_started_late_is_recorded_by_the_main_process_not_the_runner() -> None:
    _, recorded = started_after("late", 0.7, now=100.8)
    assert recorded.ids() == ["late"]
    assert not runner_records(100.0, 100.7, DELAY)


def test_the_two_sides_never_both_skip_and_both_record_only_at_the_threshold() -> None:
    # The runner reads the start at task_prerun, up to START_SLACK after the main process's
    # accept time: whatever the two readings, somebody records the receipt.
    for waited in (0.0, 0.2, 0.45, 0.49, 0.5, 0.51, 0.54, 0.6, 0.9, 1.5, 30.0):
        for prerun_lag in (0.0, 0.001, 0.03, START_SLACK - 0.001):
            _, recorded = started_after("t", waited, now=100.0 + max(waited, DELAY))
            by_runner = runner_records(100.0, 100.0 + waited + prerun_lag, DELAY)
            near_threshold = DELAY / 2 <= waited < DELAY / 2 + START_SLACK
            expected = (1, 2) if near_threshold else (1,)
            assert len(recorded) + by_runner in expected, (waited, prerun_lag)


def test_revoked_or_rejected_before_starting_records_it_at_once() -> None:
    held, recorded = handoff()
    held.hold(request("revoked"), 100.0)
    held.release("revoked")
    held.release("never-held")
    assert recorded.ids() == ["revoked"]


def test_shutdown_records_everything_held() -> None:
    held, recorded = handoff()
    for task_id in ("a", "b"):
        held.hold(request(task_id), 100.0)
    held.release_all()
    assert sorted(recorded.ids()) == ["a", "b"] and len(held) == 0


def test_past_its_limit_it_records_at_once_instead_of_holding() -> None:
    held, recorded = handoff(limit=1)
    held.hold(request("a"), 100.0)
    overflow = request("b")
    held.hold(overflow, 100.0)
    assert recorded.ids() == ["b"] and len(held) == 1
    assert RECEIVED_AT_FIELD not in overflow.request_dict
