#!/usr/bin/env python
"""Relay mode through outages: the store down for a minute while producers exit and a worker
restarts, and the broker down too for part of it. Nothing may be lost or doubled.

A PostgreSQL and a Redis of its own (Debian's binaries; Redis with an append-only file, as a
production broker keeps one), the benchmark app in relay mode, one worker of ``-c 4``:

1. 500 tasks of 5 ms are sent by a producer that exits.
2. PostgreSQL stops. A second producer sends 1,000 tasks and exits (its exit time is
   reported: it must not wait for the store). The worker restarts (warm shutdown, new worker).
   A third producer sends the last 500 and exits.
3. With ``--redis-outage S``, once the queue is drained Redis stops for S seconds (the
   processes' batches, heartbeats included, go to spill files), then starts again.
4. PostgreSQL starts again ``--pg-outage`` seconds after it stopped.

Then it waits until every execution is in the store and checks: 2,000 executions, each with
its ``published`` entry and a final status, no timeline entry doubled, no spill file left.

    .venv/bin/python bench/relay_outage.py                       # PostgreSQL 60 s, Redis 10 s
    .venv/bin/python bench/relay_outage.py --redis-outage 0      # PostgreSQL only
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import redis
from sqlalchemy import create_engine, text

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR.parent / "tests"))
from helpers.throwaway_postgres import ThrowawayPostgres  # noqa: E402
from helpers.throwaway_redis import ThrowawayRedis  # noqa: E402

CELERY = str(Path(sys.executable).with_name("celery"))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pg-outage", type=float, default=60.0)
    parser.add_argument("--redis-outage", type=float, default=10.0)
    parser.add_argument("--json", default=None)
    return parser.parse_args()


class Worker:
    def __init__(self, env: dict[str, str], name: str, log: Path) -> None:
        self._log = open(log, "ab")  # noqa: SIM115
        self.process = subprocess.Popen(
            [
                *(CELERY, "-A", "bench_app", "worker", "-P", "prefork", "-c", "4"),
                *("-n", f"{name}@%h", "--without-gossip", "--without-mingle", "-l", "INFO"),
                *("--prefetch-multiplier", "1"),
            ],
            env=env,
            cwd=BENCH_DIR,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.log_path = log
        deadline = time.monotonic() + 60
        while b"ready." not in log.read_bytes():
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise SystemExit(f"worker {name} did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.2)

    def stop(self) -> None:
        """Warm shutdown: SIGTERM to the main process, which lets running tasks finish."""
        os.kill(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
        self._log.close()


def produce(env: dict[str, str], count: int) -> float:
    """Send ``count`` 5 ms tasks from a process that then exits; its lifetime in seconds."""
    started = time.monotonic()
    subprocess.run(
        [sys.executable, "bench_app.py", "publish", "--count", str(count), "--task", "sleep"],
        env=env,
        cwd=BENCH_DIR,
        check=True,
        capture_output=True,
    )
    return time.monotonic() - started


def main() -> int:
    options = parse_args()
    workdir = Path(f"/tmp/relay-outage-{os.getpid()}")
    workdir.mkdir()
    database, broker = ThrowawayPostgres(free_port()), ThrowawayRedis(free_port())
    database.start()
    broker.start()
    env = {
        **os.environ,
        "BENCH_MODE": "ops",
        "BENCH_BROKER_URL": broker.url,
        "BENCH_DATABASE_URL": database.url,
        "BENCH_QUEUE": "outage",
        "BENCH_OPS_SETTINGS": json.dumps({"heartbeat_interval": 1.0}),
        "CELERY_OPS_WRITE_MODE": "relay",
        "CELERY_OPS_SPILL_DIR": str(workdir / "spill"),
        "PYTHONPATH": str(BENCH_DIR),
    }
    env.pop("CELERY_OPS_DATABASE_URL", None)
    queue = redis.Redis.from_url(broker.url)
    result: dict[str, Any] = {"pg_outage_s": options.pg_outage, "redis_outage_s": 0.0}
    workers: list[Worker] = []
    try:
        subprocess.run(
            [CELERY, "-A", "bench_app", "ops", "db", "upgrade"],
            env=env,
            cwd=BENCH_DIR,
            check=True,
            capture_output=True,
        )
        workers.append(Worker(env, "first", workdir / "first.log"))
        produce(env, 500)
        database.stop()
        stopped = time.monotonic()
        result["producer_exit_s"] = round(produce(env, 1000), 2)
        workers[-1].stop()
        workers.append(Worker(env, "second", workdir / "second.log"))
        produce(env, 500)
        while queue.llen("outage"):
            time.sleep(0.2)
        if options.redis_outage:
            time.sleep(1)
            broker.stop()
            down = time.monotonic()
            spilled = 0
            while time.monotonic() - down < options.redis_outage:
                spilled = max(spilled, len(list((workdir / "spill").glob("*.spill"))))
                time.sleep(0.2)
            broker.start()
            result["redis_outage_s"] = round(time.monotonic() - down, 1)
            result["spill_files_seen"] = spilled
        time.sleep(max(0.0, options.pg_outage - (time.monotonic() - stopped)))
        database.start()
        result["store_down_s"] = round(time.monotonic() - stopped, 1)
        back = time.monotonic()
        engine = create_engine(database.url)
        final = (
            "SELECT count(*) FROM celery_ops_executions WHERE published_at IS NOT NULL "
            "AND status IN ('SUCCESS', 'FAILURE')"
        )
        recorded = 0
        while time.monotonic() - back < 300:
            with engine.connect() as connection:
                recorded = int(connection.execute(text(final)).scalar_one())
            if recorded >= 2000:
                break
            time.sleep(0.5)
        result["all_recorded_after_store_back_s"] = round(time.monotonic() - back, 1)
        with engine.connect() as connection:
            result["executions"] = int(
                connection.execute(text("SELECT count(*) FROM celery_ops_executions")).scalar_one()
            )
            result["with_published_and_final"] = recorded
            result["statuses"] = dict(
                connection.execute(
                    text("SELECT status, count(*) FROM celery_ops_executions GROUP BY 1")
                ).all()
            )
            result["timeline_entries_doubled"] = int(
                connection.execute(
                    text(
                        "SELECT count(*) FROM (SELECT task_id, event, at FROM celery_ops_events "
                        "GROUP BY task_id, event, at HAVING count(*) > 1) AS d"
                    )
                ).scalar_one()
            )
        engine.dispose()
        time.sleep(3)
        result["spill_files_left"] = len(list((workdir / "spill").glob("*.spill")))
    finally:
        for worker in workers:
            if worker.process.poll() is None:
                worker.stop()
        database.remove()
        broker.remove()
    print(json.dumps(result, indent=2))
    if options.json:
        Path(options.json).write_text(json.dumps(result, indent=2))
    ok = (
        result.get("with_published_and_final") == 2000
        and result.get("executions") == 2000
        and result.get("timeline_entries_doubled") == 0
        and result.get("spill_files_left") == 0
    )
    print("OK: nothing lost, nothing doubled" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
