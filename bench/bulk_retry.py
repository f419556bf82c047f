#!/usr/bin/env python
"""How long does a bulk retry of 10,000 failures take, and does it keep its promises?

Seeds ``--failures`` failed executions (with their exact arguments kept, as a producer with
celery-ops records them) in a fresh PostgreSQL database, then retries everything the filter
``status=FAILURE`` matches through the dashboard, in process (Flask's test client, a real
Redis broker, no worker consuming the queue):

- ``api``: ``POST /api/tasks/retry {"filter": {"status": "FAILURE"}}`` with HTTP Basic;
- ``page``: the executions page's "Retry everything matching the filter" form.

For each it reports the time until the request was answered (the page must never wait for
the work), the time until the job ended (``GET /api/jobs/<id>`` polled), the job's counts,
and then checks that every new execution carries ``retried_from`` and that the audit log
holds one row for the operation, with the counts. Run each after the other on the same seed
(the second retries the first's originals again: the filter matches the same failures).

Example::

    .venv/bin/python bench/bulk_retry.py --failures 10000

Needs PostgreSQL on 127.0.0.1:5432 (database ``bench_bulk`` is dropped and created) and
Redis on 127.0.0.1:6379 (db 10 is flushed).
"""

from __future__ import annotations

import argparse
import base64
import json
import re
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import redis
from celery import Celery
from sqlalchemy import create_engine, text

import celery_ops
from celery_ops.core.filters import ExecutionFilter
from celery_ops.dashboard import create_app
from celery_ops.operations import Actor
from celery_ops.recording.events import ExecutionEvent
from celery_ops.recording.folding import fold_events
from celery_ops.recording.payload import Arguments
from celery_ops.store.audit import AuditQuery

PG_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432"
DATABASE = "bench_bulk"
BROKER = "redis://127.0.0.1:6379/10"
PASSWORD = "bench-password"
QUEUE = "bulk-retry"


def fresh_database() -> str:
    admin = create_engine(f"{PG_SERVER}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{DATABASE}"'))
    admin.dispose()
    return f"{PG_SERVER}/{DATABASE}"


def seed(ops: celery_ops.CeleryOps, failures: int) -> None:
    started = time.perf_counter()
    at = time.time() - 3600
    for offset in range(0, failures, 1000):
        events = []
        for index in range(offset, min(offset + 1000, failures)):
            task_id = str(uuid.uuid4())
            published = ExecutionEvent(
                task_id, "published", at, "PENDING", 1, {"task_name": "bench.add", "queue": QUEUE}
            )
            published.arguments = Arguments([index, 1], {"note": f"order-{index}"})
            events.append(published)
            events.append(
                ExecutionEvent(task_id, "failed", at + 1, "FAILURE", 1, {"error_type": "KeyError"})
            )
        ops.store.write(fold_events(events, 65_536, True))
    print(f"seeded {failures} failures in {time.perf_counter() - started:.1f}s")


def basic(role: str) -> dict[str, str]:
    token = base64.b64encode(f"{role}:{PASSWORD}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def wait_for_job(client: Any, job_id: str) -> dict[str, Any]:
    while True:
        job = client.get(f"/api/jobs/{job_id}", headers=basic("bench")).get_json()
        if job["status"] in ("done", "failed"):
            return dict(job)
        time.sleep(0.05)


def newest_job() -> str:
    engine = create_engine(f"{PG_SERVER}/{DATABASE}")
    with engine.connect() as connection:
        found = connection.execute(
            text("SELECT id FROM celery_ops_jobs ORDER BY created_at DESC LIMIT 1")
        ).scalar_one()
    engine.dispose()
    return str(found)


def run(client: Any, how: str) -> tuple[float, float, dict[str, Any]]:
    started = time.perf_counter()
    if how == "api":
        response = client.post(
            "/api/tasks/retry", json={"filter": {"status": "FAILURE"}}, headers=basic("bench")
        )
        answered = time.perf_counter() - started
        body = response.get_json()
        job_id = body["job_id"]
        job = body if response.status_code == 200 else wait_for_job(client, job_id)
    else:
        page = client.get("/executions/?status=FAILURE").text
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
        assert token, "no CSRF token on the executions page"
        started = time.perf_counter()
        response = client.post(
            "/executions/action",
            data={
                "action": "retry",
                "scope": "matching",
                "status": "FAILURE",
                "csrf_token": token.group(1),
            },
        )
        answered = time.perf_counter() - started
        location = response.headers["Location"]
        # A job that ended within the page's wait is reported on the page it returns to;
        # a longer one sends the operator to its progress page.
        job_id = location.rstrip("/").rsplit("/", 1)[-1] if "/jobs/" in location else newest_job()
        job = wait_for_job(client, job_id)
    ended = time.perf_counter() - started
    return answered, ended, {"job_id": job_id, **job}


def check(ops: celery_ops.CeleryOps, job_id: str) -> str:
    ops.recorder.flush(timeout=60)
    retried = ops.store.count_executions(ExecutionFilter(statuses=("PENDING",)), cap=None)
    with ops.store.engine.connect() as connection:
        with_origin = connection.execute(
            text(
                "SELECT count(*) FROM celery_ops_executions WHERE status = 'PENDING' "
                "AND retried_from IN (SELECT task_id FROM celery_ops_executions "
                "WHERE status = 'FAILURE')"
            )
        ).scalar_one()
    job = ops.store.jobs.get(job_id)
    assert job is not None
    rows = [e for e in ops.store.audit.page(AuditQuery(limit=50)) if e.id == job.audit_id]
    return (
        f"pending executions now {retried} (with retried_from naming a failure: "
        f"{with_origin}); the job's audit row: {rows[0].outcome}, retried="
        f"{rows[0].targets.get('retried')} matched={rows[0].targets.get('matched')}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--failures", type=int, default=10_000)
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args()

    redis.Redis.from_url(BROKER).flushdb()
    app = Celery("bench", broker=BROKER)
    app.conf.task_default_queue = QUEUE
    ops = celery_ops.init_app(app, database_url=fresh_database())
    ops.store.upgrade()
    seed(ops, args.failures)
    ops.operations(Actor.system("bench")).accounts.add("bench", PASSWORD, "operator")
    dashboard = create_app(app, SECRET_KEY="bench")
    figures: dict[str, Any] = {"failures": args.failures}
    for how in ("api", "page"):
        client = dashboard.test_client()
        if how == "page":
            login = client.get("/login").text
            token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', login)
            assert token
            client.post(
                "/login",
                data={"username": "bench", "password": PASSWORD, "csrf_token": token.group(1)},
            )
        before = ops.store.count_executions(ExecutionFilter(statuses=("PENDING",)), cap=None)
        answered, ended, job = run(client, how)
        print(
            f"{how}: answered in {answered:.2f}s, job {job['status']} after {ended:.1f}s: "
            f"{job.get('result') or {k: v for k, v in job.items() if k != 'errors'}}"
        )
        print(f"    {check(ops, job['job_id'])}; before it: {before} pending")
        figures[how] = {"answered_s": answered, "ended_s": ended, "job": job}
    depth = redis.Redis.from_url(BROKER).llen(QUEUE)
    print(f"messages waiting in {QUEUE}: {depth}")
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    print(f"celery-ops commit {commit}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"commit": commit, **figures}, indent=2, default=str))
    redis.Redis.from_url(BROKER).flushdb()
    ops.recorder.close()


if __name__ == "__main__":
    main()
