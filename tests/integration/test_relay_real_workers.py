"""A real worker in relay mode: every task recorded, through the stream, by the ingester
that holds the lease in a worker's main process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
import redis
from helpers.services import POSTGRES_ADMIN_URL, REDIS_BROKER, require
from helpers.throwaway_postgres import ThrowawayPostgres
from helpers.throwaway_redis import ThrowawayRedis
from helpers.waiting import wait_for
from helpers.workers import CELERY
from integration.conftest import ExternalApp
from integration.test_lost_work_and_outages import free_port
from sqlalchemy import create_engine, text

from celery_ops.store import Store

pytestmark = pytest.mark.slow


def test_a_real_worker_in_relay_mode_records_everything_through_its_lease(
    external_app: Callable[..., ExternalApp], new_database: Callable[[str], str], tmp_path: Path
) -> None:
    require("redis")
    require("postgresql")
    url = new_database("postgresql")
    app = external_app(
        REDIS_BROKER,
        url,
        CELERY_OPS_WRITE_MODE="relay",
        CELERY_OPS_RELAY_STREAM=f"test-relay-{uuid.uuid4().hex[:8]}",
        CELERY_OPS_SPILL_DIR=str(tmp_path / "spill"),
    )
    app.ops.store.upgrade()
    app.start_worker("relay", pool="prefork", concurrency=3)
    results = [app.module.add.delay(i, i) for i in range(60)]
    assert [r.id for r in results]

    def all_recorded() -> bool:
        rows = [app.ops.store.execution(r.id) for r in results]
        return all(row is not None and row.status == "SUCCESS" and row.published_at for row in rows)

    wait_for(all_recorded, 60, "every task recorded through the relay")
    for result in results[:10]:
        events = [e.event for e in app.ops.store.timeline(result.id)]
        assert events.count("published") == 1 and events.count("succeeded") == 1
    worker = app.ops.store.worker(app.workers[0].hostname)
    assert worker is not None and worker.online
    # The worker's four processes and our producer: only the lease holder is connected.
    app.ops.store.dispose()
    admin = create_engine(POSTGRES_ADMIN_URL)
    database = url.rsplit("/", 1)[1]
    with admin.connect() as connection:
        connected = connection.execute(
            text("SELECT count(*) FROM pg_stat_activity WHERE datname = :name"),
            {"name": database},
        ).scalar_one()
    admin.dispose()
    assert connected <= 1


RELAY_APP = """
import os

from celery import Celery

import celery_ops

app = Celery("relayapp", broker=os.environ["BROKER_URL"])
app.conf.task_default_queue = "nobody-consumes-this"
celery_ops.init_app(
    app,
    database_url=os.environ["OPS_URL"],
    write_mode="relay",
    relay_stream=os.environ["STREAM"],
    relay_claim_after=1,
    spill_dir=os.environ["SPILL_DIR"],
    flush_batch=5,
)
"""


def test_an_ingester_killed_mid_batch_loses_and_doubles_nothing(
    new_database: Callable[[str], str], tmp_path: Path
) -> None:
    require("redis")
    require("postgresql")
    url = new_database("postgresql")
    (tmp_path / "relayapp.py").write_text(RELAY_APP)
    env = {
        **os.environ,
        "BROKER_URL": REDIS_BROKER,
        "OPS_URL": url,
        "STREAM": f"test-relay-{uuid.uuid4().hex[:8]}",
        "SPILL_DIR": str(tmp_path / "spill"),
    }
    ops_cli = [CELERY, "-A", "relayapp", "ops"]
    subprocess.run([*ops_cli, "db", "upgrade"], cwd=tmp_path, env=env, check=True)
    # The producer: 12,000 sends in batches of 5: 2,400 entries, twelve rounds of an ingester.
    # Sent as retries: a retry's message is the one a producer appends to the timeline (a
    # first publish is read from the row), so a batch written twice would show there.
    producer = subprocess.run(
        [
            sys.executable,
            "-c",
            "import relayapp\n"
            "for i in range(12000): relayapp.app.send_task('proj.add', (i, i), retries=1)\n"
            "import celery_ops; assert celery_ops.get_ops(relayapp.app).recorder.flush(60)\n",
        ],
        cwd=tmp_path,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    assert producer.returncode == 0
    store = Store(url)
    pending = "SELECT count(*) FROM celery_ops_executions"

    def rows() -> int:
        with store.engine.connect() as connection:
            return int(connection.execute(text(pending)).scalar_one())

    ingester = subprocess.Popen([*ops_cli, "ingest"], cwd=tmp_path, env=env, start_new_session=True)
    try:
        wait_for(lambda: rows() > 0, 30, "the first ingester to write", interval=0.01)
    finally:
        os.killpg(ingester.pid, signal.SIGKILL)  # wherever it is in its round
        ingester.wait()
    written_before_the_kill = rows()
    assert 0 < written_before_the_kill < 12000
    time.sleep(1.5)  # what it read unacknowledged becomes claimable (relay_claim_after=1)
    again = subprocess.run(
        [*ops_cli, "ingest", "--once"], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert again.returncode == 0, again.stderr
    assert rows() == 12000
    with store.engine.connect() as connection:
        entries = connection.execute(
            text("SELECT count(*), count(DISTINCT task_id) FROM celery_ops_events")
        ).one()
    assert tuple(entries) == (12000, 12000)  # one 'retry-published' entry each, none doubled
    store.dispose()


def test_store_and_broker_outages_lose_nothing_in_relay_mode(
    external_app: Callable[..., ExternalApp], tmp_path: Path
) -> None:
    database = ThrowawayPostgres(free_port())
    broker = ThrowawayRedis(free_port())
    database.start()
    broker.start()
    spill = tmp_path / "spill"
    app = external_app(
        broker.url,
        database.url,
        CELERY_OPS_WRITE_MODE="relay",
        CELERY_OPS_SPILL_DIR=str(spill),
    )
    try:
        app.ops.store.upgrade()
        worker = app.start_worker("before", pool="prefork", concurrency=2)
        sent = [app.module.sleepy.delay(0.01).id for _ in range(300)]

        database.stop()
        # A short-lived producer sends and exits while the store is down: it must not wait
        # for the store, nor lose what it sent.
        started = time.monotonic()
        producer = subprocess.run(
            [
                sys.executable,
                "-c",
                "import extapp\nfor _ in range(700): print(extapp.sleepy.delay(0.01).id)\n",
            ],
            cwd=app.directory,
            env={**os.environ, **app.env},
            capture_output=True,
            text=True,
            check=True,
        )
        assert time.monotonic() - started < 8  # not the 10 s of ops_shutdown_flush_timeout
        sent += producer.stdout.split()
        # The worker restarts during the outage.
        worker.stop()
        app.start_worker(
            "after", pool="prefork", concurrency=2, extra=("--prefetch-multiplier", "1")
        )
        queue = redis.Redis.from_url(broker.url)
        wait_for(lambda: queue.llen(app.env["QUEUE"]) == 0, 60, "the queue to drain")
        time.sleep(2)  # the last ones run
        # Two long tasks run while the broker goes too: their records wait in spill files.
        sent += [app.module.sleepy.delay(3).id for _ in range(2)]
        wait_for(lambda: queue.llen(app.env["QUEUE"]) == 0, 30, "the long tasks to start")
        time.sleep(0.5)
        broker.stop()
        wait_for(lambda: list(spill.glob("*.spill")), 30, "a spill file")
        time.sleep(4)
        broker.start()
        time.sleep(4)
        database.start()

        def recorded() -> int:
            with app.ops.store.engine.connect() as connection:
                return int(
                    connection.execute(
                        text(
                            "SELECT count(*) FROM celery_ops_executions "
                            "WHERE status IN ('SUCCESS', 'FAILURE') AND published_at IS NOT NULL"
                        )
                    ).scalar_one()
                )

        try:
            wait_for(lambda: recorded() == 1002, 120, "all 1,002 executions recorded", 1.0)
        except AssertionError:
            with app.ops.store.engine.connect() as connection:
                counts = connection.execute(
                    text(
                        "SELECT status, published_at IS NULL, error_type, count(*) "
                        "FROM celery_ops_executions GROUP BY 1, 2, 3"
                    )
                ).all()
            stream = app.ops.relay_stream()
            raise AssertionError(
                f"rows: {counts}; stream: {stream.backlog(0)}; "
                f"spill: {list(spill.glob('*'))}; logs: "
                + "\n".join(w.log()[-3000:] for w in app.workers)
            ) from None
        assert len(set(sent)) == 1002
        # Stopping a worker (SIGTERM to its process group) or its broker may end a running
        # task with WorkerLostError: what happened is recorded either way.
        rows = [app.ops.store.execution(task_id) for task_id in sent]
        outcomes = {(r.status, r.error_type) for r in rows if r is not None}
        assert None not in rows
        assert outcomes <= {("SUCCESS", None), ("FAILURE", "WorkerLostError")}
        with app.ops.store.engine.connect() as connection:
            doubled = connection.execute(
                text(
                    "SELECT count(*) FROM (SELECT task_id, event, at FROM celery_ops_events "
                    "GROUP BY task_id, event, at HAVING count(*) > 1) AS d"
                )
            ).scalar_one()
        assert doubled == 0
        wait_for(lambda: not list(spill.glob("*.spill")), 30, "the spill files handed over")
    finally:
        for started_worker in app.workers:
            started_worker.stop()
        database.remove()
        broker.remove()
