"""Work is never lost silently: killed workers, redeliveries and a database that goes away."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable

import pytest
from helpers.services import RABBITMQ_BROKER, REDIS_BROKER, require
from helpers.throwaway_postgres import ThrowawayPostgres
from helpers.waiting import wait_for
from integration.conftest import ExternalApp
from sqlalchemy import func, select

from celery_ops.store.models import executions

#: Real worker processes, brokers or servers: not in the fast loop.
pytestmark = pytest.mark.slow


def status_of(app: ExternalApp, task_id: str) -> str | None:
    row = app.ops.store.execution(task_id)
    return row.status if row else None


def test_a_task_on_a_killed_worker_ends_lost(
    external_app: Callable[..., ExternalApp], new_database
) -> None:
    require("redis")
    app = external_app(REDIS_BROKER, new_database("postgresql"))
    doomed = app.start_worker("doomed", pool="prefork", concurrency=1)
    # The survivor consumes another queue: it only runs the reaper for the dead one.
    app.start_worker("survivor", pool="solo", queues="elsewhere")
    running = app.module.sleepy.delay(120)
    wait_for(lambda: status_of(app, running.id) == "STARTED", 30, "the task to start")

    doomed.kill()  # SIGKILL to the whole worker: no signal handler runs at all

    wait_for(lambda: status_of(app, running.id) == "LOST", 30, "the reaper to mark it LOST")
    row = app.ops.store.execution(running.id)
    assert row is not None and row.error_type == "WorkerLost"
    worker = app.ops.store.worker(doomed.hostname)
    assert worker is not None and worker.status == "offline"


def test_an_acks_late_task_redelivered_after_a_kill_counts_a_second_attempt(
    external_app: Callable[..., ExternalApp], new_database
) -> None:
    require("rabbitmq")
    app = external_app(RABBITMQ_BROKER, new_database("postgresql"))
    first = app.start_worker(
        "first", pool="prefork", concurrency=1, extra=("--prefetch-multiplier", "1")
    )
    second = app.start_worker(
        "second", pool="prefork", concurrency=1, extra=("--prefetch-multiplier", "1")
    )
    task = app.module.sleepy_acks_late.delay(4)
    row = wait_for(
        lambda: (r := app.ops.store.execution(task.id)) and r.status == "STARTED" and r,
        30,
        "the task to start",
    )
    victim, survivor = (first, second) if row.worker_id == first.hostname else (second, first)

    victim.kill()  # RabbitMQ puts the unacknowledged message back at once

    row = wait_for(
        lambda: (r := app.ops.store.execution(task.id)) and r.status == "SUCCESS" and r,
        60,
        "the redelivered task to succeed",
    )
    assert row.attempts == 2 and row.worker_id == survivor.hostname
    timeline = [event.event for event in app.ops.store.timeline(task.id)]
    assert timeline.count("started") == 2


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_tasks_succeed_while_the_database_is_down_and_are_all_recorded_after(
    external_app: Callable[..., ExternalApp],
) -> None:
    require("redis")
    server = ThrowawayPostgres(free_port())
    server.start()
    app = external_app(REDIS_BROKER, server.url)
    try:
        worker = app.start_worker("outage", pool="prefork", concurrency=2)
        sent = [app.module.sleepy.delay(0.01) for _ in range(500)]

        server.stop()
        outage_started = time.monotonic()
        sent += [app.module.sleepy.delay(0.01) for _ in range(1000)]
        time.sleep(max(0.0, 20 - (time.monotonic() - outage_started)))
        server.start()
        sent += [app.module.sleepy.delay(0.01) for _ in range(500)]

        def recorded() -> int:
            with app.ops.store.engine.connect() as connection:
                return int(
                    connection.execute(
                        select(func.count())
                        .select_from(executions)
                        .where(
                            executions.c.status == "SUCCESS", executions.c.published_at.is_not(None)
                        )
                    ).scalar_one()
                )

        wait_for(lambda: recorded() == 2000, 120, "all 2,000 executions to be recorded", 1.0)
        assert len({result.id for result in sent}) == 2000
        log = worker.log()
        assert "raised unexpected" not in log
        assert "cannot write to the store" in log  # the outage was seen, and survived
    finally:
        for started in app.workers:
            started.stop()
        server.remove()
