"""/metrics, /api/health and /healthz on the in-memory broker: never open, the token reads
them and nothing else, the exposition parses and carries the rollups' counts."""

from __future__ import annotations

from collections import Counter

import pytest
from helpers.dashboard_client import Dashboard
from helpers.door_app import DoorApp
from prometheus_client.parser import text_string_to_metric_families

TOKEN = "a-long-random-monitoring-token"


@pytest.fixture
def monitored(door_app: DoorApp) -> DoorApp:
    door_app.configure(metrics_token=TOKEN)
    return door_app


def bearer(token: str = TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class TestNeverOpen:
    @pytest.mark.parametrize("path", ["/metrics", "/api/health"])
    def test_without_credentials_it_is_refused(self, web: Dashboard, path: str) -> None:
        answer = web.client().get(path)
        assert answer.status_code == 401
        assert "ops_metrics_token" in answer.json["detail"]

    @pytest.mark.parametrize("path", ["/metrics", "/api/health"])
    def test_without_a_token_set_no_bearer_token_is_taken(self, web: Dashboard, path: str) -> None:
        assert web.client().get(path, headers=bearer("")).status_code == 401
        assert web.client().get(path, headers=bearer("anything")).status_code == 401

    @pytest.mark.parametrize("path", ["/metrics", "/api/health"])
    def test_a_wrong_token_is_refused_and_the_right_one_taken(
        self, web: Dashboard, monitored: DoorApp, path: str
    ) -> None:
        assert web.client().get(path, headers=bearer(TOKEN + "x")).status_code == 401
        assert web.client().get(path, headers=bearer()).status_code in (200, 503)

    def test_the_token_reads_metrics_and_health_only(
        self, web: Dashboard, monitored: DoorApp
    ) -> None:
        for path in ("/api/tasks", "/api/workers", "/api/metrics"):
            assert web.client().get(path, headers=bearer()).status_code == 401
        answer = web.client().post("/api/tasks/retry", headers=bearer(), json={"task_ids": []})
        assert answer.status_code in (401, 403)

    def test_a_dashboard_user_reads_both(self, web: Dashboard) -> None:
        assert web.api("GET", "/metrics", role="viewer").status_code == 200
        assert web.api("GET", "/api/health", role="viewer").status_code in (200, 503)

    def test_healthz_needs_no_sign_in_and_says_nothing_of_the_cluster(self, web: Dashboard) -> None:
        answer = web.client().get("/healthz")
        assert answer.status_code == 200 and answer.json == {"status": "serving"}
        assert answer.headers["X-Frame-Options"] == "DENY"


def test_the_exposition_parses_and_counts_what_the_rollups_hold(
    web: Dashboard, monitored: DoorApp
) -> None:
    monitored.seed(4, "SUCCESS", execution_time_ms=20.0)
    monitored.seed(2, "FAILURE", execution_time_ms=3000.0)
    answer = web.client().get("/metrics", headers=bearer())
    assert answer.status_code == 200
    assert answer.content_type.startswith("text/plain; version=0.0.4")
    families = {f.name: f for f in text_string_to_metric_families(answer.text)}
    states: Counter[str] = Counter()
    for sample in families["celery_ops_tasks"].samples:
        assert sample.labels["task"] == "door.add"
        assert sample.labels["queue"] == monitored.queue
        states[sample.labels["state"]] += int(sample.value)
    assert states == Counter({"SUCCESS": 4, "FAILURE": 2})
    runtime = {
        (s.name, s.labels.get("le")): s.value
        for s in families["celery_ops_task_runtime_seconds"].samples
    }
    assert runtime[("celery_ops_task_runtime_seconds_count", None)] == 6
    assert runtime[("celery_ops_task_runtime_seconds_bucket", "0.025")] == 4
    assert runtime[("celery_ops_task_runtime_seconds_bucket", "2.5")] == 4
    assert runtime[("celery_ops_task_runtime_seconds_bucket", "5.0")] == 6
    assert runtime[("celery_ops_task_runtime_seconds_sum", None)] == pytest.approx(6.08, 0.02)
    assert families["celery_ops_workers_online"].samples[0].value == 0
    depth = families["celery_ops_queue_depth"].samples
    assert {s.labels["queue"] for s in depth} >= {monitored.queue}


def test_health_lists_every_check_and_fails_on_a_failure_rate(
    web: Dashboard, monitored: DoorApp
) -> None:
    answer = web.client().get("/api/health", headers=bearer())
    names = {check["name"] for check in answer.json["checks"]}
    assert {"store", "broker", "queue latency", "stuck executions", "failure rate"} <= names
    assert "recorder" in names
    monitored.seed(12, "FAILURE")
    answer = web.client().get("/api/health", headers=bearer())
    assert answer.status_code == 503 and answer.json["status"] == "failing"
    failing = {c["name"]: c["detail"] for c in answer.json["checks"] if c["status"] == "failing"}
    assert "door.add (100%)" in failing["failure rate"]
