#!/usr/bin/env python
"""How do beat schedulers cope with many entries? Each scheduler measured alone.

Schedulers (``--schedulers``):

``persistent``      Celery's own ``PersistentScheduler`` (``beat_schedule`` + a shelve file)
``djbeat``          django-celery-beat's ``DatabaseScheduler``, PostgreSQL, IntervalSchedule rows
``redbeat``         celery-redbeat's ``RedBeatScheduler``, entries named by hashes
``redbeat-sorted``  the same, with names that sort in due-time order (``e0000000``, ...)
``ops``             ``celery_ops.beat:DatabaseScheduler``, PostgreSQL store
``ops-norec``       the same with the recorder's publishing unwrapped in the beat
                    (diagnostic, not in the default list: what the scheduler alone costs)

Workloads:

1. fire throughput: 10,000 entries every 60 s, due times spread evenly over the minute
   (about 167 sends/s), every scheduler;
2. scaling with rows: 10,000, 100,000 and 1,000,000 entries at a steady 100 sends/s (each
   entry's period is rows / 100 seconds), celery-ops only unless ``--scale-schedulers`` says
   otherwise.

A run: flush the broker's Redis db (no worker consumes it), prepare the scheduler's store from
a *plan* (entry ``i`` of ``n`` is first due at ``t0 + i * period / n``; see ``Plan`` in
``beat_bench_app.py``), start ``celery -A beat_bench_app beat -S <class> -l WARNING`` in its
own process group and record every publish from inside it (an ``after_task_publish`` handler
writes the entry name and the time). The measured window starts ``--warmup`` seconds after the
first due time (or after start-up, if that was later) and lasts ``--duration`` seconds; the
beat keeps running ``--grace`` seconds more so that late sends are still seen, then its group
is killed.

Reported per run:

- sends/s and CPU per send: sends made inside the window, CPU (user + system, the beat's
  process group, from ``/proc``) spent inside the window;
- peak RSS (``VmHWM``), start-up (spawn to the first send: an extra hourly entry is due before
  the beat starts, so it is sent as soon as the scheduler is up), seeding time;
- lateness of each due time in the window: send time minus the due time on the plan's grid
  (a send is matched to the latest due time at or before it, 1 s of earliness tolerated).
  Celery's interval schedules (persistent, djbeat, redbeat) compute the next run from the
  time of the last send, so their lateness also shows the drift that accumulates over runs;
- duplicates (a due time sent twice) and misses (a due time in the window not sent by the end
  of the grace period);
- edit effect: a third into the window, one entry's period is changed to 5 s through the
  scheduler's normal edit path (ORM save, ``RedBeatSchedulerEntry.save()``,
  ``ops.schedules.update(name, every=5)``; ``persistent`` cannot be edited live). The entry
  chosen was due 2 s before, so its next old-schedule send is a whole period away: the effect
  time is from the end of the edit call to the entry's first send that follows its previous
  one by less than 3/4 of the old period.

Example::

    .venv/bin/python bench/beat_scale.py --workload 1 --json bench/results/beat_scale_w1.json
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import math
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import redis

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

from beat_bench_app import PROBE_NAME, Plan  # noqa: E402
from recorder_overhead import (  # noqa: E402
    BenchError,
    code_version,
    ensure_database,
    group_cpu_seconds,
    stop_group,
)

BIN_DIR = Path(sys.executable).parent
SCHEDULERS = ("persistent", "djbeat", "redbeat", "redbeat-sorted", "ops", "ops-norec")
DEFAULT_SCHEDULERS = ("persistent", "djbeat", "redbeat", "redbeat-sorted", "ops")
SCHEDULER_CLASSES = {
    "persistent": "celery.beat:PersistentScheduler",
    "djbeat": "django_celery_beat.schedulers:DatabaseScheduler",
    "redbeat": "redbeat:RedBeatScheduler",
    "ops": "celery_ops.beat:DatabaseScheduler",
}
WORKLOAD1_ROWS = 10_000
WORKLOAD1_INTERVAL = 60.0
EDIT_EVERY = 5.0
EARLY_TOLERANCE = 1.0  # seconds a send may precede its due time and still count for it


def base_scheduler(variant: str) -> str:
    """``redbeat-sorted`` -> ``redbeat``, ``ops-norec`` -> ``ops``."""
    return variant.removesuffix("-sorted").removesuffix("-norec")


@dataclass
class Run:
    workload: int
    scheduler: str
    rows: int
    interval_s: float
    round: int = 1
    ok: bool = True
    error: str | None = None
    seed_s: float | None = None  # preparing the store (subprocess wall time)
    startup_s: float | None = None  # beat spawned -> its first send
    ready_late_s: float | None = None  # start-up ended after the first due time, by this much
    window_s: float | None = None
    sends: int | None = None  # sends inside the window (every entry)
    sends_per_s: float | None = None
    cpu_s: float | None = None  # beat process group CPU inside the window
    cpu_ms_per_send: float | None = None
    startup_cpu_s: float | None = None  # CPU from spawn to the first send
    peak_rss_mb: float | None = None
    due: int | None = None  # due times inside the window (measured entries)
    late_p50_ms: float | None = None
    late_p99_ms: float | None = None
    late_max_ms: float | None = None
    early_max_ms: float | None = None  # the most a send preceded its due time
    duplicates: int | None = None
    misses: int | None = None
    edit_effect_s: float | None = None
    edit_sends: int | None = None  # sends of the edited entry at the new rate
    edit_expected: int | None = None
    loadavg: float | None = None
    code: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


# Analysis of the send log


def read_sends(path: Path) -> list[tuple[str, float]]:
    sends = []
    with contextlib.suppress(FileNotFoundError), open(path) as file:
        for line in file:
            name, _, at = line.rstrip("\n").partition("\t")
            with contextlib.suppress(ValueError):
                sends.append((name, float(at)))
    return sends


def first_send_of(path: Path, name: str) -> float | None:
    return next((at for sent, at in read_sends(path) if sent == name), None)


def _percentile(ordered: list[float], fraction: float) -> float | None:
    if not ordered:
        return None
    return ordered[min(len(ordered) - 1, math.ceil(fraction * len(ordered)) - 1)]


def slot_lateness(
    plan: Plan,
    sends: list[tuple[str, float]],
    window: tuple[float, float],
    excluded: set[str],
) -> dict[str, Any]:
    """Match each send to its due time and score the due times inside ``window``.

    The due times of all entries form one grid: slot ``k`` belongs to entry ``k % count`` and
    is due at ``t0 + k * interval / count``. A send of entry ``i`` at time ``s`` serves the
    latest slot of that entry due at or before ``s + EARLY_TOLERANCE``.
    """
    start, end = window
    step = plan.interval / plan.count
    names = plan.names()
    index = {name: i for name, i in names.items() if name not in excluded}
    excluded_i = {names[name] for name in excluded if name in names}
    served: dict[int, float] = {}
    duplicates = 0
    for name, at in sends:
        i = index.get(name)
        if i is None:
            continue
        n = math.floor((at + EARLY_TOLERANCE - plan.first_due(i)) / plan.interval)
        if n < 0:
            continue  # before the entry's first due time: cannot happen unless very early
        k = n * plan.count + i
        due_at = plan.t0 + k * step
        if not start <= due_at < end:
            continue
        if k in served:
            duplicates += 1
        else:
            served[k] = at - due_at
    first_k = math.ceil((start - plan.t0) / step)
    last_k = math.ceil((end - plan.t0) / step)  # exclusive
    due = [k for k in range(first_k, last_k) if k % plan.count not in excluded_i]
    lateness = sorted(served.values())
    return {
        "due": len(due),
        "misses": sum(1 for k in due if k not in served),
        "duplicates": duplicates,
        "late_p50_ms": _ms(_percentile(lateness, 0.50)),
        "late_p99_ms": _ms(_percentile(lateness, 0.99)),
        "late_max_ms": _ms(lateness[-1] if lateness else None),
        "early_max_ms": _ms(-lateness[0] if lateness and lateness[0] < 0 else 0.0),
    }


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1000.0


def edit_effect(
    sends: list[tuple[str, float]],
    name: str,
    edited_at: float,
    old_interval: float,
    window_end: float,
) -> dict[str, Any]:
    """When did the edited entry start sending at its new period?

    The first send after the edit that follows the entry's previous send by less than 3/4 of
    the old period can only come from the new one. (A scheduler running late may still send
    the old due time after the edit: that send does not count.) From then on the entry should
    send every ``EDIT_EVERY`` seconds.
    """
    times = sorted(at for sent, at in sends if sent == name)
    first = next(
        (
            at
            for previous, at in itertools.pairwise(times)
            if at > edited_at - EARLY_TOLERANCE and at - previous < 0.75 * old_interval
        ),
        None,
    )
    if first is None:
        return {"edit_effect_s": None, "edit_sends": 0, "edit_expected": None}
    after = [at for at in times if first <= at < window_end]
    return {
        "edit_effect_s": first - edited_at,
        "edit_sends": len(after),
        "edit_expected": int((window_end - first) // EDIT_EVERY) + 1,
    }


def score_run(
    run: Run,
    plan: Plan,
    sends: list[tuple[str, float]],
    window: tuple[float, float],
    edited: str,
    edit_result: dict[str, Any] | None,
) -> None:
    """Fill in ``run``'s send rate, CPU per send, lateness and edit figures."""
    start, end = window
    run.sends = sum(1 for _, at in sends if start <= at < end)
    run.sends_per_s = run.sends / (end - start)
    if run.cpu_s is not None and run.sends:
        run.cpu_ms_per_send = run.cpu_s / run.sends * 1000.0
    for key, value in slot_lateness(plan, sends, window, {PROBE_NAME, edited}).items():
        setattr(run, key, value)
    if edit_result is not None:
        run.extra["edit"] = {"name": edited, **edit_result}
        effect = edit_effect(sends, edited, edit_result["edited_at"], plan.interval, end)
        for key, value in effect.items():
            setattr(run, key, value)


# Processes


def group_peak_rss_mb(pgid: int) -> float:
    """Sum of ``VmHWM`` over the live processes of group ``pgid``."""
    total_kb = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                if int(stat.read().rsplit(")", 1)[1].split()[2]) != pgid:
                    continue
            with open(f"/proc/{entry}/status") as status:
                for line in status:
                    if line.startswith("VmHWM:"):
                        total_kb += int(line.split()[1])
        except (OSError, ValueError, IndexError):
            continue
    return total_kb / 1024.0


def sleep_until(at: float, process: subprocess.Popen[bytes], log_path: Path) -> None:
    while (left := at - time.time()) > 0:
        if process.poll() is not None:
            raise BenchError(f"beat exited with {process.returncode}:\n{_tail(log_path)}")
        time.sleep(min(left, 0.2))


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


_current_beat: subprocess.Popen[bytes] | None = None


def _on_signal(signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


# The benchmark


class Bench:
    def __init__(self, options: argparse.Namespace) -> None:
        self.options = options
        self.broker = redis.Redis.from_url(options.broker)
        self.redbeat_store = redis.Redis.from_url(options.redbeat_url)
        self.workdir = Path(tempfile.mkdtemp(prefix="celery-ops-beat-bench-"))
        self.logdir = Path(options.log_dir) if options.log_dir else self.workdir / "logs"
        self.logdir.mkdir(parents=True, exist_ok=True)
        self.runs: list[Run] = []

    def close(self) -> None:
        if not self.options.log_dir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def env(self, scheduler: str, plan_path: Path, sends_path: Path | None) -> dict[str, str]:
        base = base_scheduler(scheduler)
        env = dict(os.environ)
        env.pop("CELERY_OPS_DATABASE_URL", None)
        env.update(
            BENCH_SCHEDULER=base,
            BENCH_BROKER_URL=self.options.broker,
            BENCH_QUEUE=self.options.queue,
            BENCH_DATABASE_URL={"djbeat": self.options.djbeat_url, "ops": self.options.ops_url}.get(
                base, ""
            ),
            BENCH_REDBEAT_URL=self.options.redbeat_url,
            BENCH_PLAN=str(plan_path),
            BENCH_OPS_SETTINGS=self.options.ops_settings or "",
            BENCH_OPS_RECORD="0" if scheduler == "ops-norec" else "1",
            PYTHONPATH=os.pathsep.join(p for p in (str(BENCH_DIR), env.get("PYTHONPATH", "")) if p),
        )
        env.pop("BENCH_SENDS_FILE", None)
        if sends_path is not None:
            env["BENCH_SENDS_FILE"] = str(sends_path)
        return env

    def app_command(self, env: dict[str, str], *args: str, timeout: float) -> dict[str, Any]:
        """Run ``beat_bench_app.py`` as a script (seed, edit); return its JSON line."""
        try:
            completed = subprocess.run(
                [sys.executable, str(BENCH_DIR / "beat_bench_app.py"), *args],
                env=env,
                cwd=self.workdir,
                capture_output=True,
                text=True,
                timeout=timeout,
            )
        except subprocess.TimeoutExpired as exc:
            raise BenchError(f"beat_bench_app.py {args[0]} took over {timeout:.0f}s") from exc
        if completed.returncode != 0:
            raise BenchError(f"beat_bench_app.py {args[0]} failed:\n{completed.stderr[-3000:]}")
        return json.loads(completed.stdout.strip().splitlines()[-1])

    def lead(self, rows: int) -> float:
        """Seconds from the plan to the first due time: enough to seed and start the beat."""
        if self.options.lead is not None:
            return float(self.options.lead)
        # celery-ops seeds about 7,000 rows/s here (add_many); the others are faster.
        return 15.0 + rows * 200e-6

    # One run

    def run(self, workload: int, scheduler: str, rows: int, interval: float, round_no: int) -> Run:
        run = Run(
            workload,
            scheduler,
            rows,
            interval,
            round=round_no,
            loadavg=os.getloadavg()[0],
            code=code_version(),
        )
        tag = f"w{workload}-{scheduler}-{rows}-r{round_no}"
        plan_path = self.workdir / f"{tag}.plan.json"
        sends_path = self.workdir / f"{tag}.sends.tsv"
        log_path = self.logdir / f"{tag}.log"
        sends_path.unlink(missing_ok=True)
        self.broker.flushdb()
        self.redbeat_store.flushdb()

        now = time.time()
        naming = "sorted" if scheduler.endswith("-sorted") else "random"
        plan = Plan(rows, interval, t0=now + self.lead(rows), probe_due=now, naming=naming)
        plan_path.write_text(json.dumps(asdict(plan)))
        run.seed_s = self.app_command(self.env(scheduler, plan_path, None), "seed", timeout=1800)[
            "seed_s"
        ]

        process = self.spawn_beat(scheduler, plan_path, sends_path, log_path)
        spawned_at = time.time()
        try:
            self.measure(run, plan, process, spawned_at, plan_path, sends_path, log_path)
        finally:
            stop_group(process)
            global _current_beat
            _current_beat = None
        if not self.options.log_dir:
            log_path.unlink(missing_ok=True)
        return run

    def spawn_beat(
        self, scheduler: str, plan_path: Path, sends_path: Path, log_path: Path
    ) -> subprocess.Popen[bytes]:
        base = base_scheduler(scheduler)
        schedule_file = self.workdir / "celerybeat-schedule"
        for leftover in self.workdir.glob("celerybeat-schedule*"):
            leftover.unlink()
        command = [
            str(BIN_DIR / "celery"),
            "-A",
            "beat_bench_app",
            "beat",
            "-S",
            SCHEDULER_CLASSES[base],
            "-s",
            str(schedule_file),
            "--loglevel",
            "WARNING",
        ]
        global _current_beat
        with open(log_path, "wb") as log:
            _current_beat = subprocess.Popen(
                command,
                env=self.env(scheduler, plan_path, sends_path),
                cwd=self.workdir,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # its own process group: CPU, RSS and kill by group
            )
        return _current_beat

    def measure(
        self,
        run: Run,
        plan: Plan,
        process: subprocess.Popen[bytes],
        spawned_at: float,
        plan_path: Path,
        sends_path: Path,
        log_path: Path,
    ) -> None:
        options = self.options
        pgid = process.pid
        ready_at = self.wait_first_send(plan, process, sends_path, log_path)
        if ready_at is not None:
            run.startup_s = ready_at - spawned_at
            run.startup_cpu_s = group_cpu_seconds(pgid)
            run.ready_late_s = max(0.0, ready_at - plan.t0)
        window_start = max(plan.t0, ready_at or plan.t0) + options.warmup
        window_end = window_start + options.duration
        run.window_s = options.duration

        # The edited entry: the one due 2 s before the edit, so that its next due time on the
        # old period is a whole period after the edit and cannot pass for the new period.
        edit_at = window_start + options.duration / 3
        step = plan.interval / plan.count
        edited_k = math.floor((edit_at - 2.0 - plan.t0) / step)
        edited = plan.name(edited_k % plan.count)
        editable = run.scheduler != "persistent" and not options.no_edit

        sleep_until(window_start, process, log_path)
        cpu_start = group_cpu_seconds(pgid)
        edit_result: dict[str, Any] | None = None
        if editable:
            sleep_until(edit_at, process, log_path)
            edit_result = self.app_command(
                self.env(run.scheduler, plan_path, None),
                "edit",
                edited,
                "--every",
                str(EDIT_EVERY),
                timeout=120,
            )
        sleep_until(window_end, process, log_path)
        run.cpu_s = group_cpu_seconds(pgid) - cpu_start
        sleep_until(window_end + options.grace, process, log_path)
        run.peak_rss_mb = group_peak_rss_mb(pgid)

        score_run(
            run, plan, read_sends(sends_path), (window_start, window_end), edited, edit_result
        )

    def wait_first_send(
        self, plan: Plan, process: subprocess.Popen[bytes], sends_path: Path, log_path: Path
    ) -> float | None:
        """Time of the start-up probe's send; None if it did not come before the window."""
        deadline = plan.t0 + self.options.warmup
        while time.time() < deadline:
            sent_at = first_send_of(sends_path, PROBE_NAME)
            if sent_at is not None:
                return sent_at
            if process.poll() is not None:
                raise BenchError(f"beat exited with {process.returncode}:\n{_tail(log_path)}")
            time.sleep(0.2)
        # Not by then: start-up is longer than the lead. Measure anyway, a little later.
        time.sleep(2.0)
        return first_send_of(sends_path, PROBE_NAME)

    # Runs

    def plan_runs(self) -> list[tuple[int, str, int, float]]:
        options = self.options
        runs: list[tuple[int, str, int, float]] = []
        for round_no in range(options.rounds):
            # Rotate the order from round to round, so a background load hits all alike.
            shift = round_no % max(1, len(options.schedulers))
            order = options.schedulers[shift:] + options.schedulers[:shift]
            if 1 in options.workloads:
                runs += [(1, s, WORKLOAD1_ROWS, WORKLOAD1_INTERVAL) for s in order]
            if 2 in options.workloads:
                for rows in options.rows:
                    runs += [
                        (2, s, rows, rows / options.scale_rate)
                        for s in order
                        if s in options.scale_schedulers
                    ]
        return runs

    def run_all(self) -> None:
        planned = self.plan_runs()
        per_round = len(planned) // self.options.rounds
        for number, (workload, scheduler, rows, interval) in enumerate(planned):
            round_no = number // per_round + 1
            started = time.monotonic()
            try:
                run = self.run(workload, scheduler, rows, interval, round_no)
            except BenchError as exc:
                run = Run(workload, scheduler, rows, interval, round=round_no, ok=False)
                run.error = str(exc)
                print(f"  ! w{workload} {scheduler} {rows} failed: {exc}", file=sys.stderr)
            self.runs.append(run)
            _progress(run, time.monotonic() - started)


def _progress(run: Run, took: float) -> None:
    if not run.ok:
        return
    print(
        f"  w{run.workload} {run.scheduler:14} rows={run.rows:<8} "
        f"sends/s={_fmt(run.sends_per_s, '.1f')} cpu/send={_fmt(run.cpu_ms_per_send, '.3f')}ms "
        f"p50={_fmt(run.late_p50_ms, '.0f')}ms p99={_fmt(run.late_p99_ms, '.0f')}ms "
        f"missed={run.misses} dup={run.duplicates} startup={_fmt(run.startup_s, '.1f')}s "
        f"edit={_fmt(run.edit_effect_s, '.1f')}s load={run.loadavg:.2f} ({took:.0f}s)",
        flush=True,
    )


# Results


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def print_tables(runs: list[Run]) -> None:
    columns = (
        "scheduler",
        "rows",
        "period s",
        "sends/s",
        "CPU ms/send",
        "peak RSS MB",
        "start-up s",
        "seed s",
        "late p50 ms",
        "p99 ms",
        "max ms",
        "dup",
        "missed/due",
        "edit effect s",
    )
    for workload in (1, 2):
        chosen = [r for r in runs if r.workload == workload]
        if not chosen:
            continue
        title = {1: "fire throughput", 2: "scaling with rows"}[workload]
        print(f"\n### Workload {workload}: {title}\n")
        print("| " + " | ".join(columns) + " |")
        print("|" + "|".join(" --- " for _ in columns) + "|")
        for r in chosen:
            print("| " + " | ".join(_row(r)) + " |")
    print(
        "\nCPU: the beat's process group, user + system, inside the measured window, per send. "
        "Lateness: send time minus the due time it serves. Missed: due times in the window "
        "not sent by its end + the grace period. Edit effect: end of the edit call -> first "
        "send at the new period (n/a: not editable while beat runs; 'none': not within the "
        "window)."
    )
    failed = [r for r in runs if not r.ok]
    for r in failed:
        print(f"\nFAILED w{r.workload} {r.scheduler} rows={r.rows}: {r.error}")


def _row(r: Run) -> list[str]:
    if not r.ok:
        return [r.scheduler, f"{r.rows:,}", "failed"] + [""] * 11
    if r.scheduler == "persistent" or "edit" not in r.extra:
        edit = "n/a"
    elif r.edit_effect_s is None:
        edit = "none"
    else:
        edit = f"{r.edit_effect_s:.1f} ({r.edit_sends}/{r.edit_expected})"
    startup = _fmt(r.startup_s, ".1f")
    if r.ready_late_s:
        startup += f" (+{r.ready_late_s:.1f} late)"
    return [
        r.scheduler,
        f"{r.rows:,}",
        f"{r.interval_s:g}",
        _fmt(r.sends_per_s, ".1f"),
        _fmt(r.cpu_ms_per_send, ".3f"),
        _fmt(r.peak_rss_mb, ".0f"),
        startup,
        _fmt(r.seed_s, ".1f"),
        _fmt(r.late_p50_ms, ".0f"),
        _fmt(r.late_p99_ms, ".0f"),
        _fmt(r.late_max_ms, ".0f"),
        str(r.duplicates),
        f"{r.misses}/{r.due}",
        edit,
    ]


def environment() -> dict[str, Any]:
    from importlib.metadata import PackageNotFoundError, version

    versions = {"python": platform.python_version()}
    for package in (
        "celery",
        "kombu",
        "redis",
        "SQLAlchemy",
        "psycopg",
        "Django",
        "django-celery-beat",
        "celery-redbeat",
        "celery-ops",
    ):
        with contextlib.suppress(PackageNotFoundError):
            versions[package] = version(package)
    with contextlib.suppress(Exception):
        versions["redis-server"] = redis.Redis().info("server")["redis_version"]
    return {"nproc": os.cpu_count(), "platform": platform.platform(), "versions": versions}


# Command line


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Beat schedulers with many entries: throughput, lateness, scaling.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--workload", default="all", choices=("1", "2", "all"))
    parser.add_argument(
        "--schedulers",
        default=",".join(DEFAULT_SCHEDULERS),
        help=f"comma-separated subset of {','.join(SCHEDULERS)}",
    )
    parser.add_argument(
        "--scale-schedulers",
        default="ops",
        help="which of --schedulers also run workload 2",
    )
    parser.add_argument(
        "--rows",
        default="10000,100000,1000000",
        help="workload 2: comma-separated entry counts",
    )
    parser.add_argument(
        "--scale-rate", type=float, default=100.0, help="workload 2: sends/s (period = rows/rate)"
    )
    parser.add_argument("--duration", type=float, default=180.0, help="measured seconds")
    parser.add_argument(
        "--warmup",
        type=float,
        default=5.0,
        help="seconds between the first due time (or start-up) and the measured window",
    )
    parser.add_argument(
        "--grace", type=float, default=10.0, help="seconds the beat runs after the window"
    )
    parser.add_argument(
        "--lead",
        type=float,
        default=None,
        help="seconds from seeding to the first due time (default: 15 + 200 us per row)",
    )
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--no-edit", action="store_true", help="skip the live edit")
    parser.add_argument(
        "--broker",
        default="redis://127.0.0.1:6379/10",
        help="Redis broker; this db is FLUSHED before every run",
    )
    parser.add_argument(
        "--redbeat-url",
        default="redis://127.0.0.1:6379/11",
        help="redbeat's own store; this db is FLUSHED before every run",
    )
    parser.add_argument("--queue", default="beat_bench")
    parser.add_argument(
        "--djbeat-url",
        default="postgresql+psycopg://postgres@127.0.0.1:5432/bench_djbeat",
        help="django-celery-beat's database (created if missing, its tables emptied)",
    )
    parser.add_argument(
        "--ops-url",
        default="postgresql+psycopg://postgres@127.0.0.1:5432/bench_beat_ops",
        help="celery-ops store (created if missing, its schedule tables emptied)",
    )
    parser.add_argument(
        "--ops-settings",
        default="",
        help="extra celery_ops.init_app settings as JSON, e.g. '{\"beat_poll_interval\": 0.5}'",
    )
    parser.add_argument("--json", help="write every run and the environment here")
    parser.add_argument("--log-dir", help="keep the beat logs here")
    parser.add_argument(
        "--summarize",
        nargs="+",
        metavar="JSON",
        help="run nothing: print the tables of earlier --json files",
    )
    options = parser.parse_args(argv)
    options.workloads = [1, 2] if options.workload == "all" else [int(options.workload)]
    options.schedulers = _choices(options.schedulers, parser, "--schedulers")
    options.scale_schedulers = _choices(options.scale_schedulers, parser, "--scale-schedulers")
    options.rows = [int(r) for r in options.rows.split(",") if r.strip()]
    return options


def _choices(value: str, parser: argparse.ArgumentParser, flag: str) -> list[str]:
    chosen = [v.strip() for v in value.split(",") if v.strip()]
    unknown = set(chosen) - set(SCHEDULERS)
    if unknown:
        parser.error(f"{flag}: unknown {', '.join(sorted(unknown))}")
    return [s for s in SCHEDULERS if s in chosen]


def summarize_files(paths: list[str]) -> int:
    runs = []
    for path in paths:
        data = json.loads(Path(path).read_text())
        runs += [Run(**run) for run in data["runs"]]
        options = data["options"]
        print(
            f"{path}: {len(data['runs'])} runs, {data['duration_s'] / 60:.1f} min, "
            f"nproc={data['environment']['nproc']}, duration={options['duration']}s"
        )
    print_tables(runs)
    return 0


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    if options.summarize:
        return summarize_files(options.summarize)
    signal.signal(signal.SIGTERM, _on_signal)
    if "djbeat" in options.schedulers:
        ensure_database(options.djbeat_url)
    if any(base_scheduler(s) == "ops" for s in options.schedulers):
        ensure_database(options.ops_url)
    env = environment()
    print(f"nproc={env['nproc']} " + " ".join(f"{k}={v}" for k, v in env["versions"].items()))
    bench = Bench(options)
    started = time.time()
    interrupted = False
    try:
        bench.run_all()
    except KeyboardInterrupt:
        interrupted = True
        print("interrupted: summarizing the runs done so far", file=sys.stderr)
    finally:
        if _current_beat is not None:
            stop_group(_current_beat)
        bench.close()
        with contextlib.suppress(Exception):
            bench.broker.flushdb()
    print_tables(bench.runs)
    versions = sorted({run.code or "unknown" for run in bench.runs})
    print(f"\ncelery-ops code measured: {', '.join(versions)}")
    if options.json:
        path = Path(options.json)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(
            json.dumps(
                {
                    "started_at": started,
                    "duration_s": time.time() - started,
                    "interrupted": interrupted,
                    "options": vars(options),
                    "environment": env,
                    "runs": [asdict(run) for run in bench.runs],
                },
                indent=2,
            )
        )
        print(f"wrote {path}")
    return 1 if interrupted or any(not r.ok for r in bench.runs) else 0


if __name__ == "__main__":
    sys.exit(main())
