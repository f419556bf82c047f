"""A real `celery worker` running an app written outside the repository records every case."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from helpers.services import RABBITMQ_BROKER, REDIS_BROKER, require
from helpers.waiting import wait_for
from integration.conftest import ExternalApp
from sqlalchemy import func, select

from celery_ops.store.models import execution_events

#: Real worker processes, brokers or servers: not in the fast loop.
pytestmark = pytest.mark.slow


def finished(
    app: ExternalApp, task_id: str, status: str, timeout: float = 60, published: bool = True
) -> dict:
    """The row once it has ``status`` and, from our own producer, its publish details.

    Producer and worker write independently, so the worker's SUCCESS may land first.
    """

    def check() -> dict | None:
        row = app.ops.store.execution(task_id)
        if row and row.status == status and (row.published_at or not published):
            return row
        return None

    return wait_for(check, timeout, f"{task_id} to be {status}")


def events_of(app: ExternalApp, task_id: str) -> list[str]:
    return [event.event for event in app.ops.store.timeline(task_id)]


def stored_entries(app: ExternalApp, task_ids: list[str]) -> dict[str, int]:
    """How many timeline rows the events table holds for each of ``task_ids``."""
    with app.ops.store.engine.connect() as connection:
        rows = connection.execute(
            select(execution_events.c.task_id, func.count())
            .where(execution_events.c.task_id.in_(task_ids))
            .group_by(execution_events.c.task_id)
        )
        counted = {task_id: count for task_id, count in rows}
    return {task_id: counted.get(task_id, 0) for task_id in task_ids}


@pytest.mark.parametrize("backend", ["sqlite", "postgresql", "mariadb"])
def test_every_kind_of_outcome_on_a_prefork_worker(
    backend: str, external_app: Callable[..., ExternalApp], new_database
) -> None:
    require("redis")
    app = external_app(REDIS_BROKER, new_database(backend))
    app.start_worker("prefork", pool="prefork", concurrency=2)
    tasks = app.module

    ok = tasks.add.delay(2, 3)
    fails = tasks.always_fails.delay("missing-key")
    big = tasks.size_of.delay("x" * 1_048_576)
    weird = tasks.not_json.delay()
    unicode = tasks.echo.delay("日本語", emoji="🎉 ünïcode")
    later = tasks.add.apply_async((1, 1), countdown=4)
    waits = tasks.add.apply_async((2, 2), countdown=2)
    running = tasks.sleepy.delay(60)
    ignored = tasks.ignores.delay()
    replaced = tasks.doubles_by_replacing_itself.delay(21)
    quick = [tasks.add.delay(i, i).id for i in range(20)]

    row = finished(app, ok.id, "SUCCESS")
    assert row.result == "5" and row.args == "[2, 3]" and row.attempts == 1
    assert row.started_at and row.completed_at and row.execution_time_ms >= 0
    assert row.memory_usage_mb >= 0  # the success carries its run's figures
    assert row.worker_id.startswith("prefork@") and row.pid
    expected = ["published", "received", "started", "succeeded"]
    wait_for(lambda: events_of(app, ok.id) == expected, 10, "the whole timeline")
    # Received by the main process (it waited past ops_received_delay), not again by the
    # process that ran it.
    finished(app, waits.id, "SUCCESS")
    wait_for(lambda: events_of(app, waits.id) == expected, 10, "a single received entry")
    # A first attempt that succeeded before its pool process wrote again stores no entry
    # (its row says when it was received, started and ended); one whose start was written
    # first stores all three. Either way its timeline is the same.
    for task_id in quick:
        finished(app, task_id, "SUCCESS")
        assert events_of(app, task_id) == expected
    stored = stored_entries(app, quick)
    assert set(stored.values()) <= {0, 3} and 0 in stored.values(), stored
    assert stored_entries(app, [waits.id]) == {waits.id: 3}  # received by the main process

    row = finished(app, fails.id, "FAILURE")
    assert row.attempts == 3
    assert row.error_type == "KeyError" and "missing-key" in row.error_message
    assert "Traceback" in row.exception_trace and "raise KeyError" in row.exception_trace
    timeline = wait_for(
        lambda: (t := events_of(app, fails.id)).count("retried") == 2 and t, 10, "retries"
    )
    assert timeline.count("started") == 3 and timeline[-1] == "failed"
    assert stored_entries(app, [fails.id])[fails.id] == len(timeline) - 1  # but "published"
    # After a failure, postrun adds the run's figures.
    wait_for(lambda: app.ops.store.execution(fails.id).execution_time_ms is not None, 10, "figures")

    row = finished(app, big.id, "SUCCESS")
    assert row.result == "1048576"
    assert "[celery-ops: truncated, 1048580 bytes in all" in row.args
    assert len(row.args.encode()) < 70_000

    row = finished(app, weird.id, "SUCCESS")
    assert row.result.startswith("<object object at")

    row = finished(app, unicode.id, "SUCCESS")
    assert row.args == '["日本語"]' and row.kwargs == '{"emoji": "🎉 ünïcode"}'

    # Ignore ends the run without an outcome; Task.replace() raises it, and the replacement's
    # outcome arrives under the same id.
    row = finished(app, ignored.id, "IGNORED")
    assert row.completed_at is not None and row.result is None
    wait_for(lambda: events_of(app, ignored.id)[-1:] == ["ignored"], 10, "the ignored event")
    row = finished(app, replaced.id, "SUCCESS")
    assert row.result == "42" and row.args == "[21]"
    wait_for(
        lambda: {"replaced", "ignored"} <= set(events_of(app, replaced.id)), 10, "the replacement"
    )

    finished(app, later.id, "RECEIVED")
    app.app.control.revoke(later.id)
    row = finished(app, later.id, "REVOKED")
    assert row.started_at is None and row.revoked_at is not None

    finished(app, running.id, "STARTED")
    app.app.control.revoke(running.id, terminate=True)
    row = finished(app, running.id, "REVOKED")
    assert row.started_at is not None and row.error_type == "Terminated"

    worker = app.ops.store.worker(app.workers[0].hostname)
    assert worker and worker.status == "online" and worker.pool == "prefork"
    stopping = app.workers[0]
    stopping.stop()
    try:
        worker = wait_for(
            lambda: (w := app.ops.store.worker(stopping.hostname)) and w.status == "offline" and w,
            20,
            "the worker to be recorded offline",
        )
    except AssertionError as exc:
        raise AssertionError(f"{exc}\nworker log:\n{stopping.log()[-3000:]}") from None
    assert worker.tasks_processed >= 6


@pytest.mark.parametrize("pool", ["threads", "solo"])
def test_threads_and_solo_pools_record_too(
    pool: str, external_app: Callable[..., ExternalApp], tmp_path
) -> None:
    require("redis")
    app = external_app(REDIS_BROKER, f"sqlite:///{tmp_path}/ops.sqlite3")
    app.start_worker(pool, pool=pool, concurrency=2)
    ok = app.module.add.delay(1, 2)
    fails = app.module.always_fails.delay("k")
    assert finished(app, ok.id, "SUCCESS").result == "3"
    assert finished(app, fails.id, "FAILURE").attempts == 3


def test_a_rabbitmq_broker_records_the_same(
    external_app: Callable[..., ExternalApp], new_database
) -> None:
    require("rabbitmq")
    app = external_app(RABBITMQ_BROKER, new_database("postgresql"))
    app.start_worker("rabbit", pool="prefork", concurrency=2)
    ok = app.module.add.delay(20, 22)
    fails = app.module.always_fails.delay("k")
    assert finished(app, ok.id, "SUCCESS").result == "42"
    row = finished(app, fails.id, "FAILURE")
    assert row.attempts == 3 and row.queue == app.env["QUEUE"]


def test_a_task_sent_by_a_producer_without_celery_ops_is_recorded_by_the_worker(
    external_app: Callable[..., ExternalApp], tmp_path
) -> None:
    require("redis")
    from celery import Celery

    app = external_app(REDIS_BROKER, f"sqlite:///{tmp_path}/ops.sqlite3")
    app.start_worker("plainproducer")
    plain = Celery("plain", broker=REDIS_BROKER)
    result = plain.send_task("extapp.add", (4, 5), queue=app.env["QUEUE"])
    row = finished(app, result.id, "SUCCESS", published=False)
    assert row.args == "[4, 5]" and row.published_at is None and row.received_at
    plain.close()


def test_a_long_task_reports_its_progress_while_it_runs_and_keeps_the_last(
    external_app: Callable[..., ExternalApp], new_database
) -> None:
    require("redis")
    app = external_app(REDIS_BROKER, new_database("postgresql"))
    app.start_worker("progress", pool="prefork", concurrency=2)
    helper = app.module.counts_to.delay(1000, 4)
    convention = app.module.counts_with_update_state.delay(100, 4)

    for task in (helper, convention):
        # Seen while it runs: a report somewhere between the first and the last.
        row = wait_for(
            lambda t=task: (
                (r := app.ops.store.execution(t.id))
                and r.status == "STARTED"
                and r.reported_progress
                and 0 < r.reported_progress.current < r.reported_progress.total
                and r
            ),
            30,
            f"{task.id} to report progress while running",
        )
        assert row.reported_progress.total in (1000, 100)

    row = finished(app, helper.id, "SUCCESS")
    assert row.reported_progress.current == 1000 and row.reported_progress.note == "step 1000"
    assert row.reported_progress.fraction == 1.0
    row = finished(app, convention.id, "SUCCESS")
    assert (row.reported_progress.current, row.reported_progress.total) == (100, 100)
    # Written behind the task, not per report, and never on the timeline.
    assert events_of(app, helper.id) == ["published", "received", "started", "succeeded"]
