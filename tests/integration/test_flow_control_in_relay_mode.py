"""Unique tasks and cluster-wide limits in relay mode (three workers, prefork -c 4, Redis,
PostgreSQL): they hold as in direct mode, decided on the Redis broker, and the twelve pool
processes open no store connection for them (counted in pg_stat_activity all along)."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator

import pytest
from helpers.services import REDIS_BROKER, require
from helpers.waiting import wait_for
from integration.conftest import ExternalApp
from integration.test_cluster_wide_limits import ended, most_at_once, most_in_any_window
from integration.test_unique_tasks import at_once, status
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from celery_ops.recording.flow import RedisFlowState

pytestmark = pytest.mark.slow

#: What the workers' processes call themselves in pg_stat_activity (libpq's PGAPPNAME).
WORKER_SIDE = "relay-flow-worker"


class ConnectionCounter:
    """Samples the store connections of the workers' processes every 0.1 s."""

    def __init__(self, url: str) -> None:
        self.engine = create_engine(url, poolclass=NullPool)
        self.peak = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> ConnectionCounter:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(5)
        self.engine.dispose()

    def _sample(self) -> None:
        query = text("SELECT count(*) FROM pg_stat_activity WHERE application_name = :name")
        with self.engine.connect() as connection:
            while not self._stop.is_set():
                now = int(connection.execute(query, {"name": WORKER_SIDE}).scalar_one())
                connection.commit()
                self.peak = max(self.peak, now)
                self.samples += 1
                self._stop.wait(0.1)


@pytest.fixture
def relay_cluster(
    external_app: Callable[..., ExternalApp], new_database: Callable[[str], str]
) -> Iterator[tuple[ExternalApp, RedisFlowState]]:
    require("redis")
    stream = f"test-relay-flow-{uuid.uuid4().hex[:8]}"
    external = external_app(
        REDIS_BROKER,
        new_database("postgresql"),
        CELERY_OPS_WRITE_MODE="relay",
        CELERY_OPS_RELAY_STREAM=stream,
        OPS_RATE_LIMITS=json.dumps({"extapp.limited_tick": "5/s"}),
        OPS_CONCURRENCY_LIMITS=json.dumps({"extapp.limited_slow": 2}),
    )
    external.ops.store.upgrade()
    # Only the workers' processes carry the name (this process loaded the app already).
    external.env["PGAPPNAME"] = WORKER_SIDE
    for n in range(3):
        external.start_worker(f"relay-flow-{n}", pool="prefork", concurrency=4)
    flow = RedisFlowState(REDIS_BROKER, stream)
    yield external, flow
    keys = list(flow.client.scan_iter(f"{stream}*"))
    if keys:
        flow.client.delete(*keys)


def test_unique_tasks_and_limits_hold_in_relay_mode_without_store_connections_per_process(
    relay_cluster: tuple[ExternalApp, RedisFlowState],
) -> None:
    external, flow = relay_cluster
    # The ingester (in whichever worker holds the lease) seeds the limits from the settings
    # and copies them to Redis, where the pool processes read them.
    wait_for(lambda: len(flow.limits()) == 2, 60, "the limits copied to Redis")
    time.sleep(2.5)  # every pool process has read them
    with ConnectionCounter(external.env["OPS_URL"]) as connections:
        # Unique: of 20 producers at once, one execution; its id for the 19 others.
        report = external.module.rebuild_report
        ids = at_once(20, lambda: report.delay(42, 1.0).id)
        assert len(ids) == 20 and len(set(ids)) == 1
        [the_one] = set(ids)
        wait_for(lambda: status(external, the_one) == "SUCCESS", 60, "the one execution")
        timeline = [e.event for e in external.ops.store.timeline(the_one)]
        assert timeline.count("duplicate-refused") == 19
        # Its end, written by the ingester, freed the key on Redis.
        wait_for(lambda: report.delay(42, 0.1).id != the_one, 30, "the key to be free again")

        # A rate of 5/s across three workers.
        tick_ids = [external.module.limited_tick.delay(n).id for n in range(40)]
        # Two at once across three workers.
        slow_ids = [external.module.limited_slow.delay(n, 0.4).id for n in range(8)]
        ticks = ended(external, tick_ids, 120)
        slow = ended(external, slow_ids, 120)

    starts = [row.started_at.timestamp() for row in ticks if row.started_at]
    assert len(starts) == 40
    assert most_in_any_window(starts, 1.0) <= 5
    assert {row.attempts for row in ticks} == {1}  # held back is not a retry
    throttled = [
        e.details
        for task_id in tick_ids
        for e in external.ops.store.timeline(task_id)
        if e.event == "throttled"
    ]
    assert throttled and "rate limit 5 per 1s" in str(throttled[0])
    assert most_at_once(slow) <= 2 and {row.attempts for row in slow} == {1}
    wait_for(lambda: flow.slots_held("extapp.limited_slow") == 0, 30, "the slots given back")

    # Twelve pool processes admitted 48 tasks and a producer claimed 20 times: the store saw
    # the ingester's connection (and at most a worker's brief start-up check), nothing else.
    print(f"peak worker-side store connections: {connections.peak} ({connections.samples} samples)")
    assert connections.samples > 20
    assert connections.peak <= 2, connections.peak
