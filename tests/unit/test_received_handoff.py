"""Who records RECEIVED: the runner, unless the task waits; then the worker's main process."""

from __future__ import annotations

import gc
import weakref
from typing import Any

from celery_ops.recording.handoff import RECEIVED_AT_FIELD, ReceivedHandoff

DELAY = 1.0


class Request:
    """What the handoff reads of Celery's worker Request (which takes weak references)."""

    def __init__(self, task_id: str) -> None:
        self.id = task_id
        self.request_dict: dict[str, Any] = {}
        self.time_start: float | None = None


class Recorded(list[tuple[str, float]]):
    """(task id, received at) of the RECEIVED events the main process recorded, in order."""

    def ids(self) -> list[str]:
        return [task_id for task_id, _ in self]

    def record(self, request: Any, at: float) -> None:
        self.append((request.id, at))


def handoff(limit: int = 100) -> tuple[ReceivedHandoff, Recorded]:
    recorded = Recorded()
    return ReceivedHandoff(DELAY, recorded.record, limit), recorded


def held_at_100(held: ReceivedHandoff, task_id: str) -> Request:
    request = Request(task_id)
    held.hold(request, 100.0)
    return request


def test_the_message_to_the_pool_carries_the_receiving_time() -> None:
    held, _ = handoff()
    request = held_at_100(held, "a")
    assert request.request_dict[RECEIVED_AT_FIELD] == 100.0


def test_a_task_that_started_is_left_to_the_process_that_runs_it() -> None:
    held, recorded = handoff()
    request = held_at_100(held, "a")
    request.time_start = 100.7  # even late: its runner records the receipt with the start
    held.release_due(now=101.5)
    assert recorded == [] and len(held) == 0
    assert RECEIVED_AT_FIELD in request.request_dict


def test_a_task_still_waiting_after_the_delay_is_recorded_by_the_main_process() -> None:
    held, recorded = handoff()
    request = held_at_100(held, "eta")
    held.release_due(now=100.9)
    assert recorded == [] and len(held) == 1
    held.release_due(now=101.0)
    assert recorded == [("eta", 100.0)] and len(held) == 0
    # If it starts later, its runner finds no stamp and does not record it again.
    assert request.request_dict[RECEIVED_AT_FIELD] is None


def test_a_finished_task_whose_request_is_gone_is_forgotten() -> None:
    held, recorded = handoff()
    held_at_100(held, "done")
    gc.collect()
    held.release_due(now=105.0)
    assert recorded == [] and len(held) == 0


def test_holding_a_request_does_not_keep_it_alive() -> None:
    # Strong references kept every finished request alive until the next release, and the
    # survivors cost the busiest process of a worker full garbage collections.
    held, _ = handoff()
    request = held_at_100(held, "a")
    gone = weakref.ref(request)
    del request
    assert gone() is None


def test_revoked_or_rejected_before_starting_records_it_at_once() -> None:
    held, recorded = handoff()
    waiting = held_at_100(held, "revoked")
    running = held_at_100(held, "terminated")
    running.time_start = 100.1
    for task_id in ("revoked", "terminated", "never-held"):
        held.release(task_id)
    assert recorded.ids() == ["revoked"] and len(held) == 0
    assert waiting.request_dict[RECEIVED_AT_FIELD] is None


def test_shutdown_records_every_task_that_has_not_started() -> None:
    held, recorded = handoff()
    requests = [held_at_100(held, task_id) for task_id in ("a", "b", "started")]
    requests[2].time_start = 100.1
    held.release_all()
    assert sorted(recorded.ids()) == ["a", "b"] and len(held) == 0


def test_past_its_limit_it_records_at_once_instead_of_holding() -> None:
    held, recorded = handoff(limit=1)
    held_at_100(held, "a")
    overflow = held_at_100(held, "b")
    assert recorded.ids() == ["b"] and len(held) == 1
    assert RECEIVED_AT_FIELD not in overflow.request_dict
