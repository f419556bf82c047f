#!/usr/bin/env python
"""What the workers and queues views cost: one ``ops_report`` broadcast against Celery's seven
inspect calls, and the answer time of ``GET /api/workers``, ``GET /api/workers/<host>`` and
``GET /api/queues``.

Starts ``--workers`` real workers of the benchmark app (celery-ops mode, prefork ``-c 2``) on
Redis with the store on PostgreSQL, then runs ``--rounds`` interleaved rounds: in each, the
seven standard inspect calls (``stats``, ``active``, ``reserved``, ``scheduled``,
``registered``, ``active_queues``, ``conf``, each waiting for every worker's answer) and one
``ops_report`` broadcast gathering the same, then each API call through Flask's test client.
Prints the medians and the paired ratio (seven calls / one broadcast) per round's median.

    .venv/bin/python bench/cluster_views.py                 # 4 workers, 15 rounds
    .venv/bin/python bench/cluster_views.py --workers 8
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR.parent / "tests"))
from helpers.workers import WorkerProcess  # noqa: E402

STANDARD = ("stats", "active", "reserved", "scheduled", "registered", "active_queues", "conf")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--broker", default="redis://127.0.0.1:6379/11")
    parser.add_argument("--database", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--json", default=None, help="Also write the figures to this file.")
    return parser.parse_args()


def timed(call: Any) -> float:
    started = time.perf_counter()
    call()
    return (time.perf_counter() - started) * 1000


def main() -> int:
    options = parse_args()
    queue = f"cluster-bench-{uuid.uuid4().hex[:6]}"
    env = {
        "BENCH_MODE": "ops",
        "BENCH_BROKER_URL": options.broker,
        "BENCH_DATABASE_URL": options.database,
        "BENCH_QUEUE": queue,
        "BENCH_EXPECT": "0",
        "BENCH_RUN_KEY": f"cluster-bench:{queue}",
    }
    os.environ.update(env)
    import bench_app

    from celery_ops import get_ops
    from celery_ops.dashboard import create_app
    from celery_ops.operations import Actor

    ops = get_ops(bench_app.app)
    ops.store.upgrade()
    workers = [
        WorkerProcess(
            "bench_app", BENCH_DIR, env, f"bench{i}-{uuid.uuid4().hex[:4]}@h", concurrency=2
        )
        for i in range(options.workers)
    ]
    try:
        for worker in workers:
            worker.wait_ready(60)
        time.sleep(1.0)  # every worker's heartbeat is in the store
        names = [w.hostname for w in workers]
        control = bench_app.app.control
        accounts = ops.operations(Actor.system("bench")).accounts
        if "bench" not in {user.username for user in accounts.users()}:
            accounts.add("bench", "bench-password-1", "viewer")
        web = create_app(bench_app.app, SECRET_KEY="bench").test_client()
        auth = {"Authorization": "Basic " + base64.b64encode(b"bench:bench-password-1").decode()}

        def seven() -> None:
            inspector = control.inspect(destination=names, timeout=1.0, limit=len(names))
            for command in STANDARD:
                replies = getattr(inspector, command)()
                assert replies is not None and len(replies) == len(names), command

        def one() -> None:
            replies = control.broadcast(
                "ops_report", reply=True, destination=names, timeout=1.0, limit=len(names)
            )
            assert len(replies) == len(names)

        def api(path: str) -> Any:
            return lambda: web.get(path, headers=auth).status_code == 200 or sys.exit(path)

        calls = {
            "seven inspect calls": seven,
            "one ops_report broadcast": one,
            "GET /api/workers": api("/api/workers"),
            f"GET /api/workers/{names[0]}": api(f"/api/workers/{names[0]}"),
            "GET /api/queues": api("/api/queues"),
        }
        samples: dict[str, list[float]] = {name: [] for name in calls}
        ratios = []
        for _ in range(options.rounds):
            round_times = {name: timed(call) for name, call in calls.items()}
            for name, ms in round_times.items():
                samples[name].append(ms)
            seven_ms, one_ms = (
                round_times["seven inspect calls"],
                round_times["one ops_report broadcast"],
            )
            ratios.append(seven_ms / one_ms)
        figures = {
            "workers": options.workers,
            "rounds": options.rounds,
            "median_ms": {name: round(statistics.median(v), 1) for name, v in samples.items()},
            "p95_ms": {
                name: round(sorted(v)[max(0, int(len(v) * 0.95) - 1)], 1)
                for name, v in samples.items()
            },
            "seven_over_one_paired_median": round(statistics.median(ratios), 2),
        }
        print(json.dumps(figures, indent=2))
        if options.json:
            Path(options.json).write_text(json.dumps(figures, indent=2))
    finally:
        for worker in workers:
            worker.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
