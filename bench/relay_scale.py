#!/usr/bin/env python
"""Store connections against worker processes: direct and relay mode, side by side.

Starts a PostgreSQL server of its own (Debian's binaries, a temporary data directory,
``max_connections=300`` so that direct mode is not refused), then for each mode: a fresh
database, ``--workers`` workers of ``-c --concurrency`` prefork processes on a Redis broker
(8 x 8 = 64 pool processes by default), and a producer that sends ``--tasks`` no-op tasks.
While they run it samples ``pg_stat_activity`` for the database every 0.2 s. It reports the
most connections seen, the time until every execution was SUCCESS in the store, and checks
that every execution was recorded with its ``published`` entry and that no timeline entry is
doubled.

    .venv/bin/python bench/relay_scale.py                       # about 6 minutes
    .venv/bin/python bench/relay_scale.py --modes relay --tasks 5000
    .venv/bin/python bench/relay_scale.py --flow     # unique publishes and limited runs too

Needs the test extras (``pip install -e '.[test]'``) and Debian's ``postgresql`` package.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import redis
from sqlalchemy import create_engine, text

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR.parent / "tests"))
from helpers.throwaway_postgres import ThrowawayPostgres  # noqa: E402

CELERY = str(Path(sys.executable).with_name("celery"))
PORT = 55_433


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--modes", default="relay,direct")
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--tasks", type=int, default=20_000)
    parser.add_argument("--broker", default="redis://127.0.0.1:6379/12")
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument(
        "--flow",
        action="store_true",
        help="flow control too: every task unique (a claim per publish) and under a rate "
        "and a concurrency limit high enough to admit all (an admission per run)",
    )
    parser.add_argument("--json", default=None, help="write the results here")
    return parser.parse_args()


def count(engine: Any, query: str, **params: Any) -> int:
    with engine.connect() as connection:
        return int(connection.execute(text(query), params).scalar() or 0)


def run_mode(mode: str, server: ThrowawayPostgres, options: argparse.Namespace) -> dict[str, Any]:
    database = f"relay_scale_{mode}_{uuid.uuid4().hex[:6]}"
    admin = create_engine(server.url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{database}"'))
    url = server.url.rsplit("/", 1)[0] + f"/{database}"
    redis.Redis.from_url(options.broker).flushdb()
    env = {
        **os.environ,
        "BENCH_MODE": "ops",
        "BENCH_BROKER_URL": options.broker,
        "BENCH_DATABASE_URL": url,
        "BENCH_QUEUE": f"scale-{mode}",
        "CELERY_OPS_WRITE_MODE": mode,
        "CELERY_OPS_SPILL_DIR": f"/tmp/relay-scale-spill-{database}",
        "PYTHONPATH": str(BENCH_DIR),
    }
    if options.flow:
        env["BENCH_OPS_SETTINGS"] = json.dumps(
            {
                "rate_limits": {"bench.noop": "1000000/s"},
                "concurrency_limits": {"bench.noop": 100_000},
            }
        )
    env.pop("CELERY_OPS_DATABASE_URL", None)
    store = create_engine(url)
    subprocess.run(
        [CELERY, "-A", "bench_app", "ops", "db", "upgrade"],
        env=env,
        cwd=BENCH_DIR,
        check=True,
        capture_output=True,
    )
    workers = []
    logs = []
    for index in range(options.workers):
        log = open(f"/tmp/relay-scale-{mode}-{index}.log", "wb")  # noqa: SIM115
        logs.append(log)
        workers.append(
            subprocess.Popen(
                [
                    CELERY,
                    "-A",
                    "bench_app",
                    "worker",
                    "-P",
                    "prefork",
                    "-c",
                    str(options.concurrency),
                    "-n",
                    f"scale{index}@%h",
                    "--without-gossip",
                    "--without-mingle",
                    "-l",
                    "WARNING",
                ],
                env=env,
                cwd=BENCH_DIR,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )
    peak = 0
    sampling = threading.Event()

    def sample() -> None:
        nonlocal peak
        query = "SELECT count(*) FROM pg_stat_activity WHERE datname = :name"
        while not sampling.is_set():
            peak = max(peak, count(admin, query, name=database))
            sampling.wait(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        time.sleep(5)  # the workers start
        started = time.monotonic()
        published = subprocess.run(
            [
                sys.executable,
                "bench_app.py",
                "publish",
                "--count",
                str(options.tasks),
                *(["--unique"] if options.flow else []),
            ],
            env=env,
            cwd=BENCH_DIR,
            capture_output=True,
            text=True,
            check=True,
        )
        deadline = started + options.timeout
        done = 0
        while time.monotonic() < deadline:
            done = count(
                store, "SELECT count(*) FROM celery_ops_executions WHERE status = 'SUCCESS'"
            )
            if done >= options.tasks:
                break
            time.sleep(0.5)
        recorded_s = time.monotonic() - started
    finally:
        sampling.set()
        sampler.join()
        for worker in workers:
            os.killpg(worker.pid, signal.SIGTERM)
        for worker in workers:
            try:
                worker.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(worker.pid, signal.SIGKILL)
        for log in logs:
            log.close()
    without_publish = count(
        store,
        "SELECT count(*) FROM celery_ops_executions WHERE published_at IS NULL",
    )
    doubled = count(
        store,
        "SELECT count(*) FROM (SELECT task_id, event, at FROM celery_ops_events "
        "GROUP BY task_id, event, at HAVING count(*) > 1) AS d",
    )
    store.dispose()
    admin.dispose()
    return {
        "mode": mode,
        "flow_control": options.flow,
        "processes": options.workers * (options.concurrency + 1),
        "tasks": options.tasks,
        "success_rows": done,
        "rows_without_published": without_publish,
        "timeline_entries_doubled": doubled,
        "peak_connections": peak,
        "all_recorded_s": round(recorded_s, 1),
        "producer": json.loads(published.stdout.strip().splitlines()[-1]),
    }


def main() -> int:
    options = parse_args()
    server = ThrowawayPostgres(PORT)
    server.start(max_connections=300)
    results = []
    try:
        for mode in options.modes.split(","):
            result = run_mode(mode, server, options)
            results.append(result)
            print(
                f"{mode:7} processes={result['processes']} tasks={result['tasks']} "
                f"SUCCESS rows={result['success_rows']} "
                f"without published={result['rows_without_published']} "
                f"doubled entries={result['timeline_entries_doubled']} "
                f"peak store connections={result['peak_connections']} "
                f"all recorded after {result['all_recorded_s']} s",
                flush=True,
            )
    finally:
        server.remove()
    if options.json:
        Path(options.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
