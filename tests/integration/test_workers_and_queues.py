"""Workers and queues with real workers on Redis and on RabbitMQ: seeing them live, and
steering them from the dashboard's API (every action through the door, audited)."""

from __future__ import annotations

import time
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
        (shutdown,) = [e for e in dashboard.audit() if e.action == "worker-shutdown"]
        assert (shutdown.action, shutdown.actor, shutdown.outcome) == (
            "worker-shutdown",
            "operator",
            "ok",
        )
        assert dashboard.api("DELETE", f"/api/workers/{leaving.hostname}").status_code == 204
        listed = dashboard.api("GET", "/api/workers", role="viewer").json["items"]
        assert [w["hostname"] for w in listed] == [staying.hostname]
        assert dashboard.api("GET", f"/api/workers/{leaving.hostname}").status_code == 404


def queue_stats(dashboard: Dashboard, queue: str) -> dict:
    response = dashboard.api("GET", f"/api/queues/{queue}/stats", role="viewer")
    assert response.status_code == 200, response.json
    return response.json


def statuses(cluster: ExternalApp, task_ids: list[str]) -> set[str | None]:
    store = cluster.ops.store
    return {(found.status if (found := store.execution(i)) else None) for i in task_ids}


def broker_count(cluster: ExternalApp, queue: str) -> int:
    """The broker's own count: LLEN summed over the priority lists on Redis, the queue's
    message count on RabbitMQ (py-amqp, outside kombu's virtual transports)."""
    url = cluster.env["BROKER_URL"]
    if url.startswith("redis"):
        import redis

        client = redis.Redis.from_url(url)
        keys = [k for k in client.keys(f"{queue}*") if client.type(k) == b"list"]
        return sum(client.llen(k) for k in keys)
    import amqp

    with amqp.Connection("127.0.0.1:5672", userid="guest", password="guest") as connection:
        channel = connection.channel()
        _, count, _ = channel.queue_declare(queue, passive=True)
        return int(count)


class TestPausingAQueue:
    def test_a_pause_holds_for_running_new_and_restarted_workers_and_a_resume_drains_it(
        self, cluster: ExternalApp
    ) -> None:
        queue = cluster.env["QUEUE"]
        first, second = cluster.start_worker("p1"), cluster.start_worker("p2")
        dashboard = Dashboard(cluster)
        paused = dashboard.api("POST", f"/api/queues/{queue}/pause")
        assert paused.status_code == 200, paused.json
        assert set(paused.json["replies"]) == {first.hostname, second.hostname}
        assert paused.json["paused_by"] == "operator"
        wait_for(lambda: queue_stats(dashboard, queue)["consumers"] == 0, 10, "no consumer left")

        sent = [cluster.module.add.delay(i, i) for i in range(6)]
        ids = [result.id for result in sent]
        cluster.ops.recorder.flush(timeout=5)
        wait_for(lambda: queue_stats(dashboard, queue)["depth"] == 6, 10, "6 waiting")
        third = cluster.start_worker("p3")
        time.sleep(2)
        assert queue_stats(dashboard, queue)["depth"] == 6
        assert statuses(cluster, ids) == {"PENDING"}
        assert third.hostname in worker_answer(dashboard, third.hostname)["hostname"]
        assert worker_answer(dashboard, third.hostname)["paused_queues"] == [queue]

        for worker in (first, second, third):
            worker.stop()
        cluster.start_worker("p4")
        time.sleep(2)
        shown = queue_stats(dashboard, queue)
        assert (shown["depth"], shown["paused"], shown["paused_by"]) == (6, True, "operator")
        assert statuses(cluster, ids) == {"PENDING"}

        resumed = dashboard.api("POST", f"/api/queues/{queue}/resume")
        assert resumed.status_code == 200 and not resumed.json["paused"]
        wait_for(lambda: statuses(cluster, ids) == {"SUCCESS"}, 30, "every task to run")
        assert queue_stats(dashboard, queue)["depth"] == 0
        audited = [(e.action, e.actor, e.outcome) for e in dashboard.audit()[:2]]
        assert audited == [("queue-resume", "operator", "ok"), ("queue-pause", "operator", "ok")]


class TestQueueFigures:
    def test_depth_is_the_brokers_own_count_with_priorities_and_latency_the_oldest_wait(
        self, cluster: ExternalApp
    ) -> None:
        queue = cluster.env["QUEUE"]
        dashboard = Dashboard(cluster)
        first_sent_at = time.time()
        for i, priority in enumerate([0, 3, 5, 9, 9, 1, 0, 7]):
            cluster.module.add.apply_async((i, i), priority=priority)
        cluster.ops.recorder.flush(timeout=5)
        time.sleep(2)
        shown = queue_stats(dashboard, queue)
        assert shown["depth"] == broker_count(cluster, queue) == 8
        assert shown["backlog"] == shown["depth"] and shown["queue"] == queue
        assert shown["counts"]["PENDING"] == 8
        assert abs(shown["latency_seconds"] - (time.time() - first_sent_at)) < 1.0
        listed = dashboard.api("GET", "/api/queues", role="viewer").json["items"]
        assert {q["name"]: q["depth"] for q in listed}[queue] == 8

    def test_a_purge_answers_what_it_removed_and_revokes_each_execution(
        self, cluster: ExternalApp
    ) -> None:
        queue = cluster.env["QUEUE"]
        dashboard = Dashboard(cluster)
        ids = [cluster.module.add.apply_async((i, i), priority=i % 10).id for i in range(25)]
        cluster.ops.recorder.flush(timeout=5)
        assert dashboard.api("POST", f"/api/queues/{queue}/purge", role="viewer").status_code == 403
        purged = dashboard.api("POST", f"/api/queues/{queue}/purge")
        assert purged.status_code == 200, purged.json
        assert purged.json["purged"] == 25
        assert broker_count(cluster, queue) == 0
        store = cluster.ops.store
        for task_id in ids:
            execution = store.execution(task_id)
            assert execution is not None and execution.status == "REVOKED"
            assert execution.error_message == f"queue {queue} purged by operator"
        audited = dashboard.audit()[0]
        assert (audited.action, audited.outcome, audited.targets["purged"]) == (
            "queue-purge",
            "ok",
            25,
        )
        assert dashboard.audit()[1].outcome == "denied"


class TestTheCommandLine:
    def test_the_cli_steers_workers_and_queues_like_the_api_and_is_audited(
        self, cluster: ExternalApp
    ) -> None:
        queue = cluster.env["QUEUE"]
        worker = cluster.start_worker("cli", concurrency=1)
        dashboard = Dashboard(cluster)

        listed = cluster.ops_cli("workers", "list")
        assert listed.returncode == 0 and worker.hostname in listed.stdout, listed.stderr
        grown = cluster.ops_cli("workers", "grow", worker.hostname, "1")
        assert grown.returncode == 0 and "pool will grow" in grown.stdout, grown.stderr
        processes = lambda: len(worker_answer(dashboard, worker.hostname)["processes"])  # noqa: E731
        wait_for(lambda: processes() == 2, 20, "a second process")

        paused = cluster.ops_cli("queues", "pause", queue)
        # The worker hears of the pause twice: from the broadcast, and at its next heartbeat
        # from the store (written first); whichever comes first stops it, the other finds it
        # stopped already.
        said = (f"{worker.hostname}: stopped consuming", f"{worker.hostname}: already not")
        assert paused.returncode == 0 and any(s in paused.stdout for s in said), paused.stdout
        for i in range(3):
            cluster.module.add.delay(i, i)
        cluster.ops.recorder.flush(timeout=5)
        wait_for(lambda: queue_stats(dashboard, queue)["depth"] == 3, 10, "3 waiting")
        shown = cluster.ops_cli("queues", "list")
        assert "paused by cli:" in shown.stdout and "waiting 3" in shown.stdout, shown.stdout
        refused = cluster.ops_cli("queues", "purge", queue, stdin="n\n")
        assert refused.returncode != 0 and "Purge 3 message(s)" in refused.stdout
        purged = cluster.ops_cli("queues", "purge", queue, "--yes")
        assert purged.returncode == 0 and "purged 3 message(s)" in purged.stdout, purged.stderr
        resumed = cluster.ops_cli("queues", "resume", queue)
        assert resumed.returncode == 0, resumed.stderr
        unknown = cluster.ops_cli("workers", "shrink", "nobody@nowhere", "1")
        assert (
            unknown.returncode == 1 and "no online worker named 'nobody@nowhere'" in unknown.stderr
        )
        down = cluster.ops_cli("workers", "shutdown", worker.hostname)
        assert down.returncode == 0 and "shutting down" in down.stdout
        worker.process.wait(30)

        actions = [(e.action, e.outcome) for e in dashboard.audit()[:6]]
        assert actions == [
            ("worker-shutdown", "ok"),
            ("worker-pool", "failed"),
            ("queue-resume", "ok"),
            ("queue-purge", "ok"),
            ("queue-pause", "ok"),
            ("worker-pool", "ok"),
        ]
        assert all(e.actor.startswith("cli:") for e in dashboard.audit()[:6])
