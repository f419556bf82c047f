"""Direct mode through PgBouncer in transaction mode: each transaction may run on another
server connection, so the store must not rely on anything a session keeps (prepared
statements above all)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from helpers.pgbouncer import PgBouncer
from helpers.services import REDIS_BROKER, require
from helpers.waiting import wait_for
from integration.conftest import ExternalApp
from integration.test_lost_work_and_outages import free_port

pytestmark = pytest.mark.slow


def test_workers_record_everything_through_pgbouncer_in_transaction_mode(
    external_app: Callable[..., ExternalApp], new_database: Callable[[str], str]
) -> None:
    require("redis")
    require("postgresql")
    database = new_database("postgresql").rsplit("/", 1)[1]
    bouncer = PgBouncer(free_port())
    bouncer.start()
    app = external_app(REDIS_BROKER, bouncer.url(database))
    try:
        app.ops.store.upgrade()
        with app.ops.store.engine.connect() as connection:
            # psycopg prepares a statement run five times; PgBouncer 1.18 cannot carry it.
            assert connection.connection.dbapi_connection.prepare_threshold is None
        app.start_worker("bounced", pool="prefork", concurrency=3)
        sent = [app.module.add.delay(i, i).id for i in range(300)]

        def all_recorded() -> bool:
            rows = [app.ops.store.execution(task_id) for task_id in sent]
            return all(r is not None and r.status == "SUCCESS" and r.published_at for r in rows)

        wait_for(all_recorded, 60, "every execution recorded through PgBouncer", 0.5)
        timeline = [event.event for event in app.ops.store.timeline(sent[0])]
        assert timeline.count("published") == 1 and timeline.count("succeeded") == 1
        for worker in app.workers:
            assert "prepared statement" not in worker.log()
    finally:
        for worker in app.workers:
            worker.stop()
        app.ops.store.dispose()
        bouncer.stop()
