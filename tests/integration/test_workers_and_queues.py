"""Workers and queues with real workers on Redis and on RabbitMQ: seeing them live, and
steering them from the dashboard's API (every action through the door, audited)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from helpers.dashboard_client import Dashboard
from helpers.services import RABBITMQ_BROKER, REDIS_BROKER, require
from helpers.waiting import wait_for
from integration.conftest import ExternalApp

pytestmark = pytest.mark.slow

BROKERS = {"redis": REDIS_BROKER, "rabbitmq": RABBITMQ_BROKER}


@pytest.fixture(params=sorted(BROKERS))
def cluster(
    request: pytest.FixtureRequest, external_app: Callable[..., ExternalApp], new_database
) -> Iterator[ExternalApp]:
    require(request.param)
    require("postgresql")
    yield external_app(BROKERS[request.param], new_database("postgresql"), MAX_PRIORITY="9")


def worker_answer(dashboard: Dashboard, hostname: str) -> dict:
    response = dashboard.api("GET", f"/api/workers/{hostname}", role="viewer")
    assert response.status_code == 200, response.json
    return response.json


class TestSeeingWorkers:
    def test_both_workers_are_listed_with_their_live_figures(self, cluster: ExternalApp) -> None:
        first = cluster.start_worker("first", concurrency=2)
        second = cluster.start_worker("second", concurrency=2)
        dashboard = Dashboard(cluster)
        listed = dashboard.api("GET", "/api/workers", role="viewer").json["items"]
        by_name = {w["hostname"]: w for w in listed}
        for worker in (first, second):
            shown = by_name[worker.hostname]
            assert shown["status"] == "online" and shown["answered"]
            assert shown["concurrency"] == 2
            assert shown["queues"] == [cluster.env["QUEUE"]]
        detail = worker_answer(dashboard, first.hostname)
        assert detail["pool"] == "prefork" and len(detail["processes"]) == 2
        assert detail["prefetch_count"] >= 2 and detail["uptime_seconds"] >= 0
        assert detail["max_rss_kb"] > 0 and "extapp.add" in detail["registered"]
        print(detail)

    def test_a_worker_shows_what_it_runs_and_what_it_processed(self, cluster: ExternalApp) -> None:
        worker = cluster.start_worker("busy", concurrency=2)
        dashboard = Dashboard(cluster)
        done = [cluster.module.add.delay(i, i) for i in range(3)]
        running = cluster.module.sleepy.delay(5)
        cluster.ops.recorder.flush(timeout=5)

        def busy() -> dict | None:
            detail = worker_answer(dashboard, worker.hostname)
            ok = detail["processed"].get("extapp.add") == 3 and detail["active_tasks"]
            return detail if ok else None

        detail = wait_for(busy, 30, "the worker to run the tasks")
        (active,) = detail["active_tasks"]
        assert active["task_id"] == running.id and active["name"] == "extapp.sleepy"
        assert 0 <= active["runtime_seconds"] < 10
        assert detail["tasks_processed"] >= 3 and all(d.id for d in done)
        page = dashboard.signed_in("viewer").get(f"/workers/view/{worker.hostname}")
        assert page.status_code == 200
        assert f"/executions/view/{running.id}" in page.text


class TestSteeringWorkers:
    def test_the_pool_grows_and_shrinks_as_inspect_stats_reports(
        self, cluster: ExternalApp
    ) -> None:
        worker = cluster.start_worker("pool", concurrency=2)
        dashboard = Dashboard(cluster)
        grown = dashboard.api("POST", f"/api/workers/{worker.hostname}/pool", json={"grow": 1})
        assert grown.status_code == 200, grown.json
        assert grown.json["replies"] == {worker.hostname: {"ok": "pool will grow"}}
        processes = lambda: len(worker_answer(dashboard, worker.hostname)["processes"])  # noqa: E731
        wait_for(lambda: processes() == 3, 20, "a third process")
        shrunk = dashboard.api("POST", f"/api/workers/{worker.hostname}/pool", json={"shrink": 2})
        assert shrunk.status_code == 200, shrunk.json
        wait_for(lambda: processes() == 1, 20, "one process left")
        refused = dashboard.api(
            "POST", f"/api/workers/{worker.hostname}/pool", json={"grow": 1}, role="viewer"
        )
        assert refused.status_code == 403
        bad = dashboard.api("POST", f"/api/workers/{worker.hostname}/pool", json={"grow": -1})
        assert bad.status_code == 422
        actions = [(e.action, e.outcome, e.actor) for e in dashboard.audit()[:4]]
        assert actions == [
            ("worker-pool", "failed", "operator"),
            ("worker-pool", "denied", "viewer"),
            ("worker-pool", "ok", "operator"),
            ("worker-pool", "ok", "operator"),
        ]

    def test_a_shutdown_from_the_dashboard_takes_a_worker_offline_and_it_can_be_forgotten(
        self, cluster: ExternalApp
    ) -> None:
        staying = cluster.start_worker("staying")
        leaving = cluster.start_worker("leaving")
        dashboard = Dashboard(cluster)
        forget_online = dashboard.api("DELETE", f"/api/workers/{leaving.hostname}")
        assert forget_online.status_code == 409
        client = dashboard.signed_in("operator")
        from helpers.dashboard_client import post_form

        page = f"/workers/view/{leaving.hostname}"
        answer = post_form(
            client, "/workers/action", {"action": "shutdown", "worker": leaving.hostname}, page
        )
        assert answer.status_code == 302
        leaving.process.wait(30)
        status = lambda h: worker_answer(dashboard, h)["status"]  # noqa: E731
        wait_for(lambda: status(leaving.hostname) == "offline", 10, "the worker to go offline")
        assert status(staying.hostname) == "online"
        shutdown = dashboard.audit()[0]
        assert (shutdown.action, shutdown.actor, shutdown.outcome) == (
            "worker-shutdown",
            "operator",
            "ok",
        )
        assert dashboard.api("DELETE", f"/api/workers/{leaving.hostname}").status_code == 204
        listed = dashboard.api("GET", "/api/workers", role="viewer").json["items"]
        assert [w["hostname"] for w in listed] == [staying.hostname]
        assert dashboard.api("GET", f"/api/workers/{leaving.hostname}").status_code == 404
