"""Who records RECEIVED: the worker's main process holds it back; exactly one side records."""

from __future__ import annotations

from types import SimpleNamespace

from celery_ops.events import ExecutionEvent
from celery_ops.signals.handoff import RECEIVED_AT_FIELD, ReceivedHandoff, runner_records

DELAY = 1.0


def received(task_id: str, at: float) -> ExecutionEvent:
    return ExecutionEvent(task_id, "received", at, "RECEIVED", 1)


def request(time_start: float | None = None) -> SimpleNamespace:
    """What the handoff reads of Celery's worker Request."""
    return SimpleNamespace(request_dict={}, time_start=time_start)


class Recorded(list[ExecutionEvent]):
    def ids(self) -> list[str]:
        return [event.task_id for event in self]


def handoff(limit: int = 100) -> tuple[ReceivedHandoff, Recorded]:
    recorded = Recorded()
    return ReceivedHandoff(DELAY, recorded.append, limit), recorded


def test_the_message_to_the_pool_carries_the_receiving_time() -> None:
    held, _ = handoff()
    message = request()
    held.hold(received("a", 100.0), message)
    assert message.request_dict[RECEIVED_AT_FIELD] == 100.0


def test_a_task_started_at_once_is_left_to_the_process_that_runs_it() -> None:
    held, recorded = handoff()
    message = request()
    held.hold(received("a", 100.0), message)
    message.time_start = 100.01
    held.release_due(now=100.3)
    assert recorded == [] and len(held) == 0
    assert runner_records(100.0, 100.01, DELAY)


def test_a_task_still_waiting_after_the_delay_is_recorded_by_the_main_process() -> None:
    held, recorded = handoff()
    held.hold(received("eta", 100.0), request())
    held.release_due(now=100.5)
    assert recorded == []
    held.release_due(now=101.0)
    assert recorded.ids() == ["eta"] and len(held) == 0


def test_a_task_started_late_is_recorded_by_the_main_process_not_the_runner() -> None:
    held, recorded = handoff()
    message = request()
    held.hold(received("late", 100.0), message)
    message.time_start = 100.7
    held.release_due(now=100.8)
    assert recorded.ids() == ["late"]
    assert not runner_records(100.0, 100.7, DELAY)


def test_the_two_sides_never_both_record_nor_both_skip() -> None:
    for started_after in (0.0, 0.2, 0.49, 0.5, 0.51, 0.9, 1.5, 30.0):
        held, recorded = handoff()
        message = request(time_start=100.0 + started_after)
        held.hold(received("t", 100.0), message)
        held.release_due(now=100.0 + max(started_after, DELAY))
        by_runner = runner_records(100.0, 100.0 + started_after, DELAY)
        assert len(recorded) + by_runner == 1, started_after


def test_revoked_or_rejected_before_starting_records_it_at_once() -> None:
    held, recorded = handoff()
    held.hold(received("revoked", 100.0), request())
    held.release("revoked")
    held.release("never-held")
    assert recorded.ids() == ["revoked"]


def test_shutdown_records_everything_held() -> None:
    held, recorded = handoff()
    for task_id in ("a", "b"):
        held.hold(received(task_id, 100.0), request())
    held.release_all()
    assert sorted(recorded.ids()) == ["a", "b"] and len(held) == 0


def test_past_its_limit_it_records_at_once_instead_of_holding() -> None:
    held, recorded = handoff(limit=1)
    held.hold(received("a", 100.0), request())
    overflow = request()
    held.hold(received("b", 100.0), overflow)
    assert recorded.ids() == ["b"] and len(held) == 1
    assert RECEIVED_AT_FIELD not in overflow.request_dict
