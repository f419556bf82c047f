#!/usr/bin/env python
"""What does each secondary index on ``celery_ops_executions`` cost the recorder's writes?

Measured on PostgreSQL through the real write path: events built as the signal handlers build
them, folded into batches of ``--batch`` events by ``celery_ops.recording.folding.fold_events``
(as the flusher does), written by ``Store.write``. Per task, three processes write: the ``producer``
(PENDING insert, timeline row, search text), the worker's main process (``received``: RECEIVED
upsert, timeline row) and the pool ``child`` (STARTED, SUCCESS and postrun folded into one
upsert, two timeline rows). Tasks go in chunks of ``--chunk``: a chunk's producer batches, then
its RECEIVED batches, then the child's, each phase timed apart (batches are folded beforehand:
folding does not depend on indexes). Per task and phase: wall time, client CPU (this script's
``time.process_time``), server CPU (the PostgreSQL backends serving ``bench_writes``, found in
``pg_stat_activity``, so whichever pooled connection ``Store`` uses counts) and WAL bytes
(server-wide: other databases' writes add noise).

Every run starts from the same state: a seed database (schema migrated to head by
``Store.ensure_schema``, ``--rows`` executions pre-filled by ``INSERT ... SELECT
generate_series``, vacuumed) is cloned to ``bench_writes``, the variant's DDL runs, then come an
untimed warm-up (statement caches, psycopg's prepared statements), a CHECKPOINT (every run pays
the same full-page images) and the timed tasks. A checkpoint during the timed tasks (forced by
another session, or by WAL volume) inflates WAL and server CPU: each run reports how many.
Variants run interleaved (A, B, C, A, B, C, ...) for ``--rounds`` rounds; medians are shown with
their ratio to ``baseline``. Not measured: what an index adds to VACUUM and to reads.

Workload mix, a function of the task number n (pre-filled rows follow it too): 50 task names,
5 queues (60 % ``default``), 4 workers, 10 % children of a parent in a group, 20 % with one of
1,000 tenants; every task succeeds. Task ids are random UUIDs, as Celery's are.

Variants (``--variant``, repeatable, ``[NAME=]SPEC``): ``baseline`` (always run),
``extra:<SQL>;<SQL>`` extra statements, ``drop:<index>,<index>`` indexes dropped. Example::

    .venv/bin/python bench/store_write_cost.py --rounds 3 \\
        --variant 'queue=extra:CREATE INDEX ON celery_ops_executions (queue, id)' \\
        --json bench/results/store_write_cost.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import uuid
from typing import Any, NamedTuple

import psycopg

from celery_ops.core import lifecycle as states
from celery_ops.recording.events import ExecutionEvent
from celery_ops.recording.folding import fold_events
from celery_ops.recording.payload import Arguments
from celery_ops.settings import OpsConfig
from celery_ops.store import RecordBatch, Store

DEFAULTS = OpsConfig()

SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432"
ADMIN_DSN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
DATABASE = "bench_writes"
SEED_DATABASE = "bench_writes_seed"
TABLE = "celery_ops_executions"
PHASES = ("producer", "received", "child")
#: Per task: wall, client CPU and server CPU in µs, WAL in bytes.
METRICS = {"wall": "wall µs", "client": "client CPU µs", "server": "server CPU µs", "wal": "WAL B"}
QUEUES = ("default", "default", "default", "queue_1", "queue_2")
#: Phase (or "total") -> metric -> value per task.
PerTask = dict[str, dict[str, float]]
#: Name, size in bytes, definition.
IndexRow = tuple[str, int, str]


def prefill_sql(rows: int) -> str:
    """Rows 1..rows of the workload mix, one every 10 ms up to now (no parameters: % is mod)."""
    return f"""
INSERT INTO {TABLE} (task_id, task_name, queue, args, kwargs, message_args, message_kwargs,
    status, progress, status_at, attempts, published_at, received_at, started_at,
    completed_at, execution_time_ms, wait_time_ms, worker_id, pid, result,
    parent_id, root_id, group_id, tenant_id)
SELECT md5(g::text)::uuid::text, 'app.tasks.task_' || lpad((g % 50)::text, 2, '0'),
    (ARRAY{list(QUEUES)})[g % 5 + 1],
    '[' || g || ', "order-' || g || '"]', '{{"customer": "cust-' || g % 5000 || '"}}',
    '[' || g || ', "order-' || g || '"]', '{{"customer": "cust-' || g % 5000 || '"}}',
    'SUCCESS', 15, at + interval '70 ms', 1, at, at + interval '50 ms', at + interval '60 ms',
    at + interval '70 ms', 10.0, 50.0, 'worker' || g % 4 || '@bench', 1000 + g % 8,
    '{{"ok": ' || g || '}}',
    CASE WHEN g % 10 = 3 THEN md5((g - 1)::text)::uuid::text END,
    CASE WHEN g % 10 = 3 THEN md5((g - 1)::text)::uuid::text END,
    CASE WHEN g % 10 = 3 THEN 'group-' || g / 10 END,
    CASE WHEN g % 5 = 1 THEN 'tenant-' || g % 1000 END
FROM generate_series(1, {rows}) AS g,
    LATERAL (SELECT (now() AT TIME ZONE 'UTC') - ({rows} - g) * interval '10 ms' AS at) AS t
"""


INDEXES_SQL = """
SELECT c.relname, pg_relation_size(c.oid), pg_get_indexdef(c.oid)
FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
WHERE i.indrelid = %s::regclass ORDER BY c.relname
"""


class Variant(NamedTuple):
    name: str
    statements: tuple[str, ...]


def parse_variant(text: str) -> Variant:
    name, spec = text, text
    if not spec.startswith(("baseline", "extra:", "drop:")) and "=" in spec:
        name, spec = spec.split("=", 1)
    kind, _, body = spec.partition(":")
    if spec == "baseline":
        return Variant(name, ())
    if kind == "extra":
        return Variant(name, tuple(s.strip() for s in body.split(";") if s.strip()))
    if kind == "drop":
        names = [n.strip() for n in body.split(",") if n.strip()]
        return Variant(name, tuple(f"DROP INDEX {n}" for n in names))
    raise argparse.ArgumentTypeError(f"not baseline, extra:<SQL> or drop:<names>: {text!r}")


# ----------------------------------------------------------------------------- workload


def task_events(n: int, task_id: str, at: float) -> dict[str, list[ExecutionEvent]]:
    """The events each process records for task ``n``, as celery_ops.signals builds them."""
    name, queue, worker = f"app.tasks.task_{n % 50:02d}", QUEUES[n % 5], f"worker{n % 4}@bench"
    parent = str(uuid.uuid4()) if n % 10 == 3 else None
    # What the message carries: known to the producer and again to the worker.
    tenant = f"tenant-{n % 1000}" if n % 5 == 1 else None
    sent = {"task_name": name, "queue": queue, "eta": None, "expires": None, "parent_id": parent,
            "root_id": parent, "group_id": f"group-{n // 10}" if parent else None,
            "tenant_id": tenant, "schedule_name": None}  # fmt: skip
    args, kwargs = (n, f"order-{n}"), {"customer": f"cust-{n % 5000}"}
    pid = 1000 + n % 8

    def event(
        kind: str, offset: float, status: str, values: dict[str, Any], **more: Any
    ) -> ExecutionEvent:
        return ExecutionEvent(task_id, kind, at + offset, status, 1, values=values, **more)

    return {
        "producer": [
            event("published", 0, states.PENDING,
                  {**sent, "published_at": at, "priority": None, "retried_from": None},
                  arguments=Arguments(args, kwargs, repr(args), repr(kwargs)),
                  on_timeline=False),  # the row holds it (store.queries.get_timeline)
        ],
        "received": [
            event("received", 0.05, states.RECEIVED,
                  {**sent, "received_at": at + 0.05, "worker_id": worker}, worker=worker),
        ],
        "child": [
            event("started", 0.06, states.STARTED,
                  {"task_name": name, "started_at": at + 0.06, "worker_id": worker, "pid": pid,
                   "attempts": 1, "wait_time_ms": 60.0},
                  details={"pid": pid}, worker=worker),
            event("succeeded", 0.07, states.SUCCESS, {"completed_at": at + 0.07},
                  result={"ok": n}, worker=worker),
            event("finished", 0.07, states.SUCCESS,
                  {"execution_time_ms": 10.0, "memory_usage_mb": 0.0}, on_timeline=False),
        ],
    }  # fmt: skip


def phase_batches(numbers: range, batch_events: int) -> dict[str, list[RecordBatch]]:
    """Each process's events for these tasks, cut and folded as its flusher would."""
    events: dict[str, list[ExecutionEvent]] = {phase: [] for phase in PHASES}
    now = time.time()
    for n in numbers:
        for phase, recorded in task_events(n, str(uuid.uuid4()), now + n * 0.001).items():
            events[phase] += recorded
    limit, keep_message_args = DEFAULTS.max_payload_bytes, DEFAULTS.store_message_args
    return {
        phase: [
            fold_events(recorded[i : i + batch_events], limit, keep_message_args)
            for i in range(0, len(recorded), batch_events)
        ]
        for phase, recorded in events.items()
    }


# ---------------------------------------------------------------------------- measuring


def backend_cpu_ns(pid: int) -> int | None:
    # schedstat's first field is the exact CPU time in ns; /proc/<pid>/stat's utime + stime
    # count 10 ms ticks, too coarse for phases of a few hundred ms.
    try:
        with open(f"/proc/{pid}/schedstat") as file:
            return int(file.read().split()[0])
    except (FileNotFoundError, ProcessLookupError):
        return None


def read_meters(admin: psycopg.Connection[Any]) -> dict[str, Any]:
    """This process's clocks, the CPU time of each backend serving DATABASE, the WAL position."""
    wal, pids = admin.execute(
        "SELECT pg_current_wal_lsn() - '0/0'::pg_lsn, array(SELECT pid FROM pg_stat_activity"
        " WHERE datname = %s AND backend_type = 'client backend')",
        (DATABASE,),
    ).fetchone()  # type: ignore[misc]
    cpu = {pid: ns for pid in pids if (ns := backend_cpu_ns(pid)) is not None}
    return {"wall": time.perf_counter(), "client": time.process_time(), "cpu": cpu, "wal": wal}


def spent(before: dict[str, Any], after: dict[str, Any]) -> dict[str, float]:
    # A backend that appeared meanwhile started at zero.
    server_ns = sum(ns - before["cpu"].get(pid, 0) for pid, ns in after["cpu"].items())
    return {
        "wall": (after["wall"] - before["wall"]) * 1e6,
        "client": (after["client"] - before["client"]) * 1e6,
        "server": server_ns / 1e3,
        "wal": float(after["wal"] - before["wal"]),
    }


def write_tasks(
    store: Store, admin: psycopg.Connection[Any], numbers: range, options: argparse.Namespace
) -> PerTask:
    """Write these tasks phase by phase, chunk by chunk; per phase, what it cost per task."""
    totals = {phase: dict.fromkeys(METRICS, 0.0) for phase in PHASES}
    for start in range(numbers.start, numbers.stop, options.chunk):
        chunk = range(start, min(start + options.chunk, numbers.stop))
        batches = phase_batches(chunk, options.batch)
        for phase in PHASES:
            before = read_meters(admin)
            for batch in batches[phase]:
                store.write(batch)
            for metric, value in spent(before, read_meters(admin)).items():
                totals[phase][metric] += value
    per_task = {p: {m: v / len(numbers) for m, v in totals[p].items()} for p in PHASES}
    per_task["total"] = {m: sum(per_task[p][m] for p in PHASES) for m in METRICS}
    return per_task


# --------------------------------------------------------------------------------- runs


def create_seed(admin: psycopg.Connection[Any], rows: int) -> list[IndexRow]:
    for name in (DATABASE, SEED_DATABASE):
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    admin.execute(f"CREATE DATABASE {SEED_DATABASE}")
    store = Store(f"{SERVER}/{SEED_DATABASE}")
    store.ensure_schema(create=True)
    store.dispose()
    with psycopg.connect(f"{ADMIN_DSN} dbname={SEED_DATABASE}", autocommit=True) as seed:
        if rows:
            started = time.perf_counter()
            seed.execute(prefill_sql(rows))
            print(f"pre-filled {rows:,} rows in {time.perf_counter() - started:.0f} s", flush=True)
        # Hint bits and the visibility map set once here, not by whichever run comes first.
        seed.execute("VACUUM ANALYZE")
        return seed.execute(INDEXES_SQL, (TABLE,)).fetchall()


def run(
    admin: psycopg.Connection[Any], variant: Variant, options: argparse.Namespace
) -> dict[str, Any]:
    admin.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
    admin.execute(f"CREATE DATABASE {DATABASE} TEMPLATE {SEED_DATABASE} STRATEGY FILE_COPY")
    with psycopg.connect(f"{ADMIN_DSN} dbname={DATABASE}", autocommit=True) as target:
        for statement in variant.statements:
            target.execute(statement)
        indexes = target.execute(INDEXES_SQL, (TABLE,)).fetchall()
    store = Store(f"{SERVER}/{DATABASE}")
    store.ensure_schema(create=False)
    write_tasks(store, admin, range(options.warmup), options)
    admin.execute("CHECKPOINT")
    checkpoints = checkpoint_count(admin)
    timed = range(options.warmup, options.warmup + options.tasks)
    result = write_tasks(store, admin, timed, options)
    store.dispose()
    checkpoints = checkpoint_count(admin) - checkpoints
    return {"per_task": result, "indexes": indexes, "checkpoints": checkpoints}


def checkpoint_count(admin: psycopg.Connection[Any]) -> int:
    # Any checkpoint during the timed writes (another session's CREATE DATABASE, WAL volume)
    # makes every page touched after it log a full-page image again: more WAL and CPU.
    sql = "SELECT checkpoints_timed + checkpoints_req FROM pg_stat_bgwriter"
    return int(admin.execute(sql).fetchone()[0])  # type: ignore[index]


def summarize(runs: list[dict[str, Any]]) -> PerTask:
    """Median over the rounds of every metric of every phase (and of the total)."""
    return {
        phase: {m: statistics.median(r["per_task"][phase][m] for r in runs) for m in METRICS}
        for phase in (*PHASES, "total")
    }


def print_indexes(title: str, indexes: list[IndexRow]) -> None:
    print(title)
    for name, size, definition in indexes:
        print(f"  {size / 2**20:7.1f} MB  {name}: {definition.split(' USING ')[-1]}")


def print_index_changes(name: str, baseline: list[IndexRow], indexes: list[IndexRow]) -> None:
    before, after = {i[0] for i in baseline}, {i[0] for i in indexes}
    print_indexes(f"{name}: added", [i for i in indexes if i[0] not in before])
    print(f"  dropped: {', '.join(sorted(before - after)) or 'none'}")


def print_table(results: dict[str, dict[str, Any]]) -> None:
    base = results["baseline"]["median"]["total"]
    columns = "".join(f"{c:>10}" for c in (*PHASES, "total"))
    print(f"\n{'variant':<12}{'per task':<15}{columns}{'total min-max':>17}{'ratio':>7}")
    for name, result in results.items():
        for metric, label in METRICS.items():
            median = result["median"]
            cells = "".join(f"{median[c][metric]:10.1f}" for c in (*PHASES, "total"))
            totals = [r["per_task"]["total"][metric] for r in result["runs"]]
            spread = f"{min(totals):.0f}-{max(totals):.0f}"
            ratio = median["total"][metric] / base[metric] if base[metric] else float("nan")
            print(f"{name:<12}{label:<15}{cells}{spread:>17}{ratio:7.2f}")
            name = ""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--rows", type=int, default=1_000_000, help="executions pre-filled")
    parser.add_argument("--tasks", type=int, default=20_000, help="tasks timed per run")
    parser.add_argument("--warmup", type=int, default=1_500, help="untimed tasks per run")
    parser.add_argument("--batch", type=int, default=DEFAULTS.flush_batch, help="events")
    parser.add_argument("--chunk", type=int, default=1_500, help="tasks per three-phase chunk")
    parser.add_argument("--rounds", type=int, default=3)
    variant_help = "[NAME=]baseline | extra:<SQL>;<SQL> | drop:<index>,<index>"
    parser.add_argument("--variant", action="append", type=parse_variant, default=[],
                        help=variant_help)  # fmt: skip
    parser.add_argument("--json", help="write the runs, medians and index lists here")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    variants = [v for v in options.variant if v.name != "baseline"]
    variants.insert(0, Variant("baseline", ()))
    with psycopg.connect(ADMIN_DSN, autocommit=True) as admin:
        version = admin.execute("SHOW server_version").fetchone()[0]  # type: ignore[index]
        seed_indexes = create_seed(admin, options.rows)
        print_indexes(f"baseline indexes on {TABLE} (PostgreSQL {version}):", seed_indexes)
        runs: dict[str, list[dict[str, Any]]] = {v.name: [] for v in variants}
        for round_number in range(1, options.rounds + 1):
            for variant in variants:
                result = run(admin, variant, options)
                runs[variant.name].append(result)
                total = result["per_task"]["total"]
                print(
                    f"round {round_number} {variant.name}: server {total['server']:.1f} µs,"
                    f" client {total['client']:.1f} µs, wall {total['wall']:.1f} µs per task;"
                    f" {result['checkpoints']} checkpoint(s) during the timed writes",
                    flush=True,
                )
    results = {
        name: {"statements": statements, "median": summarize(runs[name]), "runs": runs[name]}
        for name, statements in variants
    }
    for variant in variants[1:]:
        print_index_changes(variant.name, seed_indexes, runs[variant.name][0]["indexes"])
    print_table(results)
    if options.json:
        settings = {k: v for k, v in vars(options).items() if k != "variant"}
        report = {"options": settings, "postgres": version, "baseline_indexes": seed_indexes,
                  "variants": results}  # fmt: skip
        with open(options.json, "w") as file:
            json.dump(report, file, indent=2, default=str)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
