"""Each process records a task's events in the order it sees them and flushes them in
batches of its own (a producer, a worker's main process, its pool children): the store
receives those batches in any order. The row ends up the same as if the events had come in
the order they happened, in Python's fold and in each database's upsert alike."""

from __future__ import annotations

import uuid
from dataclasses import asdict
from itertools import pairwise

from helpers.fuzzing import examples
from hypothesis import given, settings
from hypothesis import strategies as st

from celery_ops.core import lifecycle as states
from celery_ops.recording.events import ExecutionEvent
from celery_ops.recording.folding import fold_events
from celery_ops.store import Store

#: Columns compared: every one an event sets.
COMPARED = ("task_name", "queue", "status", "attempts", "published_at", "received_at",
            "started_at", "completed_at", "failed_at", "worker_id", "pid", "result",
            "error_type", "error_message", "execution_time_ms")  # fmt: skip
T0 = 1_780_000_000.0


def lifecycle(task_id: str, retries: int, outcome: str) -> list[ExecutionEvent]:
    """What the signals record for one task, in the order it happens: published, then per
    attempt received, started and retried (or, last, succeeded or failed)."""
    at = T0
    events = [
        ExecutionEvent(task_id, "published", at, states.PENDING, 1,
                       {"task_name": "props.add", "queue": "q", "published_at": at}),
    ]  # fmt: skip
    for attempt in range(1, retries + 2):
        worker = f"worker-{attempt}"
        at += 1
        events.append(ExecutionEvent(task_id, "received", at, states.RECEIVED, attempt,
                                     {"received_at": at, "worker_id": worker}))  # fmt: skip
        at += 1
        events.append(ExecutionEvent(task_id, "started", at, states.STARTED, attempt,
                                     {"started_at": at, "worker_id": worker, "pid": attempt,
                                      "attempts": 1, "received_at": at - 1}))  # fmt: skip
        at += 1
        if attempt <= retries:
            events.append(ExecutionEvent(task_id, "retried", at, states.RETRY, attempt,
                                         {"error_type": "Busy", "error_message": f"try {attempt}",
                                          "worker_id": worker}))  # fmt: skip
        elif outcome == states.SUCCESS:
            succeeded = ExecutionEvent(task_id, "succeeded", at, states.SUCCESS, attempt,
                                       {"completed_at": at, "worker_id": worker,
                                        "execution_time_ms": 1000.0})  # fmt: skip
            succeeded.result = attempt * 10
            events.append(succeeded)
        else:
            events.append(ExecutionEvent(task_id, "failed", at, states.FAILURE, attempt,
                                         {"completed_at": at, "failed_at": at,
                                          "worker_id": worker, "error_type": "KeyError",
                                          "error_message": "'k'"}))  # fmt: skip
    return events


def sources(events: list[ExecutionEvent]) -> list[list[int]]:
    """The events' indexes by the process that records them, each list in its order: the
    producer's publish, each worker's receipt, each pool child's start and end (a process's
    recorder is one queue and one flusher: its own events keep their order)."""
    by_source: dict[str, list[int]] = {}
    for index, event in enumerate(events):
        if event.name == "published":
            source = "producer"
        elif event.name == "received":
            source = f"main-{event.attempt}"
        else:
            source = f"child-{event.attempt}"
        by_source.setdefault(source, []).append(index)
    return list(by_source.values())


@st.composite
def arrivals(draw: st.DrawFn, events: list[ExecutionEvent]) -> list[list[int]]:
    """The batches the store receives: each process cuts its own events, in order, into
    flushes, and the flushes of all processes reach the store in any order."""
    flushes: list[list[list[int]]] = []
    for source in sources(events):
        cuts = sorted(draw(st.sets(st.integers(1, max(1, len(source) - 1)), max_size=2)))
        bounds = [0, *(c for c in cuts if c < len(source)), len(source)]
        flushes.append([source[a:b] for a, b in pairwise(bounds)])
    batches: list[list[int]] = []
    while any(flushes):
        process = draw(st.sampled_from([queue for queue in flushes if queue]))
        batches.append(process.pop(0))
    return batches


def stored(store: Store, task_id: str) -> dict[str, object]:
    row = store.execution(task_id)
    assert row is not None
    return {column: asdict(row)[column] for column in COMPARED}


@settings(max_examples=examples(60))
@given(data=st.data(), retries=st.integers(0, 2),
       outcome=st.sampled_from([states.SUCCESS, states.FAILURE]))  # fmt: skip
def test_any_order_and_batching_gives_the_row_of_the_real_order(
    store: Store, data: st.DataObject, retries: int, outcome: str
) -> None:
    in_order, shuffled = f"ordered-{uuid.uuid4()}", f"shuffled-{uuid.uuid4()}"
    store.write(fold_events(lifecycle(in_order, retries, outcome), 65_536, True))
    events = lifecycle(shuffled, retries, outcome)
    for batch in data.draw(arrivals(events)):
        store.write(fold_events([events[i] for i in batch], 65_536, True))
    expected = stored(store, in_order)
    assert expected["status"] == outcome and expected["attempts"] == retries + 1
    assert stored(store, shuffled) == expected
