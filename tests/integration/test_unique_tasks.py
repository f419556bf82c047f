"""Unique tasks with real workers: of many producers sending the same key at once exactly
one execution runs and the others get its id; the key is free again when it ends (or
starts, as the task asks), and a worker killed mid-task blocks it for ops_unique_for at most."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
from helpers.services import REDIS_BROKER, require
from helpers.waiting import wait_for
from integration.conftest import ExternalApp

from celery_ops.core.errors import InvalidInput
from celery_ops.core.filters import ExecutionFilter

pytestmark = pytest.mark.slow


def status(external: ExternalApp, task_id: str) -> str | None:
    found = external.ops.store.execution(task_id)
    return found.status if found else None


def executions_of(external: ExternalApp, task: str) -> list[str]:
    external.ops.recorder.flush(timeout=10)
    rows = external.ops.store.executions(ExecutionFilter(task_name=task), 500)
    return [row.task_id for row in rows]


def at_once(count: int, call: Callable[[], str]) -> list[str]:
    """``call`` from ``count`` threads released together; what each returned."""
    barrier = threading.Barrier(count)
    results: list[str] = []
    lock = threading.Lock()

    def run() -> None:
        barrier.wait()
        got = call()
        with lock:
            results.append(got)

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return results


def test_twenty_producers_at_once_start_exactly_one_execution(three_workers: ExternalApp) -> None:
    report = three_workers.module.rebuild_report
    ids = at_once(20, lambda: report.delay(42, 1.0).id)
    assert len(ids) == 20 and len(set(ids)) == 1
    [the_one] = set(ids)
    other_key = report.delay(43, 0.1).id  # another report is another key
    assert other_key != the_one
    wait_for(lambda: status(three_workers, the_one) == "SUCCESS", 30, "the one execution to end")
    wait_for(lambda: status(three_workers, other_key) == "SUCCESS", 30, "the other key's execution")
    assert sorted(executions_of(three_workers, report.name)) == sorted({the_one, other_key})
    timeline = [e.event for e in three_workers.ops.store.timeline(the_one)]
    assert timeline.count("duplicate-refused") == 19

    # Ended: the key is free, and the next call enqueues again.
    def next_call_enqueues() -> bool:
        return report.delay(42, 0.1).id != the_one

    wait_for(next_call_enqueues, 10, "the key to be freed by the end of its execution")


def test_a_key_held_until_started_is_free_once_its_execution_runs(
    three_workers: ExternalApp,
) -> None:
    task = three_workers.module.unique_until_started
    first = task.delay("k", 2.0).id
    assert task.delay("k", 2.0).id == first  # waiting: a duplicate
    wait_for(lambda: status(three_workers, first) == "STARTED", 30, "the first to start")
    second = None

    def enqueues() -> bool:
        nonlocal second
        second = task.delay("k", 0.1).id
        return second != first

    wait_for(enqueues, 10, "the key to be freed by the start")
    assert status(three_workers, first) == "STARTED"


def test_a_worker_killed_mid_task_frees_the_key_within_its_period(
    external_app: Callable[..., ExternalApp], new_database
) -> None:
    require("redis")
    external = external_app(REDIS_BROKER, new_database("postgresql"), OPS_UNIQUE_FOR="4")
    doomed = external.start_worker("doomed", pool="prefork", concurrency=1)
    task = external.module.rebuild_report
    # rebuild_report holds its key 60 s; this one asks for 4 s in its headers.
    held = task.apply_async((7, 60), headers={"ops_unique_for": 4}).id
    wait_for(lambda: status(external, held) == "STARTED", 30, "it to start")
    doomed.kill()
    killed_at = time.monotonic()
    assert task.apply_async((7, 0.1), headers={"ops_unique_for": 4}).id == held
    fresh = None

    def enqueues() -> bool:
        nonlocal fresh
        fresh = task.apply_async((7, 0.1), headers={"ops_unique_for": 4}).id
        return fresh != held

    wait_for(enqueues, 10, "the key to expire")
    assert time.monotonic() - killed_at <= 4 + 1.0


def test_a_key_given_per_call_in_the_headers(three_workers: ExternalApp) -> None:
    add = three_workers.module.add
    unique = {"ops_unique_key": "nightly-sum", "ops_unique_for": 30}
    first = add.apply_async((1, 2), headers=unique, countdown=2).id
    assert add.apply_async((5, 6), headers=unique).id == first
    assert add.apply_async((1, 2)).id != first  # without the headers: not unique
    wait_for(lambda: status(three_workers, first) == "SUCCESS", 30, "the unique one to run")


def test_options_that_cannot_work_are_refused_at_the_call(three_workers: ExternalApp) -> None:
    add = three_workers.module.add
    with pytest.raises(InvalidInput, match="above 0"):
        add.apply_async((1, 2), headers={"ops_unique_for": -5})
    with pytest.raises(InvalidInput, match="needs ops_unique_for"):
        add.apply_async((1, 2), headers={"ops_unique_key": "k"})
