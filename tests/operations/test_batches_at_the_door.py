"""Batches at the door: settling decides from the members' counts, and each callback is sent
by exactly one of the processes settling the same batch at once."""

from __future__ import annotations

import threading

import pytest
from helpers.door_app import DoorApp

from celery_ops.core.errors import InvalidInput, NotFound
from celery_ops.operations import Actor


def made(door_app: DoorApp, members: int, allow_failures: bool = True) -> str:
    callbacks = {
        which: {"task": "door.add", "args": [1, 1], "kwargs": {}, "options": {}}
        for which in ("success", "failure", "finish")
    }
    return door_app.door().batches.create(members, "b", callbacks, allow_failures)


def settle(door_app: DoorApp, batch_id: str) -> list[str]:
    return door_app.ops.operations(Actor.system("batches")).batches.settle([batch_id])


def test_nothing_is_due_until_its_members_say_so(door_app: DoorApp) -> None:
    batch_id = made(door_app, 3)
    door_app.seed(2, status="SUCCESS", batch_id=batch_id)
    assert settle(door_app, batch_id) == []
    door_app.seed(1, status="SUCCESS", batch_id=batch_id)
    assert sorted(settle(door_app, batch_id)) == [f"{batch_id}:finish", f"{batch_id}:success"]
    assert settle(door_app, batch_id) == []  # sent already: never again
    assert door_app.queued() == 2


def test_a_failure_for_good_sends_on_failure_at_once(door_app: DoorApp) -> None:
    batch_id = made(door_app, 3)
    door_app.seed(1, status="FAILURE", batch_id=batch_id)
    assert settle(door_app, batch_id) == [f"{batch_id}:failure"]
    door_app.seed(2, status="SUCCESS", batch_id=batch_id)
    assert settle(door_app, batch_id) == [f"{batch_id}:finish"]


def test_racing_settlers_send_each_callback_once(door_app: DoorApp) -> None:
    batch_id = made(door_app, 4)
    door_app.seed(4, status="SUCCESS", batch_id=batch_id)
    sent: list[str] = []
    barrier = threading.Barrier(4)

    def race() -> None:
        barrier.wait()
        sent.extend(settle(door_app, batch_id))

    threads = [threading.Thread(target=race) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(sent) == [f"{batch_id}:finish", f"{batch_id}:success"]


def test_a_finished_batch_takes_no_more_members(door_app: DoorApp) -> None:
    batch_id = made(door_app, 1)
    door_app.seed(1, status="SUCCESS", batch_id=batch_id)
    settle(door_app, batch_id)
    with pytest.raises(NotFound, match="no open batch"):
        door_app.door().batches.grow(batch_id, 1)


def test_bad_batches_are_refused(door_app: DoorApp) -> None:
    batches = door_app.door().batches
    with pytest.raises(InvalidInput, match="unknown callback"):
        batches.create(1, "b", {"then": {"task": "door.add"}})
    with pytest.raises(InvalidInput, match="at most 255"):
        batches.create(1, "x" * 300)
    with pytest.raises(NotFound):
        batches.get("no-such-batch")
