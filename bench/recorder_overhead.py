#!/usr/bin/env python
"""How much does celery-ops cost a Celery worker and a producer? Interleaved A/B benchmark.

Configurations (all: Redis broker, ``prefork -c 2``, default Celery settings otherwise):

``plain``    Celery, no result backend, no celery-ops
``sqlite``   Celery + celery-ops, SQLite store (a fresh file per run)
``pg``       Celery + celery-ops, PostgreSQL store (tables truncated before each run)
``relay``    Celery + celery-ops in relay mode: batches go through a Redis stream on the
             broker, and the worker's main process ingests them into PostgreSQL
``backend``  Celery's own SQLAlchemy result backend on PostgreSQL, ``result_extended=True``,
             no celery-ops (table truncated before each run)

Workloads: ``noop`` (a task that returns None), ``sleep`` (a task that sleeps 5 ms) and
``publish`` (the producer: ``.delay()`` in one process, plain vs celery-ops on PostgreSQL).

For each worker run: the Redis db is flushed and the store reset, N messages are published
with the worker stopped (the publisher uses the same app configuration as the worker, so with
celery-ops the executions exist as PENDING, as in production), then
``celery -A bench_app worker -P prefork -c 2 --without-gossip --without-mingle
--without-heartbeat -l WARNING`` starts in its own process group. Throughput is N divided by
the time from ``worker_ready`` to the moment the worker's main process holds every result
(see the completion monitor in ``bench_app.py``). With celery-ops the script then waits until
the store has N executions in SUCCESS and reports that extra delay as the "recorded-by" lag.
Rounds interleave the configurations (plain, sqlite, pg, backend, then in reverse order in
the next round, ...) so that a background load hits all of them alike, and neither side is
always first. Two ratios to plain are reported: the median of the per-round ratios (each
configuration against the plain run of the same round, minutes apart: the speed of a shared
machine drifts by 30 % or more over a benchmark, and pairing takes the drift out of the
comparison) and the ratio of the medians over all rounds. The targets are checked on the
first; both are printed and written to the JSON file.

Example::

    .venv/bin/python bench/recorder_overhead.py --json bench/results/recorder_overhead.json
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import redis
from sqlalchemy import create_engine, inspect, make_url, text

BENCH_DIR = Path(__file__).resolve().parent
BIN_DIR = Path(sys.executable).parent
CONFIGS = ("plain", "sqlite", "pg", "relay", "backend")
WORKLOADS = ("noop", "sleep", "publish")
PUBLISH_CONFIGS = ("plain", "pg", "relay")
OPS_TABLES = (
    "celery_ops_executions",
    "celery_ops_events",
    "celery_ops_workers",
    "celery_ops_definitions",
    "celery_ops_relayed_batches",
    "celery_ops_leases",
)
BACKEND_TABLES = ("celery_taskmeta", "celery_tasksetmeta")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

# Targets of the issue: ratio of celery-ops (PostgreSQL store) to plain Celery.
TARGETS = {"noop": 0.90, "sleep": 0.95, "publish": 0.90}
# "Clearly faster than Celery's result backend", as we read it: at least 25 % more tasks/s.
CLEARLY_FASTER = 1.25
#: Relay mode against direct mode on PostgreSQL: not slower (paired median).
RELAY_VS_DIRECT = 0.97


@dataclass
class Run:
    workload: str
    config: str
    round: int
    tasks: int
    ok: bool = True
    error: str | None = None
    publish_s: float | None = None  # pre-publishing time (not part of the measurement)
    wall_s: float | None = None  # worker ready -> all tasks completed
    rate: float | None = None  # tasks/s over wall_s
    recorded_lag_s: float | None = None  # all completed -> all SUCCESS rows in the store
    rate_incl_recording: float | None = None  # tasks / (ready -> all recorded)
    worker_cpu_s: float | None = None  # CPU of the worker's process group, ready -> recorded
    # CPU of the worker's main process alone (it feeds the pool: the bottleneck on no-op tasks)
    main_cpu_s: float | None = None
    # CPU of the servers on this machine (PostgreSQL and Redis processes), same window: the
    # worker shares the 2 cores with them, so what the store costs them counts too.
    servers_cpu_s: float | None = None
    flush_s: float | None = None  # publish workload: wait for the producer's buffer to drain
    loadavg: float | None = None  # 1-min load average when the run started
    code: str | None = None  # celery-ops commit when the run started ("+dirty": uncommitted)
    extra: dict[str, Any] = field(default_factory=dict)


class BenchError(RuntimeError):
    pass


def code_version() -> str:
    """The commit of the celery-ops checkout (installed editable: what new processes import)."""
    repo = BENCH_DIR.parent
    try:
        head = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(repo), "status", "--porcelain", "--", "celery_ops"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("+dirty" if dirty else "")


# Stores


def _sqlalchemy_url(url: str) -> str:
    return url.removeprefix("db+")


def ensure_database(url: str) -> None:
    """Create the PostgreSQL database of ``url`` when it does not exist."""
    parsed = make_url(_sqlalchemy_url(url))
    engine = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            exists = connection.execute(
                text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": parsed.database}
            ).first()
            if not exists:
                connection.execute(text(f'CREATE DATABASE "{parsed.database}"'))
    finally:
        engine.dispose()


def reset_pg(url: str, tables: tuple[str, ...]) -> None:
    """Empty the benchmark's tables (the schema stays) and checkpoint, before each run."""
    engine = create_engine(_sqlalchemy_url(url), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            present = [t for t in tables if inspect(connection).has_table(t)]
            if present:
                connection.execute(text(f"TRUNCATE {', '.join(present)} RESTART IDENTITY"))
            connection.execute(text("CHECKPOINT"))
    finally:
        engine.dispose()


def count_rows(engine: Any, query: str) -> int:
    with engine.connect() as connection:
        return int(connection.execute(text(query)).scalar() or 0)


# Worker processes


def _processes() -> Iterator[tuple[str, list[str]]]:
    """The command and the /proc/<pid>/stat fields (from field 3 on) of every process."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                text = stat.read()
        except OSError:
            continue
        yield text[text.index("(") + 1 : text.rindex(")")], text.rsplit(")", 1)[1].split()


def _cpu_ticks(fields: list[str]) -> int:
    # fields[0] is field 3 (state): pgrp is field 5, utime 14, stime 15.
    return int(fields[11]) + int(fields[12])


def group_cpu_seconds(pgid: int) -> float:
    """User + system CPU of every live process of process group ``pgid``."""
    return sum(_cpu_ticks(f) for _, f in _processes() if int(f[2]) == pgid) / CLOCK_TICKS


SERVER_COMMANDS = ("postgres", "redis-server")


def servers_cpu_seconds() -> float:
    """User + system CPU of every PostgreSQL and Redis process on this machine."""
    ticks = sum(_cpu_ticks(f) for command, f in _processes() if command in SERVER_COMMANDS)
    return ticks / CLOCK_TICKS


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU of process ``pid`` alone (every thread of it)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stop_group(process: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    """Warm shutdown of the worker, then SIGKILL its whole process group; wait until gone."""
    pgid = process.pid  # start_new_session: the worker leads its own group
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(10)
    deadline = time.monotonic() + 10
    while group_alive(pgid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if group_alive(pgid):
        raise BenchError(f"processes of group {pgid} survived SIGKILL")


_current_worker: subprocess.Popen[bytes] | None = None


def _on_signal(signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


# The benchmark


class Bench:
    def __init__(self, options: argparse.Namespace) -> None:
        self.options = options
        self.redis = redis.Redis.from_url(options.broker)
        self.queue = options.queue
        self.workdir = Path(tempfile.mkdtemp(prefix="celery-ops-bench-"))
        self.logdir = Path(options.log_dir) if options.log_dir else self.workdir / "logs"
        self.logdir.mkdir(parents=True, exist_ok=True)
        self.runs: list[Run] = []

    def close(self) -> None:
        if not self.options.log_dir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    # Environment of one configuration

    def env(self, config: str, store_url: str | None) -> dict[str, str]:
        env = dict(os.environ)
        env.pop("CELERY_OPS_DATABASE_URL", None)
        env.update(
            BENCH_MODE={"plain": "plain", "backend": "backend"}.get(config, "ops"),
            BENCH_BROKER_URL=self.options.broker,
            BENCH_QUEUE=self.queue,
            BENCH_DATABASE_URL=store_url or "",
            BENCH_OPS_SETTINGS=self.options.ops_settings or "",
            PYTHONPATH=os.pathsep.join(p for p in (str(BENCH_DIR), env.get("PYTHONPATH", "")) if p),
        )
        env.pop("CELERY_OPS_WRITE_MODE", None)
        if config == "relay":
            env.update(
                CELERY_OPS_WRITE_MODE="relay", CELERY_OPS_SPILL_DIR=str(self.workdir / "spill")
            )
        return env

    def store_url(self, config: str, run_id: str) -> str | None:
        if config == "sqlite":
            return f"sqlite:///{self.workdir / f'ops-{run_id}.sqlite3'}"
        if config in ("pg", "relay"):
            return self.options.pg_url
        if config == "backend":
            return self.options.backend_url
        return None

    def reset(self, config: str, url: str | None) -> None:
        self.redis.flushdb()
        if config in ("pg", "relay"):
            assert url
            reset_pg(url, OPS_TABLES)
        elif config == "backend":
            assert url
            reset_pg(url, BACKEND_TABLES)
        elif config == "sqlite":
            for path in self.workdir.glob("ops-*.sqlite3*"):
                path.unlink()

    def publish(
        self, env: dict[str, str], count: int, task: str, warmup: int = 0
    ) -> dict[str, Any]:
        completed = subprocess.run(
            [
                sys.executable,
                str(BENCH_DIR / "bench_app.py"),
                "publish",
                "--count",
                str(count),
                "--task",
                task,
                "--warmup",
                str(warmup),
            ],
            env=env,
            cwd=BENCH_DIR,
            capture_output=True,
            text=True,
            timeout=1800,
        )
        if completed.returncode != 0:
            raise BenchError(f"publisher failed:\n{completed.stderr[-3000:]}")
        return json.loads(completed.stdout.strip().splitlines()[-1])

    # One worker run

    def worker_run(self, workload: str, config: str, round_no: int, tasks: int) -> Run:
        run = Run(
            workload, config, round_no, tasks, loadavg=os.getloadavg()[0], code=code_version()
        )
        run_id = uuid.uuid4().hex[:8]
        url = self.store_url(config, run_id)
        self.reset(config, url)
        env = self.env(config, url)
        run.publish_s = self.publish(env, tasks, workload)["publish_s"]
        queued = self.redis.llen(self.queue)
        if queued != tasks:
            raise BenchError(f"{queued} messages in the queue after publishing {tasks}")

        run_key = f"bench:{run_id}"
        env.update(BENCH_EXPECT=str(tasks), BENCH_RUN_KEY=run_key)
        log_path = self.logdir / f"{workload}-{config}-r{round_no}-{run_id}.log"
        command = [
            str(BIN_DIR / "celery"),
            "-A",
            "bench_app",
            "worker",
            "-P",
            "prefork",
            "-c",
            str(self.options.concurrency),
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "-l",
            "WARNING",
        ]
        global _current_worker
        with open(log_path, "wb") as log:
            process = subprocess.Popen(
                command,
                env=env,
                cwd=BENCH_DIR,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        _current_worker = process
        try:
            ready_at = float(self._wait_key(f"{run_key}:ready", process, 120.0, log_path))
            cpu_ready = group_cpu_seconds(process.pid)
            main_ready = process_cpu_seconds(process.pid)
            servers_ready = servers_cpu_seconds()
            done = json.loads(
                self._wait_key(f"{run_key}:done", process, self.options.run_timeout, log_path)
            )
            run.wall_s = done["at"] - ready_at
            run.rate = tasks / run.wall_s
            left = self.redis.llen(self.queue)
            if left:
                raise BenchError(f"{left} messages still queued after completion")
            if config in ("sqlite", "pg", "relay"):
                assert url
                recorded_at = self._wait_recorded(url, tasks, process, log_path)
                run.recorded_lag_s = max(0.0, recorded_at - done["at"])
                run.rate_incl_recording = tasks / (recorded_at - ready_at)
            elif config == "backend":
                assert url
                engine = create_engine(_sqlalchemy_url(url))
                try:
                    stored = count_rows(
                        engine, "SELECT count(*) FROM celery_taskmeta WHERE status = 'SUCCESS'"
                    )
                finally:
                    engine.dispose()
                run.extra["backend_rows"] = stored
                if stored != tasks:
                    raise BenchError(f"result backend holds {stored} results, expected {tasks}")
            run.worker_cpu_s = group_cpu_seconds(process.pid) - cpu_ready
            run.main_cpu_s = process_cpu_seconds(process.pid) - main_ready
            run.servers_cpu_s = servers_cpu_seconds() - servers_ready
        finally:
            stop_group(process)
            _current_worker = None
        if not self.options.log_dir:
            log_path.unlink(missing_ok=True)
        return run

    def _wait_key(
        self, key: str, process: subprocess.Popen[bytes], timeout: float, log_path: Path
    ) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = self.redis.get(key)
            if value is not None:
                return value.decode()
            if process.poll() is not None:
                raise BenchError(f"worker exited with {process.returncode}:\n{_tail(log_path)}")
            time.sleep(0.05)
        raise BenchError(f"timed out after {timeout:.0f}s waiting for {key}:\n{_tail(log_path)}")

    def _wait_recorded(
        self, url: str, tasks: int, process: subprocess.Popen[bytes], log_path: Path
    ) -> float:
        engine = create_engine(url)
        query = "SELECT count(*) FROM celery_ops_executions WHERE status = 'SUCCESS'"
        deadline = time.monotonic() + self.options.record_timeout
        try:
            while True:
                recorded = count_rows(engine, query)
                now = time.time()
                if recorded >= tasks:
                    return now
                if time.monotonic() > deadline:
                    raise BenchError(
                        f"only {recorded}/{tasks} executions in SUCCESS after "
                        f"{self.options.record_timeout:.0f}s:\n{_tail(log_path)}"
                    )
                if process.poll() is not None:
                    raise BenchError(f"worker exited early:\n{_tail(log_path)}")
                time.sleep(0.1)
        finally:
            engine.dispose()

    # The producer

    def publish_run(self, config: str, round_no: int, tasks: int) -> Run:
        run = Run(
            "publish", config, round_no, tasks, loadavg=os.getloadavg()[0], code=code_version()
        )
        url = self.store_url(config, "publish")
        self.reset(config, url)
        result = self.publish(self.env(config, url), tasks, "noop", warmup=self.options.warmup)
        run.publish_s = result["publish_s"]
        run.wall_s = result["publish_s"]
        run.rate = tasks / result["publish_s"]
        run.flush_s = result.get("flush_s")
        if config in ("pg", "relay"):
            if not result.get("flushed") or result.get("dropped"):
                raise BenchError(f"producer did not record everything: {result}")
            run.extra = {k: result[k] for k in ("recorded", "written", "dropped")}
        self.redis.flushdb()
        return run

    # Rounds

    def run_all(self) -> None:
        options = self.options
        counts = {
            "noop": options.noop_tasks,
            "sleep": options.sleep_tasks,
            "publish": options.publish_tasks,
        }
        for round_no in range(1, options.rounds + 1):
            for workload in options.workloads:
                configs = PUBLISH_CONFIGS if workload == "publish" else options.configs
                if round_no % 2 == 0:
                    configs = tuple(reversed(configs))
                for config in configs:
                    if workload == "publish" and config not in options.configs:
                        continue
                    started = time.monotonic()
                    try:
                        if workload == "publish":
                            run = self.publish_run(config, round_no, counts[workload])
                        else:
                            run = self.worker_run(workload, config, round_no, counts[workload])
                    except BenchError as exc:
                        run = Run(
                            workload, config, round_no, counts[workload], ok=False, error=str(exc)
                        )
                        print(
                            f"  ! {workload}/{config} round {round_no} failed: {exc}",
                            file=sys.stderr,
                            flush=True,
                        )
                    self.runs.append(run)
                    _progress(run, time.monotonic() - started)


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _progress(run: Run, took: float) -> None:
    if not run.ok:
        return
    parts = [f"round {run.round} {run.workload:7} {run.config:7} {run.rate:9.1f} /s"]
    if run.recorded_lag_s is not None:
        parts.append(f"recorded +{run.recorded_lag_s:.2f}s")
    if run.worker_cpu_s is not None:
        parts.append(f"worker cpu {run.worker_cpu_s:.1f}s")
    if run.main_cpu_s is not None:
        parts.append(f"main process {run.main_cpu_s / run.tasks * 1e6:.0f} µs/task")
    if run.servers_cpu_s is not None:
        parts.append(f"db+redis {run.servers_cpu_s / run.tasks * 1e6:.0f} µs/task")
    if run.flush_s is not None:
        parts.append(f"flush {run.flush_s:.2f}s")
    parts.append(f"load {run.loadavg:.2f}")
    parts.append(f"({took:.0f}s)")
    print("  " + "  ".join(parts), flush=True)


# Results


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def summarize(runs: list[Run]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for workload in WORKLOADS:
        plain = _median(
            [
                r.rate
                for r in runs
                if r.ok and r.workload == workload and r.config == "plain" and r.rate
            ]
        )
        for config in CONFIGS:
            done = [r for r in runs if r.ok and r.workload == workload and r.config == config]
            failed = sum(
                1 for r in runs if not r.ok and r.workload == workload and r.config == config
            )
            if not done and not failed:
                continue
            rates = [r.rate for r in done if r.rate]
            median = _median(rates)
            plain_of_round = {
                r.round: r.rate
                for r in runs
                if r.ok and r.workload == workload and r.config == "plain" and r.rate
            }
            paired = [
                r.rate / plain_of_round[r.round]
                for r in done
                if r.rate and r.round in plain_of_round
            ]
            lags = [r.recorded_lag_s for r in done if r.recorded_lag_s is not None]
            incl = [r.rate_incl_recording for r in done if r.rate_incl_recording]
            cpu = [r.worker_cpu_s / r.tasks * 1e6 for r in done if r.worker_cpu_s is not None]
            servers = [
                r.servers_cpu_s / r.tasks * 1e6
                for r in done
                if getattr(r, "servers_cpu_s", None) is not None
            ]
            flush = [r.flush_s for r in done if r.flush_s is not None]
            rows.append(
                {
                    "workload": workload,
                    "config": config,
                    "tasks": done[0].tasks if done else None,
                    "runs": len(done),
                    "failed": failed,
                    "rate_median": median,
                    "rate_min": min(rates) if rates else None,
                    "rate_max": max(rates) if rates else None,
                    "ratio_to_plain": median / plain if median and plain else None,
                    "paired_ratio_median": _median(paired),
                    "paired_ratios": paired,
                    "recorded_lag_median_s": _median(lags),
                    "rate_incl_recording_median": _median(incl),
                    "worker_cpu_us_per_task_median": _median(cpu),
                    "servers_cpu_us_per_task_median": _median(servers),
                    "flush_median_s": _median(flush),
                }
            )
    return rows


def _paired(runs: list[Run], workload: str, config: str, baseline: str) -> float | None:
    """Median over the rounds of ``config``'s rate over ``baseline``'s in the same round."""
    rates: dict[tuple[str, int], float] = {
        (r.config, r.round): r.rate
        for r in runs
        if r.ok and r.workload == workload and r.rate and r.config in (config, baseline)
    }
    ratios = [
        rates[(config, n)] / rates[(baseline, n)]
        for (kind, n) in rates
        if kind == config and (baseline, n) in rates
    ]
    return _median(ratios)


def verdicts(rows: list[dict[str, Any]], runs: list[Run]) -> list[dict[str, Any]]:
    by = {(r["workload"], r["config"]): r for r in rows}
    out = []
    for workload, target in TARGETS.items():
        row = by.get((workload, "pg"))
        ratio = row and row["paired_ratio_median"]
        out.append(
            {
                "target": f"{workload}: celery-ops (PostgreSQL) >= {target:.2f} x plain "
                "(median of the rounds' ratios)",
                "ratio": ratio,
                "met": None if ratio is None else ratio >= target,
            }
        )
    for workload, target in TARGETS.items():
        row = by.get((workload, "relay"))
        if row is None:
            continue
        ratio = row["paired_ratio_median"]
        out.append(
            {
                "target": f"{workload}: celery-ops in relay mode >= {target:.2f} x plain "
                "(median of the rounds' ratios)",
                "ratio": ratio,
                "met": None if ratio is None else ratio >= target,
            }
        )
        direct = _paired(runs, workload, "relay", "pg")
        out.append(
            {
                "target": f"{workload}: relay >= {RELAY_VS_DIRECT:.2f} x direct (PostgreSQL), "
                "median of the rounds' ratios",
                "ratio": direct,
                "met": None if direct is None else direct >= RELAY_VS_DIRECT,
            }
        )
    for workload in ("noop", "sleep"):
        pg, backend = by.get((workload, "pg")), by.get((workload, "backend"))
        if pg and backend and pg["rate_median"] and backend["rate_median"]:
            speedup = pg["rate_median"] / backend["rate_median"]
            out.append(
                {
                    "target": f"{workload}: celery-ops (PostgreSQL) clearly faster than the "
                    f"result backend (>= {CLEARLY_FASTER:.2f} x its tasks/s)",
                    "ratio": speedup,
                    "met": speedup >= CLEARLY_FASTER,
                }
            )
    return out


def _fmt(value: float | None, spec: str) -> str:
    if value is None:
        width = spec.split(".")[0]
        return format("-", f">{width}") if width.isdigit() else "-"
    return format(value, spec)


def print_table(rows: list[dict[str, Any]], checks: list[dict[str, Any]]) -> None:
    header = (
        f"{'workload':8} {'config':8} {'runs':>4} {'median/s':>9} {'min/s':>8} {'max/s':>8} "
        f"{'x plain':>7} {'paired':>7} {'rec. lag':>8} {'incl.rec/s':>10} {'cpu us/task':>11} "
        f"{'db+redis':>8}"
    )
    legend = (
        "x plain: median tasks/s over median of plain; paired: median of each round's ratio "
        "to the plain run of the same round\n"
        "rec. lag: all tasks completed -> all SUCCESS rows in the store (publish: the "
        "producer's final flush)\nincl.rec/s: tasks / (worker ready -> all recorded); "
        "cpu us/task: CPU of the worker's process group, ready -> done (or recorded)\n"
        "db+redis: CPU of the PostgreSQL and Redis processes per task, same window"
    )
    print()
    print(header)
    print("-" * len(header))
    for r in rows:
        runs = f"{r['runs']}" + (f"+{r['failed']}!" if r["failed"] else "")
        lag = r["recorded_lag_median_s"]
        if r["workload"] == "publish" and r["flush_median_s"] is not None:
            lag = r["flush_median_s"]
        print(
            f"{r['workload']:8} {r['config']:8} {runs:>4} {_fmt(r['rate_median'], '9.1f')} "
            f"{_fmt(r['rate_min'], '8.1f')} {_fmt(r['rate_max'], '8.1f')} "
            f"{_fmt(r['ratio_to_plain'], '7.3f')} "
            f"{_fmt(r.get('paired_ratio_median'), '7.3f')} "
            f"{'-' if lag is None else format(lag, '7.2f') + 's':>8} "
            f"{_fmt(r['rate_incl_recording_median'], '10.1f')} "
            f"{_fmt(r['worker_cpu_us_per_task_median'], '11.0f')} "
            f"{_fmt(r.get('servers_cpu_us_per_task_median'), '8.0f')}"
        )
    print(legend)
    print()
    for check in checks:
        met = {True: "MET", False: "MISSED", None: "n/a"}[check["met"]]
        print(f"  [{met:6}] {check['target']}: {_fmt(check['ratio'], '.3f')}")
    print()


def environment() -> dict[str, Any]:
    import celery
    import kombu
    import sqlalchemy

    versions = {
        "python": platform.python_version(),
        "celery": celery.__version__,
        "kombu": kombu.__version__,
        "sqlalchemy": sqlalchemy.__version__,
        "redis-py": redis.__version__,
    }
    with contextlib.suppress(Exception):
        import psycopg

        versions["psycopg"] = psycopg.__version__
    with contextlib.suppress(Exception):
        import celery_ops

        versions["celery_ops"] = celery_ops.__version__
    with contextlib.suppress(Exception):
        versions["redis-server"] = redis.Redis().info("server")["redis_version"]
    return {
        "nproc": os.cpu_count(),
        "platform": platform.platform(),
        "versions": versions,
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="celery-ops recorder overhead: interleaved A/B runs against plain Celery.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--noop-tasks", type=int, default=20_000)
    parser.add_argument("--sleep-tasks", type=int, default=2_000)
    parser.add_argument("--publish-tasks", type=int, default=5_000)
    parser.add_argument(
        "--warmup",
        type=int,
        default=200,
        help="untimed .delay() calls before the timed ones (publish workload)",
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--configs",
        default=",".join(CONFIGS),
        help=f"comma-separated subset of {','.join(CONFIGS)}",
    )
    parser.add_argument(
        "--workloads",
        default=",".join(WORKLOADS),
        help=f"comma-separated subset of {','.join(WORKLOADS)}",
    )
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument(
        "--broker",
        default="redis://127.0.0.1:6379/9",
        help="Redis broker; this db is FLUSHED before every run",
    )
    parser.add_argument("--queue", default="celery_ops_bench")
    parser.add_argument(
        "--pg-url",
        default="postgresql+psycopg://postgres@127.0.0.1:5432/bench_ops",
        help="celery-ops store of the pg configuration (tables truncated)",
    )
    parser.add_argument(
        "--backend-url",
        default="db+postgresql+psycopg://postgres@127.0.0.1:5432/bench_backend",
        help="Celery result backend of the backend configuration",
    )
    parser.add_argument(
        "--ops-settings",
        default="",
        help="extra celery_ops.init_app settings as JSON, e.g. "
        "'{\"flush_interval\": 0.2}' (default: celery-ops defaults)",
    )
    parser.add_argument(
        "--run-timeout", type=float, default=900.0, help="seconds a worker run may take"
    )
    parser.add_argument(
        "--record-timeout",
        type=float,
        default=300.0,
        help="seconds to wait for the store to hold every execution",
    )
    parser.add_argument("--json", help="write every run, the summary and the environment here")
    parser.add_argument("--log-dir", help="keep the worker logs (and SQLite files) here")
    parser.add_argument(
        "--summarize",
        nargs="+",
        metavar="JSON",
        help="run nothing: print the table of earlier --json files (their runs are pooled)",
    )
    options = parser.parse_args(argv)
    options.configs = _choices(options.configs, CONFIGS, parser, "--configs")
    options.workloads = _choices(options.workloads, WORKLOADS, parser, "--workloads")
    if "plain" not in options.configs:
        parser.error("--configs must include plain: every ratio is relative to it")
    return options


def _choices(value: str, allowed: tuple[str, ...], parser: Any, flag: str) -> list[str]:
    chosen = [v.strip() for v in value.split(",") if v.strip()]
    unknown = set(chosen) - set(allowed)
    if unknown:
        parser.error(f"{flag}: unknown {', '.join(sorted(unknown))}")
    return [v for v in allowed if v in chosen]


def summarize_files(paths: list[str]) -> int:
    runs = []
    for index, path in enumerate(paths):
        data = json.loads(Path(path).read_text())
        # Rounds are paired within one file: round 1 of two files are different rounds.
        runs += [Run(**{**run, "round": index * 1000 + run["round"]}) for run in data["runs"]]
        env = data["environment"]
        print(
            f"{path}: {len(data['runs'])} runs, {data['duration_s'] / 60:.1f} min, "
            f"nproc={env['nproc']}, options: rounds={data['options']['rounds']} "
            f"noop={data['options']['noop_tasks']} sleep={data['options']['sleep_tasks']} "
            f"publish={data['options']['publish_tasks']}"
        )
    rows = summarize(runs)
    print_table(rows, verdicts(rows, runs))
    _report_versions(runs)
    return 0


def _report_versions(runs: list[Run]) -> None:
    versions = sorted({run.code or "not recorded" for run in runs})
    print(f"celery-ops code measured: {', '.join(versions)}")
    if len(versions) > 1:
        print("WARNING: the celery-ops code changed during these runs; the figures mix versions")


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    if options.summarize:
        return summarize_files(options.summarize)
    signal.signal(signal.SIGTERM, _on_signal)
    if {"pg", "relay"} & set(options.configs) or "publish" in options.workloads:
        ensure_database(options.pg_url)
        # A database left by an earlier version of celery-ops: migrate it, as a user would.
        from celery_ops.store import Store

        Store(options.pg_url).upgrade()
    if "backend" in options.configs:
        ensure_database(options.backend_url)
    env = environment()
    print(f"nproc={env['nproc']} " + " ".join(f"{k}={v}" for k, v in env["versions"].items()))
    print(
        f"configs={','.join(options.configs)} workloads={','.join(options.workloads)} "
        f"rounds={options.rounds} noop={options.noop_tasks} sleep={options.sleep_tasks} "
        f"publish={options.publish_tasks}",
        flush=True,
    )
    bench = Bench(options)
    started = time.time()
    interrupted = False
    try:
        bench.run_all()
    except KeyboardInterrupt:
        interrupted = True
        print("interrupted: summarizing the runs done so far", file=sys.stderr)
    finally:
        if _current_worker is not None:
            stop_group(_current_worker)
        bench.close()
        with contextlib.suppress(Exception):
            bench.redis.flushdb()
    rows = summarize(bench.runs)
    checks = verdicts(rows, bench.runs)
    print_table(rows, checks)
    _report_versions(bench.runs)
    if options.json:
        path = Path(options.json)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(
            json.dumps(
                {
                    "started_at": started,
                    "duration_s": time.time() - started,
                    "interrupted": interrupted,
                    "options": {k: v for k, v in vars(options).items()},
                    "environment": env,
                    "summary": rows,
                    "targets": checks,
                    "runs": [asdict(run) for run in bench.runs],
                },
                indent=2,
            )
        )
        print(f"wrote {path}")
    return 1 if interrupted or any(not r.ok for r in bench.runs) else 0


if __name__ == "__main__":
    sys.exit(main())
