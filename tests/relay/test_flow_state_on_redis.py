"""Flow control's state on a Redis broker (relay mode): unique claims and limit admissions
decided by one script each, with the same answers as the store's, freed by what the
ingesters write, expiring on their own; a broker that is down says so."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone

import pytest
from helpers.services import REDIS_BROKER, require

from celery_ops.core.limits import TaskLimit, parse_rate
from celery_ops.recording.flow import FlowUnavailable, RedisFlowState
from celery_ops.store import RecordBatch
from celery_ops.store.limits import RATE, SLOT, Gate
from celery_ops.store.unique import Claim

pytestmark = pytest.mark.slow


@pytest.fixture
def flow() -> Iterator[RedisFlowState]:
    require("redis")
    state = RedisFlowState(REDIS_BROKER, f"test-flow-{uuid.uuid4().hex[:8]}")
    yield state
    keys = list(state.client.scan_iter(f"{state.prefix}*"))
    if keys:
        state.client.delete(*keys)


def now() -> datetime:
    return datetime.now(timezone.utc)


def claim(flow: RedisFlowState, task_id: str, key: str = "k42", seconds: float = 60) -> str:
    at = now()
    wanted = Claim("proj.report", key, "report_id=42", task_id, "finished")
    return flow.claim(wanted, at, at + timedelta(seconds=seconds)).task_id


def at_once(count: int, call: Callable[[int], object]) -> None:
    barrier = threading.Barrier(count)

    def run(n: int) -> None:
        barrier.wait()
        call(n)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)


class TestUniqueClaims:
    def test_the_first_claim_wins_and_the_next_is_told_who_holds_it(
        self, flow: RedisFlowState
    ) -> None:
        assert claim(flow, "first") == "first"
        assert claim(flow, "second") == "first"
        assert claim(flow, "first") == "first"  # a retry sending the same execution again
        assert claim(flow, "other", key="k43") == "other"

    def test_racing_producers_have_exactly_one_winner(self, flow: RedisFlowState) -> None:
        holders: list[str] = []
        at_once(20, lambda n: holders.append(claim(flow, f"p{n}")))
        assert len(holders) == 20 and len(set(holders)) == 1

    def test_the_ingesters_write_frees_the_claims_of_executions_that_ended(
        self, flow: RedisFlowState
    ) -> None:
        assert claim(flow, "first") == "first"
        flow.settle(RecordBatch(released=["first", "never-claimed"]))
        assert claim(flow, "second") == "second"
        # A late release of the first does not free the key the second holds now.
        flow.release(["first"])
        assert claim(flow, "third") == "second"

    def test_a_claim_expires_so_a_lost_worker_blocks_a_key_for_a_while_at_most(
        self, flow: RedisFlowState
    ) -> None:
        assert claim(flow, "lost", seconds=0.3) == "lost"
        assert claim(flow, "next") == "lost"
        time.sleep(0.4)
        assert claim(flow, "next") == "next"

    def test_a_claim_for_a_message_not_sent_is_forgotten(self, flow: RedisFlowState) -> None:
        assert claim(flow, "unsent") == "unsent"
        flow.forget("proj.report", "k42", "unsent")
        assert claim(flow, "sent") == "sent"


class TestAdmissions:
    def test_a_rate_lets_its_count_through_per_sliding_period(self, flow: RedisFlowState) -> None:
        gate = Gate("proj.mail", "", RATE, 3, 0.5)
        admitted = [flow.admit(f"t{n}", [gate], now()).admitted for n in range(5)]
        assert admitted == [True, True, True, False, False]
        refused = flow.admit("t9", [gate], now())
        assert not refused.admitted and 0 < refused.wait <= 0.5
        assert refused.reason == "rate limit 3 per 0.5s reached"
        time.sleep(refused.wait + 0.01)
        assert flow.admit("t10", [gate], now()).admitted

    def test_a_start_asked_for_late_is_counted_at_the_newest_start(
        self, flow: RedisFlowState
    ) -> None:
        gate = Gate("proj.mail", "", RATE, 5, 1.0)
        first = flow.admit("t1", [gate], now())
        assert first.admitted and first.at is not None
        stale = flow.admit("stale", [gate], first.at - timedelta(seconds=0.5))
        assert stale.admitted and stale.at == first.at

    def test_a_slot_is_held_until_the_ingester_writes_the_runs_end(
        self, flow: RedisFlowState
    ) -> None:
        gate = Gate("proj.report", "", SLOT, 1, 3600)
        assert flow.admit("r1", [gate], now()).admitted
        refused = flow.admit("r2", [gate], now())
        assert not refused.admitted and refused.reason == "concurrency limit 1 reached (1 running)"
        assert flow.slots_held("proj.report") == 1
        flow.settle(RecordBatch(freed_slots=["r1"]))
        assert flow.slots_held("proj.report") == 0
        assert flow.admit("r2", [gate], now()).admitted

    def test_a_slot_of_a_killed_worker_expires(self, flow: RedisFlowState) -> None:
        gate = Gate("proj.report", "", SLOT, 1, 0.3)
        assert flow.admit("lost", [gate], now()).admitted
        assert not flow.admit("next", [gate], now()).admitted
        time.sleep(0.4)
        assert flow.admit("next", [gate], now()).admitted

    def test_keys_are_separate_limits_and_a_refusal_takes_no_permit(
        self, flow: RedisFlowState
    ) -> None:
        acme, globex = (
            Gate("proj.sync", "acme", SLOT, 1, 60),
            Gate("proj.sync", "globex", SLOT, 1, 60),
        )
        rate = Gate("proj.sync", "", RATE, 10, 60)
        assert flow.admit("a1", [acme, rate], now()).admitted
        assert not flow.admit("a2", [acme, rate], now()).admitted
        assert flow.admit("g1", [globex, rate], now()).admitted
        # a2's refusal by its slot took no start from the rate: 8 places are left.
        admitted = [flow.admit(f"x{n}", [rate], now()).admitted for n in range(9)]
        assert admitted == [True] * 8 + [False]

    def test_racing_workers_take_the_last_places_once(self, flow: RedisFlowState) -> None:
        gate = Gate("proj.report", "", SLOT, 2, 3600)
        admitted: list[str] = []
        at_once(
            12, lambda n: flow.admit(f"w{n}", [gate], now()).admitted and admitted.append(f"w{n}")
        )
        assert len(admitted) == 2


def test_the_limits_reach_the_pool_processes_as_the_ingester_copied_them(
    flow: RedisFlowState,
) -> None:
    assert flow.limits() == []  # nothing copied yet: nothing limited
    limits = [
        TaskLimit("proj.mail", rate=parse_rate("100/m")),
        TaskLimit("proj.sync", concurrency=1, concurrency_key=("tenant_id",)),
    ]
    flow.copy_limits(limits)
    assert flow.limits() == limits
    flow.client.set(f"{flow.prefix}:limits", b'[{"task": "proj.odd", "rate": "lots"}, 7]')
    assert flow.limits() == []  # a copy that makes no sense limits nothing
    flow.client.set(f"{flow.prefix}:limits", b"{not json")
    assert flow.limits() == []


def test_a_broker_that_is_down_says_so() -> None:
    down = RedisFlowState("redis://127.0.0.1:1/0", "test-flow-down")
    gate = Gate("proj.mail", "", RATE, 3, 1.0)
    with pytest.raises(FlowUnavailable):
        down.admit("t1", [gate], now())
    with pytest.raises(FlowUnavailable):
        claim(down, "t1")
    with pytest.raises(FlowUnavailable):
        down.limits()
    down.settle(RecordBatch(released=["t1"], freed_slots=["t1"]))  # logged, not raised
