"""What recording adds to one task in the pool process, measured in-process, plain vs celery-ops.

    .venv/bin/python bench/task_path_cost.py [--tasks 20000] [--rounds 5]

Two costs, per no-op task, in CPU time of the measuring thread:

* **task path**: Celery's own tracer (``celery.app.trace.build_tracer``, what a prefork pool
  process runs for every task) with the request a worker hands to the pool, without and with
  ``celery_ops.init_app``. With celery-ops, the signal handlers run and their events are
  collected in a list instead of the recorder's buffer, so no flusher runs beside them.
* **fold**: ``celery_ops.recording.folding.fold_events`` over the events those handlers produced, in
  batches of ``ops_flush_batch``: the flusher's work before it writes.

Each round runs plain and celery-ops in fresh processes (the signal receivers are global to a
process), alternating which goes first; the table gives medians over the rounds and the
paired ratio. No broker, database or worker is needed: the store is never written.
Complements ``bench/recorder_overhead.py``, which measures the same costs, with everything
else, as a worker's throughput.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
import uuid
from typing import Any

SENT_AT = "celery_ops_sent_at"
RECEIVED_AT = "celery_ops_received_at"


def measure(mode: str, tasks: int) -> dict[str, float]:
    """In this process: CPU µs per traced task (and per folded task, with celery-ops)."""
    from celery import Celery
    from celery.app.trace import build_tracer

    app = Celery("task_path_cost", broker="memory://", set_as_current=False)
    events: list[Any] = []
    full_batches: list[list[Any]] = []
    keep_batches = False
    if mode == "ops":
        import celery_ops

        ops = celery_ops.init_app(app, database_url="sqlite://")
        batch = ops.config.flush_batch

        def record(event: Any) -> None:
            # As many events stay alive as in the recorder's buffer between two flushes:
            # keeping them all would make the garbage collector, not recording, the cost.
            if len(events) >= batch:
                if keep_batches:
                    full_batches.append(list(events))
                events.clear()
            events.append(event)

        ops.recorder.record = record  # type: ignore[method-assign]

    @app.task(name="bench.noop", shared=False)
    def noop() -> None:
        return None

    app.finalize()
    # The task as a worker's pool has it: the decorator returned a proxy (the app was not
    # finalized yet), and every attribute read through a proxy costs a call.
    task = app.tasks[noop.name]
    tracer = build_tracer(task.name, task, eager=False, propagate=False, app=app)
    ids = [str(uuid.uuid4()) for _ in range(tasks)]
    requests = [_request(task_id) for task_id in ids]
    warm = tasks // 10
    for task_id, request in zip(ids[:warm], requests[:warm], strict=True):
        tracer(task_id, [], {}, request)

    def trace_all() -> float:
        events.clear()
        started = time.thread_time()
        for task_id, request in zip(ids[warm:], requests[warm:], strict=True):
            request[RECEIVED_AT] = time.time()  # received just now, as in a busy worker
            tracer(task_id, [], {}, request)
        return time.thread_time() - started

    traced = tasks - warm
    result = {"trace_us": trace_all() / traced * 1e6}
    if mode == "ops":
        from celery_ops.recording.folding import fold_events

        # The flusher's work on what the handlers recorded, batch by batch.
        keep_batches = True
        trace_all()
        config = ops.config
        recorded = sum(map(len, full_batches)) + len(events)
        started = time.thread_time()
        for batch_events in full_batches:
            fold_events(batch_events, config.max_payload_bytes, config.store_message_args)
        per_event = (time.thread_time() - started) / sum(map(len, full_batches))
        result["events_per_task"] = recorded / traced
        result["fold_us"] = per_event * result["events_per_task"] * 1e6
    return result


def _request(task_id: str) -> dict[str, Any]:
    """The fields of a message from a producer with celery-ops, as the pool gets them."""
    now = time.time()
    return {
        "id": task_id,
        "task": "bench.noop",
        "hostname": "celery@bench",
        "delivery_info": {"exchange": "", "routing_key": "celery", "redelivered": False},
        "root_id": task_id,
        "parent_id": None,
        "group": None,
        "retries": 0,
        "is_eager": False,
        "args": [],
        "kwargs": {},
        "argsrepr": "()",
        "kwargsrepr": "{}",
        SENT_AT: now,
        RECEIVED_AT: now,
    }


def run(mode: str, tasks: int) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", mode, "--tasks", str(tasks)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return dict(json.loads(out.strip().splitlines()[-1]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--child", choices=("plain", "ops"), help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.child:
        print(json.dumps(measure(options.child, options.tasks)))
        return 0
    plain: list[float] = []
    ops: list[dict[str, float]] = []
    for round_number in range(options.rounds):
        order = ("plain", "ops") if round_number % 2 == 0 else ("ops", "plain")
        results = {mode: run(mode, options.tasks) for mode in order}
        plain.append(results["plain"]["trace_us"])
        ops.append(results["ops"])
        print(
            f"round {round_number + 1}: task path plain {plain[-1]:.1f} µs, "
            f"celery-ops {ops[-1]['trace_us']:.1f} µs; fold {ops[-1]['fold_us']:.1f} µs/task",
            flush=True,
        )
    added = [o["trace_us"] - p for o, p in zip(ops, plain, strict=True)]
    print(
        f"\nper no-op task, median of {options.rounds} rounds ({options.tasks} tasks each):\n"
        f"  task path, plain Celery      {statistics.median(plain):7.1f} µs\n"
        f"  task path, with celery-ops   {statistics.median(o['trace_us'] for o in ops):7.1f} µs"
        f"  (+{statistics.median(added):.1f} µs, paired)\n"
        f"  fold, on the flusher thread  {statistics.median(o['fold_us'] for o in ops):7.1f} µs"
        f"  ({ops[0]['events_per_task']:.0f} events per task)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
