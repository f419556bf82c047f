"""Claims of unique tasks on each backend: one holder per (task, key), racing producers
cannot both win, an expired claim is taken over, the recorder's write frees it."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

from celery_ops.core.lifecycle import ExecutionPatch
from celery_ops.store import RecordBatch, Store
from celery_ops.store.unique import Claim

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=timezone.utc)
LATER = NOW + timedelta(seconds=60)


def claim(task_id: str, key: str = "k1") -> Claim:
    return Claim("proj.rebuild", key, '{"report_id": 42}', task_id, "finished")


def test_the_first_claim_wins_and_the_next_is_told_who_holds_it(store: Store) -> None:
    assert store.unique.claim(claim("a"), NOW, LATER).won
    second = store.unique.claim(claim("b"), NOW, LATER)
    assert (second.task_id, second.won) == ("a", False)
    assert store.unique.claim(claim("c", key="k2"), NOW, LATER).won  # another key


def test_the_holder_sending_again_keeps_it(store: Store) -> None:
    store.unique.claim(claim("a"), NOW, LATER)
    again = store.unique.claim(claim("a"), NOW + timedelta(seconds=5), LATER)
    assert (again.task_id, again.won) == ("a", True)


def test_an_expired_claim_is_taken_over(store: Store) -> None:
    store.unique.claim(claim("a"), NOW, LATER)
    after = LATER + timedelta(seconds=1)
    taken = store.unique.claim(claim("b"), after, after + timedelta(seconds=60))
    assert (taken.task_id, taken.won) == ("b", True)
    assert [held.task_id for held in store.unique.held()] == ["b"]


def test_racing_producers_have_exactly_one_winner(store: Store) -> None:
    winners: list[str] = []
    barrier = threading.Barrier(8)

    def race(task_id: str) -> None:
        barrier.wait()
        if store.unique.claim(claim(task_id), NOW, LATER).won:
            winners.append(task_id)

    threads = [threading.Thread(target=race, args=(f"t{n}",)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(winners) == 1


def test_the_recorders_write_frees_the_claims_of_executions_that_ended(store: Store) -> None:
    store.unique.claim(claim("a"), NOW, LATER)
    store.unique.claim(claim("b", key="k2"), NOW, LATER)
    ended = ExecutionPatch("a", "SUCCESS", 15, NOW, {"task_name": "proj.rebuild"})
    store.write(RecordBatch(executions=[ended], released=["a"]))
    assert [held.task_id for held in store.unique.held()] == ["b"]
    assert store.unique.claim(claim("c"), NOW, LATER).won


def test_a_claim_for_a_message_not_sent_is_forgotten(store: Store) -> None:
    store.unique.claim(claim("a"), NOW, LATER)
    store.unique.forget("proj.rebuild", "k1", "someone-else")  # not the holder: kept
    assert store.unique.held()
    store.unique.forget("proj.rebuild", "k1", "a")
    assert not store.unique.held()
    assert store.unique.delete_expired(NOW) == 0
