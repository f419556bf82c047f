#!/usr/bin/env python
"""Does every dashboard page stay fast on a big store? Server time per view, p50 and p95.

A run seeds a store with ``--rows`` executions (30 days of history; the mix below), then
signs in through the login form and requests every view ``--repeat`` times in process,
through Flask's test client: the time measured is the whole server side of a request (auth,
queries, template), without the network. Values that a filter takes are varied between
requests (a common task name and a rare one, a worker, a tenant, ...), so that the figures
are not those of one warm cache line.

Beside the views it times, on the same store, what a naive admin list would run instead
(the "tool a user would pick instead" here is a Flask-Admin or Django-admin ``ModelView``:
``SELECT count(*)`` of the filter plus ``LIMIT 50 OFFSET n``).

The mix (deterministic, a function of the row number ``g``):

- statuses: 90 % SUCCESS, 5 % FAILURE (5 exception types), 1 % each REVOKED, RETRY, PENDING,
  STARTED, 0.5 % RECEIVED, 0.4 % LOST, 0.1 % REJECTED;
- 50 task names, skewed: ``task_49`` takes 5.9 % of the rows, ``task_05`` to ``task_09``
  0.07 to 0.2 %, ``task_00`` to ``task_03`` none; 5 queues (60 % ``default``); 10 workers;
- 5 % sent by one of 20 schedules, 20 % carry one of 1,000 tenants, 10 % are members of
  fan-out groups of 10 (with a parent), 0.1 % were retried from an earlier row;
- two timeline events per execution; the search text of every execution.

Seeding is done in SQL (``generate_series`` on PostgreSQL, a recursive CTE on SQLite), in
chunks with a progress line. On PostgreSQL the secondary indexes are dropped while seeding
and built again after (as ``pg_restore`` does); the seeded store is kept, and a later run
with the same ``--rows`` reuses it unless ``--reseed``.

Examples::

    .venv/bin/python bench/dashboard_scale.py --backend sqlite --rows 1000000
    .venv/bin/python bench/dashboard_scale.py --backend postgresql --rows 10000000 \\
        --json bench/results/dashboard_pg.json

PostgreSQL: the database ``bench_dashboard`` on 127.0.0.1 is created when missing.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote

from celery import Celery
from sqlalchemy import Connection, Engine, create_engine, text

from celery_ops.dashboard import create_app
from celery_ops.extension import get_ops
from celery_ops.operations import Actor
from celery_ops.store.database import Store

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
SQLITE_FILE = RESULTS / "dashboard_scale.sqlite3"
PG_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432"
PG_DATABASE = "bench_dashboard"
PASSWORD = "bench-password"
#: The seeded history ends at this instant, so that "the last hour" is the same each run.
HISTORY_DAYS = 30
CHUNK = 500_000


# ---------------------------------------------------------------------------------- seeding


def task_id_of(g: int) -> str:
    """Row ``g``'s task id, as the seeding SQL writes it (UUID-shaped, increasing with g)."""
    return f"{g:08x}-0000-4000-8000-{(g * 2654435761) % (1 << 48):012x}"


class Dialect:
    """The few SQL spellings that differ between PostgreSQL and SQLite."""

    def __init__(self, name: str) -> None:
        self.name = name

    def numbers(self) -> str:
        if self.name == "postgresql":
            return "generate_series(CAST(:lo AS bigint), CAST(:hi AS bigint)) AS s(g)"
        return "s"

    def with_numbers(self) -> str:
        if self.name == "postgresql":
            return ""
        return "WITH RECURSIVE s(g) AS (SELECT :lo UNION ALL SELECT g + 1 FROM s WHERE g < :hi) "

    def task_id(self, g: str) -> str:
        g = f"({g})"
        if self.name == "postgresql":
            return (
                f"lpad(to_hex({g}), 8, '0') || '-0000-4000-8000-' || "
                f"lpad(to_hex(({g} * 2654435761) % 281474976710656), 12, '0')"
            )
        return f"printf('%08x-0000-4000-8000-%012x', {g}, ({g} * 2654435761) % 281474976710656)"

    def at(self, seconds: str) -> str:
        """A naive UTC timestamp ``seconds`` after the Unix epoch."""
        if self.name == "postgresql":
            return f"(to_timestamp({seconds}) AT TIME ZONE 'UTC')"
        return f"(datetime({seconds}, 'unixepoch') || '.000000')"


def _mix(d: Dialect, start: float, step: float) -> dict[str, str]:
    """Column -> SQL expression of the row number ``g``."""
    u = "((g * 7919) % 1000)"  # a uniform-looking 0..999 per row
    v = "((g * 104729) % 1000)"  # another one, independent enough
    t = f"({start} + g * {step})"
    status = (
        f"CASE WHEN {u} < 900 THEN 'SUCCESS' WHEN {u} < 950 THEN 'FAILURE' "
        f"WHEN {u} < 960 THEN 'REVOKED' WHEN {u} < 970 THEN 'RETRY' "
        f"WHEN {u} < 980 THEN 'PENDING' WHEN {u} < 990 THEN 'STARTED' "
        f"WHEN {u} < 995 THEN 'RECEIVED' WHEN {u} < 999 THEN 'LOST' ELSE 'REJECTED' END"
    )
    # Skewed task names: name k for v in [k^3/125, (k+1)^3/125) of 1000.
    task = "CASE " + " ".join(
        f"WHEN {v} < {int((k + 1) ** 3 / 125)} THEN 'app.tasks.task_{k:02d}'" for k in range(49)
    )
    task += " ELSE 'app.tasks.task_49' END"
    pending = f"({u} >= 970 AND {u} < 980)"
    failed = f"({u} >= 900 AND {u} < 950)"
    grouped = "(g % 10 = 3)"
    return {
        "task_id": d.task_id("g"),
        "task_name": task,
        "queue": f"CASE WHEN {v} % 10 < 6 THEN 'default' ELSE 'queue_' || ({v} % 10 - 5) END",
        "args": "'[' || g || ', \"order-' || (g % 100000) || '\"]'",
        "kwargs": "'{\"customer\": \"cust-' || (g % 5000) || '\"}'",
        "message_args": "'[' || g || ', \"order-' || (g % 100000) || '\"]'",
        "message_kwargs": "'{\"customer\": \"cust-' || (g % 5000) || '\"}'",
        "status": status,
        "progress": "0",
        "status_at": d.at(f"{t} + 1"),
        "attempts": f"CASE WHEN {pending} THEN 0 ELSE 1 END",
        "published_at": d.at(t),
        "received_at": f"CASE WHEN {pending} THEN NULL ELSE {d.at(f'{t} + 0.2')} END",
        "started_at": f"CASE WHEN {pending} THEN NULL ELSE {d.at(f'{t} + 0.3')} END",
        "completed_at": f"CASE WHEN {u} < 900 THEN {d.at(f'{t} + 1')} END",
        "failed_at": f"CASE WHEN {failed} THEN {d.at(f'{t} + 1')} END",
        "execution_time_ms": f"CASE WHEN {u} < 950 THEN 700.0 + g % 300 END",
        "worker_id": f"CASE WHEN {pending} THEN NULL ELSE 'celery@worker' || (g % 10) END",
        "result": f"CASE WHEN {u} < 900 THEN '{{\"ok\": true}}' END",
        "error_type": f"CASE WHEN {failed} THEN 'Error' || ({u} % 5) END",
        "error_message": f"CASE WHEN {failed} THEN 'failed on order ' || g END",
        "exception_trace": (
            f"CASE WHEN {failed} THEN 'Traceback (most recent call last):\n"
            '  File "app/tasks.py", line 42, in run\n    raise Error()\n\' END'
        ),
        "parent_id": f"CASE WHEN {grouped} THEN {d.task_id('g - 3')} END",
        "root_id": f"CASE WHEN {grouped} THEN {d.task_id('g - 3')} END",
        "group_id": f"CASE WHEN {grouped} THEN 'group-' || (g / 100) END",
        "schedule_name": "CASE WHEN g % 20 = 7 THEN 'schedule-' || (g % 400 / 20) END",
        "retried_from": f"CASE WHEN g % 1000 = 999 THEN {d.task_id('g - 500')} END",
        "tenant_id": "CASE WHEN g % 5 = 1 THEN 'tenant-' || (g % 5000 / 5) END",
    }


def seed(engine: Engine, rows: int, end: datetime) -> None:
    d = Dialect(engine.dialect.name)
    step = HISTORY_DAYS * 86400 / rows
    start = end.timestamp() - HISTORY_DAYS * 86400
    mix = _mix(d, start, step)
    columns = ", ".join(mix)
    values = ", ".join(mix.values())
    statements = [
        f"{d.with_numbers()}INSERT INTO celery_ops_executions ({columns}) "
        f"SELECT {values} FROM {d.numbers()}",
        f"{d.with_numbers()}INSERT INTO celery_ops_events (task_id, event, at, worker, details) "
        f"SELECT {d.task_id('g')}, 'PUBLISHED', {d.at(f'{start} + g * {step}')}, NULL, NULL "
        f"FROM {d.numbers()}",
        f"{d.with_numbers()}INSERT INTO celery_ops_events (task_id, event, at, worker, details) "
        f"SELECT {d.task_id('g')}, 'STARTED', {d.at(f'{start} + g * {step} + 0.3')}, "
        f"'celery@worker' || (g % 10), NULL FROM {d.numbers()}",
        f"{d.with_numbers()}INSERT INTO celery_ops_search (task_id, text) "
        f"SELECT {d.task_id('g')}, {mix['args']} || ' ' || {mix['kwargs']} FROM {d.numbers()}",
    ]
    with engine.connect() as connection:
        dropped = _drop_secondary_indexes(connection) if d.name == "postgresql" else []
        began = time.monotonic()
        for lo in range(1, rows + 1, CHUNK):
            hi = min(rows, lo + CHUNK - 1)
            with connection.begin():
                for statement in statements:
                    connection.execute(text(statement), {"lo": lo, "hi": hi})
            rate = hi / (time.monotonic() - began)
            print(f"  seeded {hi:,} of {rows:,} executions ({rate:,.0f}/s)", flush=True)
        for name, definition in dropped:
            print(f"  building {name}", flush=True)
            with connection.begin():
                connection.execute(text("SET maintenance_work_mem = '1GB'"))
                connection.execute(text(definition))
        with connection.begin():
            connection.execute(text("ANALYZE"))
        _seed_definitions(connection)


def _drop_secondary_indexes(connection: Connection) -> list[tuple[str, str]]:
    """Drop the non-unique indexes of the seeded tables; return how to build them again."""
    with connection.begin():
        found = connection.execute(
            text(
                "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' AND "
                "tablename IN ('celery_ops_executions', 'celery_ops_events', "
                "'celery_ops_search') AND indexdef NOT LIKE 'CREATE UNIQUE%'"
            )
        ).all()
        for name, _ in found:
            connection.execute(text(f'DROP INDEX "{name}"'))
    return [(name, definition) for name, definition in found]


def _seed_definitions(connection: Connection) -> None:
    with connection.begin():
        for k in range(50):
            connection.execute(
                text(
                    "INSERT INTO celery_ops_definitions (name, queue, workers, first_seen, "
                    "last_seen) VALUES (:name, 'default', '[]', :now, :now)"
                ),
                {"name": f"app.tasks.task_{k:02d}", "now": datetime.now(timezone.utc)},
            )


def prepare_store(backend: str, rows: int, reseed: bool) -> tuple[str, datetime]:
    """The store's URL, seeded with ``rows`` executions ending at the returned instant."""
    RESULTS.mkdir(exist_ok=True)
    if backend == "sqlite":
        url = f"sqlite:///{SQLITE_FILE}"
        marker = SQLITE_FILE.with_suffix(".json")
        if reseed or not _matches(marker, rows):
            marker.unlink(missing_ok=True)
            for leftover in RESULTS.glob(SQLITE_FILE.name + "*"):
                leftover.unlink()
    else:
        url = f"{PG_SERVER}/{PG_DATABASE}"
        marker = RESULTS / "dashboard_scale.pg.json"
        if reseed or not _matches(marker, rows):
            marker.unlink(missing_ok=True)
            _recreate_pg_database()
    if _matches(marker, rows):
        end = datetime.fromisoformat(json.loads(marker.read_text())["end"])
        print(f"reusing the seeded store ({rows:,} executions, {url})")
        _backfill_rollups(url, marker)
        return url, end
    store = Store(url)
    store.ensure_schema(create=True)
    end = datetime.now(timezone.utc).replace(microsecond=0)
    print(f"seeding {rows:,} executions into {url}")
    began = time.monotonic()
    seed(store.engine, rows, end)
    store.dispose()
    seconds = time.monotonic() - began
    print(f"seeded in {seconds:.0f} s")
    marker.write_text(json.dumps({"rows": rows, "end": end.isoformat(), "seconds": seconds}))
    _backfill_rollups(url, marker)
    return url, end


def _backfill_rollups(url: str, marker: Path) -> None:
    """Seeding writes rows in SQL, past the write path: count them into the rollups with
    the product's backfill (`ops metrics backfill`), timed, once per seeded store."""
    seeded = json.loads(marker.read_text())
    if seeded.get("backfill_seconds") is not None:
        return
    store = Store(url)
    store.upgrade()
    began = time.monotonic()
    counted, after_id = 0, 0
    while True:
        chunk = store.metrics.backfill(after_id, 5000)
        if chunk.last_id is None:
            break
        counted, after_id = counted + chunk.counted, chunk.last_id
    seconds = time.monotonic() - began
    print(f"backfilled the rollups: {counted:,} executions in {seconds:.0f} s")
    if store.engine.dialect.name == "postgresql":
        # The backfill updated every row once: what autovacuum would do before long.
        with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.execute(text("VACUUM ANALYZE"))
    store.dispose()
    marker.write_text(json.dumps({**seeded, "backfill_seconds": seconds, "backfilled": counted}))


def _matches(marker: Path, rows: int) -> bool:
    if not marker.exists():
        return False
    return bool(json.loads(marker.read_text()).get("rows") == rows)


def _recreate_pg_database() -> None:
    engine = create_engine(f"{PG_SERVER}/postgres", isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(f"DROP DATABASE IF EXISTS {PG_DATABASE}"))
        connection.execute(text(f"CREATE DATABASE {PG_DATABASE}"))
    engine.dispose()


# -------------------------------------------------------------------------------- measuring


def views(rows: int, end: datetime) -> dict[str, Callable[[int], str]]:
    """View name -> the URL of its ``i``-th request."""
    hour_ago = (end - timedelta(hours=1)).isoformat()
    mid = end - timedelta(days=HISTORY_DAYS / 2)

    def row(i: int) -> int:
        return 1 + (i * 7_654_321) % rows

    def rare_task(i: int) -> str:
        return f"app.tasks.task_{5 + i % 5:02d}"

    return {
        "home": lambda i: "/",
        "executions": lambda i: "/executions/",
        "executions, deep page": lambda i: f"/executions/?before={row(i)}",
        "status=FAILURE": lambda i: "/executions/?status=FAILURE",
        "status=REJECTED (0.1 %)": lambda i: "/executions/?status=REJECTED",
        "status=PENDING+STARTED": lambda i: "/executions/?status=PENDING&status=STARTED",
        "task (common)": lambda i: f"/executions/?task=app.tasks.task_{45 + i % 5}",
        "task (rare)": lambda i: f"/executions/?task={rare_task(i)}",
        "task (unknown)": lambda i: "/executions/?task=app.tasks.nothing",
        "task (rare) + FAILURE": lambda i: f"/executions/?task={rare_task(i)}&status=FAILURE",
        "queue": lambda i: f"/executions/?queue=queue_{1 + i % 4}",
        "worker": lambda i: f"/executions/?worker=celery@worker{i % 10}",
        "schedule": lambda i: f"/executions/?schedule=schedule-{i % 20}",
        "tenant": lambda i: f"/executions/?tenant=tenant-{i % 1000}",
        "last hour": lambda i: f"/executions/?since={quote(hour_ago)}",
        "an hour 15 days ago": lambda i: (
            f"/executions/?since={quote((mid + timedelta(minutes=i)).isoformat())}"
            f"&until={quote((mid + timedelta(minutes=i + 60)).isoformat())}"
        ),
        "args text (rare)": lambda i: f"/executions/?text=order-{1000 + i * 37}%22",
        "args text (common)": lambda i: f"/executions/?text=cust-{i % 50}",
        "detail": lambda i: f"/executions/view/{task_id_of(row(i))}",
        "detail, group member": lambda i: f"/executions/view/{task_id_of(row(i) // 10 * 10 + 3)}",
        "failures (7 days)": lambda i: "/failures/?window=7d",
        "failures (30 days)": lambda i: "/failures/?window=30d",
        "tasks": lambda i: "/tasks/",
        "schedules": lambda i: "/schedules/",
        "audit": lambda i: "/audit/",
        "API list status=FAILURE": lambda i: "/api/tasks?status=FAILURE&limit=50",
        "API list, cursor": lambda i: f"/api/tasks?limit=50&cursor={row(i)}",
        "API detail": lambda i: f"/api/tasks/{task_id_of(row(i))}",
        "workers": lambda i: "/workers/",
        "queues": lambda i: "/queues/",
        "queue page": lambda i: f"/queues/view/queue_{1 + i % 4}",
        "API queues": lambda i: "/api/queues",
        "task page (rollups)": lambda i: f"/tasks/view/app.tasks.task_{45 + i % 5}",
        "API metrics, last hour by minute": lambda i: "/api/metrics?step=1m",
        "API metrics, 7 days by hour": lambda i: (
            f"/api/metrics?step=1h&since={quote((end - timedelta(days=7)).isoformat())}"
        ),
        "API metrics, one task, 30 days by day": lambda i: (
            f"/api/metrics?task=app.tasks.task_{45 + i % 5}&step=1d"
            f"&since={quote((end - timedelta(days=30)).isoformat())}"
        ),
        "API queue history": lambda i: f"/api/queues/queue_{1 + i % 4}/history",
        "metrics (Prometheus)": lambda i: "/metrics",
        "API health": lambda i: "/api/health",
        "alerts": lambda i: "/alerts/",
        "API queue stats": lambda i: f"/api/queues/queue_{1 + i % 4}/stats",
    }


def naive_queries(rows: int) -> dict[str, str]:
    """What a Flask-Admin/Django-admin ModelView runs for a page of the same list."""
    return {
        "naive: count(*) all": "SELECT count(*) FROM celery_ops_executions",
        "naive: count(*) status=FAILURE": (
            "SELECT count(*) FROM celery_ops_executions WHERE status = 'FAILURE'"
        ),
        "naive: page 1000 (OFFSET)": (
            "SELECT * FROM celery_ops_executions ORDER BY id DESC LIMIT 50 OFFSET 50000"
        ),
        "naive: task LIKE (ilike filter)": (
            "SELECT * FROM celery_ops_executions WHERE lower(task_name) LIKE '%task_47%' "
            "ORDER BY id DESC LIMIT 50"
        ),
    }


def signed_in_dashboard(url: str, name: str) -> tuple[Celery, Any]:
    """A dashboard of the store at ``url`` and a test client signed in as its admin."""
    celery_app = Celery(name, set_as_current=False)
    celery_app.conf.update(
        broker_url="memory://", ops_database_url=url, ops_dashboard_secret_key="bench"
    )
    app = create_app(celery_app)
    ops = get_ops(celery_app)
    if ops.store.accounts.user("bench") is None:
        ops.operations(Actor.system("bench")).accounts.add("bench", PASSWORD, "admin")
    client = app.test_client()
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', client.get("/login").text)
    assert token, "no CSRF token on the login page"
    signed_in = client.post(
        "/login", data={"username": "bench", "password": PASSWORD, "csrf_token": token[1]}
    )
    assert signed_in.status_code == 302, signed_in.text
    return celery_app, client


def measure(
    url: str, rows: int, end: datetime, repeat: int, only: list[str] | None = None
) -> dict[str, dict[str, float]]:
    celery_app, client = signed_in_dashboard(url, "bench")
    basic = "Basic " + base64.b64encode(f"bench:{PASSWORD}".encode()).decode()

    results: dict[str, dict[str, float]] = {}
    for name, url_of in views(rows, end).items():
        if only and not any(part in name for part in only):
            continue
        timings = []
        for i in range(repeat + 1):
            path = url_of(i)
            api = path.startswith(("/api/", "/metrics"))
            headers = {"Authorization": basic} if api else {}
            began = time.perf_counter()
            response = client.get(path, headers=headers)
            elapsed = (time.perf_counter() - began) * 1000
            # /api/health says 503 when a check fails: still an answer to time.
            if response.status_code != 200 and not (
                path == "/api/health" and response.status_code == 503
            ):
                raise SystemExit(f"{name}: {path} answered {response.status_code}")
            if i:  # the first request of each view warms its statements up
                timings.append(elapsed)
        results[name] = _summary(timings)
        _print_row(name, results[name])

    engine = get_ops(celery_app).store.engine
    for name, sql in naive_queries(rows).items():
        if only and not any(part in name for part in only):
            continue
        timings = []
        for i in range(min(repeat, 5) + 1):
            began = time.perf_counter()
            with engine.connect() as connection:
                connection.execute(text(sql)).all()
            if i:
                timings.append((time.perf_counter() - began) * 1000)
        results[name] = _summary(timings)
        _print_row(name, results[name])
    return results


def _summary(timings: list[float]) -> dict[str, float]:
    timings.sort()
    p95 = timings[min(len(timings) - 1, round(0.95 * (len(timings) - 1)))]
    return {"p50_ms": statistics.median(timings), "p95_ms": p95, "max_ms": timings[-1]}


def _print_row(name: str, summary: dict[str, float]) -> None:
    flag = "" if summary["p95_ms"] < 300 or name.startswith("naive") else "   <-- over 300 ms"
    print(
        f"  {name:32} p50 {summary['p50_ms']:8.1f} ms   p95 {summary['p95_ms']:8.1f} ms"
        f"   max {summary['max_ms']:8.1f} ms{flag}",
        flush=True,
    )


def live_pages(rows: int) -> dict[str, str]:
    """Pages that poll for changes while open: name -> path."""
    return {
        "execution page": f"/executions/view/{task_id_of(1 + 7_654_321 % rows)}",
        "executions list": "/executions/",
        "list status=FAILURE": "/executions/?status=FAILURE",
        "list task (rare)": "/executions/?task=app.tasks.task_07",
        "home": "/",
        "workers": "/workers/",
        "queues": "/queues/",
    }


def measure_live(url: str, rows: int, repeat: int) -> dict[str, dict[str, float]]:
    """What an open page costs: its weight, and per poll of each live block (answered 204,
    as on a store where nothing changed) the server time, the SQL statements and their time;
    polls per minute from the block's interval."""
    celery_app, client = signed_in_dashboard(url, "bench-live")
    ops = get_ops(celery_app)
    statements: list[float] = []

    def started(conn, cursor, statement, parameters, context, executemany):
        conn.info["began"] = time.perf_counter()

    def ended(conn, cursor, statement, parameters, context, executemany):
        statements.append((time.perf_counter() - conn.info.pop("began")) * 1000)

    from sqlalchemy import event

    event.listen(ops.store.engine, "before_cursor_execute", started)
    event.listen(ops.store.engine, "after_cursor_execute", ended)
    results: dict[str, dict[str, float]] = {}
    assets: dict[str, int] = {}
    for name, path in live_pages(rows).items():
        html = client.get(path).get_data(as_text=True)
        weight = len(html.encode())
        for asset in re.findall(r'(?:href|src)="(/(?:celery-ops/)?static/[^"]+)"', html):
            if asset not in assets:
                assets[asset] = len(client.get(asset).get_data())
            weight += assets[asset]
        blocks = re.findall(
            r'data-live="([^"]+)" data-version="([^"]*)"(?: data-interval="([\d.]+)")?', html
        )
        shown = ",".join(re.findall(r'data-task-id="([^"]+)"', html))
        for number, (live_url, version, interval) in enumerate(blocks, 1):
            poll = f"{live_url.replace('&amp;', '&')}&version={version}"
            if "data-live-ids" in html and "/executions/live" in poll:
                poll += f"&ids={shown}"
            timings, counts, db_ms = [], [], []
            changed = 0
            for i in range(repeat + 1):
                statements.clear()
                began = time.perf_counter()
                response = client.get(poll)
                elapsed = (time.perf_counter() - began) * 1000
                if response.status_code not in (200, 204):
                    raise SystemExit(f"{name}: {poll} answered {response.status_code}")
                if response.status_code == 200:
                    # What it shows moves by itself (a running time, a sliding window):
                    # the poll answers the block, and the next poll asks with its version.
                    changed += 1
                    version = response.get_json()["version"]
                    poll = f"{poll.rsplit('&version=', 1)[0]}&version={version}" + (
                        f"&ids={shown}" if "&ids=" in poll else ""
                    )
                if i:
                    timings.append(elapsed)
                    counts.append(len(statements))
                    db_ms.append(sum(statements))
            label = f"live: {name}" + (f" (block {number})" if len(blocks) > 1 else "")
            results[label] = {
                **_summary(timings),
                "statements": statistics.median(counts),
                "db_ms_median": round(statistics.median(db_ms), 2),
                "polls_per_minute": round(60 / float(interval or 2), 1),
                "answered_changed": changed,
                "page_bytes": weight,
            }
            _print_row(label, results[label])
            print(
                f"    {results[label]['statements']:.0f} statement(s), "
                f"{results[label]['db_ms_median']} ms in the database per poll, "
                f"{results[label]['polls_per_minute']} polls a minute, page {weight:,} bytes, "
                f"{changed} of {repeat + 1} polls answered with a change"
            )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=20, help="requests per view")
    parser.add_argument("--reseed", action="store_true", help="seed again even if kept")
    parser.add_argument("--json", type=Path, help="write the figures here too")
    parser.add_argument(
        "--only", action="append", help="time only the views whose name holds this (repeatable)"
    )
    parser.add_argument(
        "--live", action="store_true", help="also time the polls of the pages that update live"
    )
    options = parser.parse_args()

    url, end = prepare_store(options.backend, options.rows, options.reseed)
    print(f"{options.repeat} requests per view, server time in process:")
    results = measure(url, options.rows, end, options.repeat, options.only)
    if options.live:
        print("Live pages: a poll of each live block while nothing changes (204):")
        results.update(measure_live(url, options.rows, options.repeat))
    over = [name for name, r in results.items() if r["p95_ms"] >= 300 and "naive" not in name]
    print(f"{len(over)} view(s) over 300 ms at p95" + (f": {', '.join(over)}" if over else ""))
    if options.json:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=HERE
        ).stdout.strip()
        options.json.write_text(
            json.dumps(
                {
                    "backend": options.backend,
                    "rows": options.rows,
                    "repeat": options.repeat,
                    "commit": commit,
                    "python": sys.version.split()[0],
                    "cpus": os.cpu_count(),
                    "views": results,
                },
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
