"""Admissions on each backend: a rate counts starts over a sliding period, a concurrency
limit counts held slots, slots are given back by the recorder's write or expire, and racing
workers cannot both take the last place."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

from celery_ops.store import RecordBatch, Store
from celery_ops.store.limits import RATE, SLOT, Gate

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=timezone.utc)


def at(seconds: float) -> datetime:
    return NOW + timedelta(seconds=seconds)


def test_a_rate_lets_its_count_through_per_sliding_period(store: Store) -> None:
    gate = Gate("proj.mail", "", RATE, 3, 1.0)
    admitted = [store.limits.admit(f"t{n}", [gate], at(n * 0.1)).admitted for n in range(5)]
    assert admitted == [True, True, True, False, False]
    refused = store.limits.admit("t9", [gate], at(0.5))
    assert not refused.admitted and 0.4 < refused.wait <= 0.5  # the first start leaves at 1.0
    assert store.limits.admit("t10", [gate], at(1.0)).admitted


def test_keys_are_separate_limits(store: Store) -> None:
    acme, globex = Gate("proj.sync", "acme", SLOT, 1, 60), Gate("proj.sync", "globex", SLOT, 1, 60)
    assert store.limits.admit("a1", [acme], NOW).admitted
    assert not store.limits.admit("a2", [acme], NOW).admitted
    assert store.limits.admit("g1", [globex], NOW).admitted


def test_a_slot_is_given_back_by_the_write_of_the_runs_end(store: Store) -> None:
    gate = Gate("proj.report", "", SLOT, 1, 3600)
    assert store.limits.admit("r1", [gate], NOW).admitted
    refused = store.limits.admit("r2", [gate], NOW)
    assert not refused.admitted and "concurrency limit 1 reached" in str(refused.reason)
    store.write(RecordBatch(freed_slots=["r1"]))
    assert store.limits.running("proj.report") == 0
    assert store.limits.admit("r2", [gate], NOW).admitted


def test_a_slot_of_a_killed_worker_expires(store: Store) -> None:
    gate = Gate("proj.report", "", SLOT, 1, 30)
    assert store.limits.admit("lost", [gate], NOW).admitted
    assert not store.limits.admit("next", [gate], at(29)).admitted
    assert store.limits.admit("next", [gate], at(30)).admitted


def test_racing_workers_take_the_last_place_once(store: Store) -> None:
    gate = Gate("proj.report", "", SLOT, 2, 3600)
    # First when the limit's gate row is being made, then when every process knows it.
    for attempt in range(2):
        admitted: list[str] = []
        barrier = threading.Barrier(6)

        def race(task_id: str, admitted: list[str] = admitted, barrier=barrier) -> None:
            barrier.wait()
            if store.limits.admit(task_id, [gate], NOW).admitted:
                admitted.append(task_id)

        threads = [threading.Thread(target=race, args=(f"w{attempt}-{n}",)) for n in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert len(admitted) == 2
        store.write(RecordBatch(freed_slots=admitted))


def test_a_start_asked_for_late_is_counted_at_the_newest_start(store: Store) -> None:
    # A worker that took the time before a slow connection asks after a later start was let
    # through: it is let through at that later time (its recorded start), never before it.
    gate = Gate("proj.mail", "", RATE, 5, 1.0)
    for n in range(1, 6):
        assert store.limits.admit(f"t{n}", [gate], at(n * 0.2)).admitted
    later = store.limits.admit("later", [gate], at(2.0))
    assert later.admitted and later.at == at(2.0)
    stale = store.limits.admit("stale", [gate], at(0.9))
    assert stale.admitted and stale.at == at(2.0)
