"""A real worker in relay mode: every task recorded, through the stream, by the ingester
that holds the lease in a worker's main process."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from helpers.services import POSTGRES_ADMIN_URL, REDIS_BROKER, require
from helpers.waiting import wait_for
from integration.conftest import ExternalApp
from sqlalchemy import create_engine, text

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
