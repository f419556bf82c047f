"""Where a producer's time goes: CPU per ``.delay()`` of each thread, and garbage collection.

    .venv/bin/python bench/publish_cpu.py --rounds 6 --count 10000

Each round publishes ``--count`` no-op tasks with ``.delay()`` from a new process, once with
plain Celery and once with celery-ops on PostgreSQL (in alternating order), and reads, over
the timed calls only: the rate, the publishing thread's CPU per call (``time.thread_time``),
the CPU of every other thread of the process (``/proc/self/task``: the flusher), and the
collections of each garbage-collector generation with the time they took. The throughput
ratio is what ``bench/recorder_overhead.py --workloads publish`` reports; the CPU split says
whether a change moved work off the publishing thread, onto it, or made it for the collector.
Thread CPU is noisy on a shared machine too: compare medians over rounds, side by side.

Redis db 9 (flushed before each run) and the PostgreSQL database of ``--pg-url`` (created if
missing, its tables emptied before each run), as ``bench/recorder_overhead.py`` uses them.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
CONFIGS = ("plain", "pg")


def measure(count: int, warmup: int) -> dict[str, Any]:
    """In the child: publish, and read the clocks of each thread and of the collector."""
    import bench_app

    task, args = bench_app.TASKS["noop"]
    for _ in range(warmup):
        task.delay(*args)
    recorder = None
    if bench_app.MODE == "ops":
        import celery_ops

        recorder = celery_ops.get_ops(bench_app.app).recorder
        recorder.flush(60.0)
    collected = [0.0, 0.0, 0.0]
    began: list[float] = [0.0]

    def timed(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            began[0] = time.perf_counter()
        else:
            collected[info["generation"]] += time.perf_counter() - began[0]

    gc.callbacks.append(timed)
    collections_before = [stats["collections"] for stats in gc.get_stats()]
    threads_before = _thread_ticks()
    main_before, started = time.thread_time(), time.perf_counter()
    for _ in range(count):
        task.delay(*args)
    elapsed = time.perf_counter() - started
    main_s = time.thread_time() - main_before
    threads_after = _thread_ticks()
    gc.callbacks.remove(timed)
    collections = [
        stats["collections"] - before
        for stats, before in zip(gc.get_stats(), collections_before, strict=True)
    ]
    if recorder is not None:
        recorder.flush(60.0)
    main_tid = str(_native_id())
    others = sum(
        ticks - threads_before.get(tid, 0)
        for tid, ticks in threads_after.items()
        if tid != main_tid
    )
    tick = os.sysconf("SC_CLK_TCK")
    return {
        "rate": count / elapsed,
        "main_us": main_s / count * 1e6,
        "other_threads_us": others / tick / count * 1e6,
        "gc_collections": collections,
        "gc_ms": [round(seconds * 1000, 2) for seconds in collected],
    }


def _native_id() -> int:
    import threading

    return threading.main_thread().native_id or 0


def _thread_ticks() -> dict[str, int]:
    ticks = {}
    for tid in os.listdir("/proc/self/task"):
        with open(f"/proc/self/task/{tid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        ticks[tid] = int(fields[11]) + int(fields[12])  # utime + stime
    return ticks


def run_child(config: str, options: argparse.Namespace) -> dict[str, Any]:
    import redis
    from recorder_overhead import OPS_TABLES, reset_pg

    redis.Redis.from_url(options.broker).flushdb()
    env = dict(os.environ)
    env.pop("CELERY_OPS_DATABASE_URL", None)
    env.pop("CELERY_OPS_WRITE_MODE", None)
    env.update(
        BENCH_MODE="plain" if config == "plain" else "ops",
        BENCH_BROKER_URL=options.broker,
        BENCH_DATABASE_URL=options.pg_url if config == "pg" else "",
        PYTHONPATH=os.pathsep.join(p for p in (str(BENCH_DIR), env.get("PYTHONPATH", "")) if p),
    )
    if config == "pg":
        reset_pg(options.pg_url, OPS_TABLES)
    completed = subprocess.run(
        [
            sys.executable,
            __file__,
            "--child",
            "--count",
            str(options.count),
            "--warmup",
            str(options.warmup),
        ],
        env=env,
        cwd=BENCH_DIR,
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    if completed.returncode != 0:
        raise SystemExit(f"the publisher failed:\n{completed.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--warmup", type=int, default=500)
    parser.add_argument("--broker", default="redis://127.0.0.1:6379/9")
    parser.add_argument(
        "--pg-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/bench_ops"
    )
    parser.add_argument("--json", help="write every run's figures to this file")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    options = parser.parse_args(argv)
    if options.child:
        print(json.dumps(measure(options.count, options.warmup)), flush=True)
        return 0

    from recorder_overhead import code_version, ensure_database

    from celery_ops.store import Store

    ensure_database(options.pg_url)
    Store(options.pg_url).upgrade()
    runs: list[dict[str, Any]] = []
    for round_no in range(1, options.rounds + 1):
        order = CONFIGS if round_no % 2 else tuple(reversed(CONFIGS))
        for config in order:
            result = run_child(config, options) | {"round": round_no, "config": config}
            runs.append(result)
            print(
                f"  round {round_no} {config:5s} {result['rate']:7.0f}/s  "
                f"publishing thread {result['main_us']:6.1f} µs  "
                f"other threads {result['other_threads_us']:5.1f} µs  "
                f"gc {result['gc_collections']} {result['gc_ms']} ms",
                flush=True,
            )
    print(f"\ncelery-ops {code_version()}, {options.count} calls per run, medians of the rounds:")
    by_round = {(r["round"], r["config"]): r for r in runs}
    for config in CONFIGS:
        mine = [r for r in runs if r["config"] == config]
        ratios = [
            r["rate"] / by_round[(r["round"], "plain")]["rate"]
            for r in mine
            if (r["round"], "plain") in by_round
        ]
        gc_ms = statistics.median(sum(r["gc_ms"]) for r in mine)
        print(
            f"  {config:5s} rate {statistics.median(r['rate'] for r in mine):7.0f}/s "
            f"(paired ratio {statistics.median(ratios):.3f})  "
            f"publishing thread {statistics.median(r['main_us'] for r in mine):6.1f} µs  "
            f"other threads {statistics.median(r['other_threads_us'] for r in mine):5.1f} µs  "
            f"gc {gc_ms / options.count * 1000:4.1f} µs per call"
        )
    if options.json:
        Path(options.json).write_text(json.dumps({"code": code_version(), "runs": runs}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
