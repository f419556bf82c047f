"""The Celery app of ``bench/recorder_overhead.py``; it configures itself from the environment.

Environment (set by the benchmark script for each configuration):

``BENCH_MODE``          ``plain`` (no result backend, no celery-ops), ``ops`` (celery-ops) or
                        ``backend`` (Celery's own SQLAlchemy result backend, result_extended)
``BENCH_BROKER_URL``    e.g. ``redis://127.0.0.1:6379/9``
``BENCH_DATABASE_URL``  the celery-ops store URL (ops) or ``db+postgresql+psycopg://...`` (backend)
``BENCH_QUEUE``         the queue every task is sent to and the worker consumes
``BENCH_EXPECT``        (worker) how many tasks the run has; the completion monitor uses it
``BENCH_RUN_KEY``       (worker) Redis key prefix where the monitor writes its timestamps
``BENCH_OPS_SETTINGS``  (ops, optional) JSON object of extra ``init_app`` keyword settings

The completion monitor is a thread of the worker's *main* process, started on
``worker_ready``. Every 5 ms it reads Celery's own bookkeeping (``celery.worker.state``): a task
is counted in ``all_total_count`` when a pool child accepts it and leaves ``active_requests``
when its result is back in the main process. When all ``BENCH_EXPECT`` tasks were accepted and
none is reserved or active, every task has completed: the monitor writes the time to Redis once.
Nothing is added to the tasks themselves, and the monitor is identical in every configuration.

Run as a script, it publishes tasks (``python bench_app.py publish --count N --task noop``) and
prints a JSON line with the timings.
"""

from __future__ import annotations

import itertools
import json
import os
import sys
import threading
import time
import uuid
from typing import Any

from celery import Celery, signals

MODE = os.environ.get("BENCH_MODE", "plain")
BROKER_URL = os.environ.get("BENCH_BROKER_URL", "redis://127.0.0.1:6379/9")
DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", "")
QUEUE = os.environ.get("BENCH_QUEUE", "bench")

if MODE not in ("plain", "ops", "backend"):
    raise SystemExit(f"BENCH_MODE must be plain, ops or backend, not {MODE!r}")

app = Celery("bench_app", broker=BROKER_URL)
app.conf.update(
    task_default_queue=QUEUE,
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=True,
)
if MODE == "backend":
    if not DATABASE_URL.startswith("db+"):
        raise SystemExit("BENCH_MODE=backend needs BENCH_DATABASE_URL=db+postgresql+psycopg://...")
    app.conf.update(result_backend=DATABASE_URL, result_extended=True)
elif MODE == "ops":
    import celery_ops

    extra: dict[str, Any] = json.loads(os.environ.get("BENCH_OPS_SETTINGS") or "{}")
    celery_ops.init_app(app, database_url=DATABASE_URL, **extra)


@app.task(name="bench.noop")
def noop() -> None:
    return None


@app.task(name="bench.sleep")
def sleep(ms: float) -> None:
    time.sleep(ms / 1000.0)


TASKS = {"noop": (noop, ()), "sleep": (sleep, (5,))}


# The completion monitor (worker main process only)


@signals.worker_ready.connect(weak=False)
def _start_monitor(sender: Any = None, **_: Any) -> None:
    expect = int(os.environ.get("BENCH_EXPECT") or 0)
    run_key = os.environ.get("BENCH_RUN_KEY")
    if not expect or not run_key:
        return
    import redis

    ready_at = time.time()
    client = redis.Redis.from_url(BROKER_URL)
    client.set(f"{run_key}:ready", repr(ready_at))
    thread = threading.Thread(
        target=_monitor, args=(client, run_key, expect), name="bench-monitor", daemon=True
    )
    thread.start()


def _monitor(client: Any, run_key: str, expect: int) -> None:
    from celery.worker import state

    while True:
        time.sleep(0.005)
        if (
            state.all_total_count[0] >= expect
            and not len(state.active_requests)
            and not len(state.reserved_requests)
        ):
            done_at = time.time()
            client.set(
                f"{run_key}:done",
                json.dumps({"at": done_at, "accepted": state.all_total_count[0]}),
            )
            return


# Publishing (run as a script)


def publish(count: int, task: str, warmup: int, unique: bool = False) -> dict[str, Any]:
    """Send ``warmup`` then ``count`` messages with ``.delay()``; time the ``count`` ones.
    With ``unique``, each call is a unique task of its own key (a claim per call)."""
    func, args = TASKS[task]
    calls = itertools.count()
    run = uuid.uuid4().hex[:8]

    def send() -> None:
        if unique:
            key = f"{run}-{next(calls)}"
            func.apply_async(args, headers={"ops_unique_key": key, "ops_unique_for": 600})
        else:
            func.delay(*args)

    for _ in range(warmup):
        send()
    if MODE == "ops":
        import celery_ops

        celery_ops.get_ops(app).recorder.flush(60.0)
    started = time.perf_counter()
    for _ in range(count):
        send()
    elapsed = time.perf_counter() - started
    result: dict[str, Any] = {"count": count, "publish_s": elapsed, "flush_s": None}
    if MODE == "ops":
        import celery_ops

        recorder = celery_ops.get_ops(app).recorder
        started = time.perf_counter()
        flushed = recorder.flush(300.0)
        result["flush_s"] = time.perf_counter() - started
        result["flushed"] = flushed
        result["recorded"] = recorder.stats.recorded
        result["written"] = recorder.stats.written
        result["dropped"] = recorder.stats.dropped
    return result


def main(argv: list[str]) -> int:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    pub = sub.add_parser("publish")
    pub.add_argument("--count", type=int, required=True)
    pub.add_argument("--task", choices=sorted(TASKS), default="noop")
    pub.add_argument("--warmup", type=int, default=0)
    pub.add_argument("--unique", action="store_true", help="each call a unique key")
    options = parser.parse_args(argv)
    result = publish(options.count, options.task, options.warmup, options.unique)
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
