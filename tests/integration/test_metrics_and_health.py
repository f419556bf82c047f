"""Metrics and health with real workers: the rollups equal the executions table after a mixed
workload (on SQLite, PostgreSQL and MariaDB), /metrics carries the same counts and is never
open, /api/health follows a queue's only worker, and a stuck execution is seen."""

from __future__ import annotations

import json
import time
import uuid
from collections import Counter
from collections.abc import Callable

import pytest
from helpers.dashboard_client import Dashboard
from helpers.receivers import Received, start_receiver
from helpers.rollups import assert_rollups_match, truth
from helpers.services import REDIS_BROKER, require
from helpers.waiting import wait_for
from helpers.workers import free_port
from integration.conftest import ExternalApp
from prometheus_client.parser import text_string_to_metric_families

from celery_ops.core.filters import ExecutionFilter
from celery_ops.core.lifecycle import FAILURE, IGNORED, SUCCESS

pytestmark = pytest.mark.slow

TOKEN = "monitor-" + uuid.uuid4().hex


@pytest.mark.parametrize("backend", ["sqlite", "postgresql", "mariadb"])
def test_after_a_mixed_workload_the_rollups_equal_the_table(
    backend: str, external_app: Callable[..., ExternalApp], new_database
) -> None:
    require("redis")
    if backend != "sqlite":
        require(backend)
    app = external_app(REDIS_BROKER, new_database(backend), OPS_METRICS_TOKEN=TOKEN)
    fast, failing, slow = (app.env["QUEUE"] + suffix for suffix in ("", "-failing", "-slow"))
    app.start_worker("mixed", concurrency=2, queues=f"{fast},{failing},{slow}")
    tasks = app.module
    sent = [tasks.add.apply_async((n, n), queue=fast) for n in range(1500)]
    sent += [tasks.echo.apply_async((n,), queue=fast) for n in range(200)]
    sent += [tasks.always_fails.apply_async((f"k{n}",), queue=failing) for n in range(80)]
    sent += [tasks.ignores.apply_async(queue=failing) for _ in range(20)]
    sent += [tasks.sleepy.apply_async((0.05 * (n % 8),), queue=slow) for n in range(60)]
    app.ops.recorder.flush(timeout=30)
    store = app.ops.store
    finished = ExecutionFilter(statuses=(SUCCESS, FAILURE, IGNORED))
    wait_for(
        lambda: store.count_executions(finished, None) == len(sent),
        timeout=240,
        what=f"{len(sent)} executions ended",
    )
    assert_rollups_match(store)

    dashboard = Dashboard(app)
    assert dashboard.client().get("/metrics").status_code == 401
    wrong = {"Authorization": "Bearer not-the-token"}
    assert dashboard.client().get("/metrics", headers=wrong).status_code == 401
    answer = dashboard.client().get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 200
    families = {f.name: f for f in text_string_to_metric_families(answer.text)}
    by_state: Counter[str] = Counter()
    for sample in families["celery_ops_tasks"].samples:
        by_state[sample.labels["state"]] += int(sample.value)
    assert by_state == Counter({SUCCESS: 1760, FAILURE: 80, IGNORED: 20})
    runtime = families["celery_ops_task_runtime_seconds"]
    counted = sum(s.value for s in runtime.samples if s.name.endswith("_count"))
    assert counted == sum(len(values) for values in truth(store).runtimes.values()) > 1800
    assert families["celery_ops_workers_online"].samples[0].value == 1
    assert {s.labels["queue"] for s in families["celery_ops_queue_depth"].samples} >= {
        fast,
        failing,
        slow,
    }


#: Where the stuck alert goes: an HTTP receiver started by the test that wants it.
HOOK_PORT = free_port()


@pytest.fixture
def redis_app(external_app: Callable[..., ExternalApp], new_database) -> ExternalApp:
    require("redis")
    require("postgresql")
    stuck = {"on": "stuck", "notify": [f"json://127.0.0.1:{HOOK_PORT}/stuck"], "throttle": "1h"}
    return external_app(
        REDIS_BROKER,
        new_database("postgresql"),
        OPS_METRICS_TOKEN=TOKEN,
        OPS_STUCK_MINIMUM="0.5",
        OPS_ALERTS=json.dumps([stuck]),
        OPS_ALERTS_INTERVAL="0.5",
    )


def health(dashboard: Dashboard) -> tuple[int, dict]:
    answer = dashboard.client().get("/api/health", headers={"Authorization": f"Bearer {TOKEN}"})
    return answer.status_code, answer.json


def failing(report: dict) -> dict[str, str]:
    return {c["name"]: c["detail"] for c in report["checks"] if c["status"] == "failing"}


def test_health_fails_while_the_only_worker_of_a_queue_is_stopped(redis_app: ExternalApp) -> None:
    queue = redis_app.env["QUEUE"]
    worker = redis_app.start_worker("only")
    dashboard = Dashboard(redis_app)
    wait_for(lambda: health(dashboard)[0] == 200, timeout=30, what="healthy")
    _, report = health(dashboard)
    assert report["status"] == "ok"
    assert {c["name"] for c in report["checks"]} >= {
        "store",
        "broker",
        f"workers for queue {queue}",
        "queue latency",
        "stuck executions",
        "failure rate",
        "recorder",
    }
    worker.stop()
    wait_for(lambda: health(dashboard)[0] == 503, timeout=30, what="failing")
    _, report = health(dashboard)
    assert report["status"] == "failing"
    assert "no worker online" in failing(report)[f"workers for queue {queue}"]
    redis_app.start_worker("back")
    wait_for(lambda: health(dashboard)[0] == 200, timeout=30, what="healthy again")
    assert dashboard.client().get("/api/health").status_code == 401
    assert dashboard.api("GET", "/api/health", role="viewer").status_code == 200
    assert dashboard.client().get("/healthz").json == {"status": "serving"}


def test_an_execution_past_its_time_limit_is_stuck_on_home_in_health_and_one_alert(
    redis_app: ExternalApp,
) -> None:
    received = Received()
    receiver = start_receiver(HOOK_PORT, received)
    redis_app.start_worker("stuck")
    dashboard = Dashboard(redis_app)  # it evaluates the alert rules, every 0.5 s
    running = redis_app.module.outlives_soft_limit.delay(8)
    wait_for(
        lambda: "stuck executions" in failing(health(dashboard)[1]),
        timeout=20,
        what="a stuck execution",
    )
    detail = failing(health(dashboard)[1])["stuck executions"]
    assert running.id in detail and "time limit (1s)" in detail
    home = dashboard.signed_in("viewer").get("/")
    assert home.status_code == 200
    assert 'id="stuck"' in home.text and running.id in home.text
    try:
        wait_for(lambda: received.of("webhook"), 20, "the stuck alert")
        time.sleep(2)  # four evaluations later: still one
        (call,) = received.of("webhook")
        assert running.id in json.loads(call)["message"]
        (alert,) = redis_app.ops.store.alerts.recent()
        assert (alert.kind, alert.alert_key, alert.status) == ("stuck", running.id, "sent")
    finally:
        receiver.shutdown()
