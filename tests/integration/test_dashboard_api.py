"""The JSON API against a real worker and broker: every call, and its error cases."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import pytest
from helpers.dashboard_client import Dashboard
from helpers.services import REDIS_BROKER, require
from helpers.waiting import wait_for
from integration.conftest import ExternalApp

#: Real worker processes, brokers or servers: not in the fast loop.
pytestmark = pytest.mark.slow


@pytest.fixture
def dashboard(external_app: Callable[..., ExternalApp], new_database) -> Dashboard:
    require("redis")
    external = external_app(REDIS_BROKER, new_database("postgresql"))
    external.start_worker("api-worker", pool="prefork", concurrency=2)
    return Dashboard(external)


def execution(dashboard: Dashboard, task_id: str) -> dict | None:
    response = dashboard.api("GET", f"/api/tasks/{task_id}", role="viewer")
    return response.json if response.status_code == 200 else None


def status_of(dashboard: Dashboard, task_id: str) -> str | None:
    found = execution(dashboard, task_id)
    return found["status"] if found else None


class TestDispatchAndRead:
    def test_a_dispatched_task_runs_and_is_shown_with_its_timeline(
        self, dashboard: Dashboard
    ) -> None:
        sent = dashboard.api(
            "POST", "/api/tasks/dispatch", json={"task": "extapp.add", "args": [2, 3]}
        )
        assert sent.status_code == 201, sent.json
        task_id = sent.json["task_id"]
        wait_for(lambda: status_of(dashboard, task_id) == "SUCCESS", 30, "the task to succeed")
        shown = execution(dashboard, task_id)
        assert shown is not None
        assert (shown["result"], shown["args"]) == ("5", "[2, 3]")
        assert "message_args" not in shown
        assert [e["event"] for e in shown["timeline"]][:1] == ["published"]

    def test_listing_pages_newest_first_with_filters(self, dashboard: Dashboard) -> None:
        ids = [
            dashboard.api(
                "POST", "/api/tasks/dispatch", json={"task": "extapp.add", "args": [i, i]}
            ).json["task_id"]
            for i in range(5)
        ]
        wait_for(lambda: all(status_of(dashboard, i) == "SUCCESS" for i in ids), 30, "5 tasks")
        first = dashboard.api("GET", "/api/tasks?limit=2&task=extapp.add&status=SUCCESS", "viewer")
        assert first.status_code == 200
        assert [row["task_id"] for row in first.json["items"]] == ids[::-1][:2]
        cursor = first.json["next_cursor"]
        second = dashboard.api("GET", f"/api/tasks?limit=10&cursor={cursor}", role="viewer")
        assert [row["task_id"] for row in second.json["items"]] == ids[::-1][2:]
        assert second.json["next_cursor"] is None
        none = dashboard.api("GET", "/api/tasks?status=FAILURE&task=extapp.add", role="viewer")
        assert none.json["items"] == []

    def test_queue_stats_count_the_backlog_and_the_executions(self, dashboard: Dashboard) -> None:
        queue = dashboard.external.env["QUEUE"]
        task_id = dashboard.api(
            "POST", "/api/tasks/dispatch", json={"task": "extapp.add", "args": [1, 1]}
        ).json["task_id"]
        wait_for(lambda: status_of(dashboard, task_id) == "SUCCESS", 30, "the task")
        stats = dashboard.api("GET", f"/api/queues/{queue}/stats", role="viewer")
        assert stats.status_code == 200, stats.json
        assert stats.json["backlog"] == 0, stats.json
        assert stats.json["executions_by_status"]["SUCCESS"] >= 1
        missing = dashboard.api("GET", "/api/queues/no-such-queue-here/stats", role="viewer")
        assert missing.status_code == 404


class TestRetry:
    def test_a_failed_task_is_resent_with_its_exact_arguments_not_the_shown_ones(
        self, dashboard: Dashboard
    ) -> None:
        module = dashboard.external.module
        failed = module.always_fails.apply_async(args=["s3cret"], argsrepr="['***']")
        wait_for(lambda: status_of(dashboard, failed.id) == "FAILURE", 30, "the failure")
        assert execution(dashboard, failed.id)["args"] == "['***']"

        retried = dashboard.api("POST", f"/api/tasks/{failed.id}/retry")
        assert retried.status_code == 201, retried.json
        new_id = retried.json["task_id"]
        wait_for(lambda: status_of(dashboard, new_id) == "FAILURE", 30, "the retry to run")
        new = execution(dashboard, new_id)
        assert new is not None
        assert new["retried_from"] == failed.id
        assert new["task_name"] == "extapp.always_fails"
        assert "s3cret" in new["error_message"]  # the real argument reached the task
        entries = [e for e in dashboard.audit() if e.action == "retry"]
        assert (entries[0].actor, entries[0].outcome) == ("operator", "ok")
        assert entries[0].targets == {"task_id": failed.id, "created": new_id}

    def test_an_unknown_execution_is_404(self, dashboard: Dashboard) -> None:
        missing = dashboard.api("POST", "/api/tasks/not-a-task/retry")
        assert (missing.status_code, missing.json["error"]) == (404, "not_found")


class TestCancel:
    def test_a_task_waiting_for_its_countdown_never_runs(self, dashboard: Dashboard) -> None:
        sent = dashboard.api(
            "POST",
            "/api/tasks/dispatch",
            json={"task": "extapp.add", "args": [1, 2], "countdown": 4},
        )
        task_id = sent.json["task_id"]
        wait_for(lambda: status_of(dashboard, task_id) == "RECEIVED", 30, "the worker to hold it")
        cancelled = dashboard.api("POST", f"/api/tasks/{task_id}/cancel", json={})
        assert cancelled.status_code == 200, cancelled.json
        assert cancelled.json == {
            "task_id": task_id,
            "status_before": "RECEIVED",
            "terminated": False,
        }
        wait_for(lambda: status_of(dashboard, task_id) == "REVOKED", 30, "the revoke")
        time.sleep(1)
        row = execution(dashboard, task_id)
        assert row is not None and row["started_at"] is None and row["result"] is None

    def test_a_running_task_is_terminated_only_when_asked(self, dashboard: Dashboard) -> None:
        running = dashboard.external.module.sleepy.delay(60)
        wait_for(lambda: status_of(dashboard, running.id) == "STARTED", 30, "the task to start")
        refused = dashboard.api("POST", f"/api/tasks/{running.id}/cancel", json={})
        assert refused.status_code == 409 and "terminate" in refused.json["detail"]
        done = dashboard.api("POST", f"/api/tasks/{running.id}/cancel", json={"terminate": True})
        assert done.status_code == 200 and done.json["terminated"] is True
        wait_for(lambda: status_of(dashboard, running.id) == "REVOKED", 30, "the termination")
        finished = dashboard.api("POST", f"/api/tasks/{running.id}/cancel", json={})
        assert finished.status_code == 409

    def test_terminate_must_be_a_boolean(self, dashboard: Dashboard) -> None:
        task_id = dashboard.api(
            "POST", "/api/tasks/dispatch", json={"task": "extapp.add", "args": [1, 1]}
        ).json["task_id"]
        bad = dashboard.api("POST", f"/api/tasks/{task_id}/cancel", json={"terminate": "yes"})
        assert bad.status_code == 422


class TestPurge:
    def test_purge_deletes_matching_records_and_says_how_many(self, dashboard: Dashboard) -> None:
        ids = [
            dashboard.api(
                "POST", "/api/tasks/dispatch", json={"task": "extapp.add", "args": [1, i]}
            ).json["task_id"]
            for i in range(3)
        ]
        wait_for(lambda: all(status_of(dashboard, i) == "SUCCESS" for i in ids), 30, "3 tasks")
        time.sleep(1.1)
        purged = dashboard.api("POST", "/api/purge", json={"status": "SUCCESS", "older_than": "1s"})
        assert purged.status_code == 200 and purged.json["deleted"] == 3
        assert execution(dashboard, ids[0]) is None

    @pytest.mark.parametrize(
        "body",
        [{"older_than": "soon"}, {"status": "BOGUS", "older_than": "1d"}, {"status": 5}, {}],
    )
    def test_bad_purge_requests_are_422(self, dashboard: Dashboard, body: dict) -> None:
        assert dashboard.api("POST", "/api/purge", json=body).status_code == 422


class TestSchedules:
    def test_create_read_update_run_delete(self, dashboard: Dashboard) -> None:
        created = dashboard.api(
            "POST",
            "/api/schedules",
            json={"name": "nightly", "task": "extapp.add", "cron": "30 2 * * *",
                  "timezone": "Europe/Rome", "args": [1, 2]},
        )  # fmt: skip
        assert created.status_code == 201, created.json
        shown = dashboard.api("GET", "/api/schedules/nightly", role="viewer")
        assert len(shown.json["upcoming"]) == 5
        listed = dashboard.api("GET", "/api/schedules", role="viewer")
        assert [s["name"] for s in listed.json["items"]] == ["nightly"]
        changed = dashboard.api("PATCH", "/api/schedules/nightly", json={"every": 3600})
        assert changed.status_code == 200 and changed.json["kind"] == "interval"
        ran = dashboard.api("POST", "/api/schedules/nightly/run")
        assert ran.status_code == 201
        wait_for(lambda: status_of(dashboard, ran.json["task_id"]) == "SUCCESS", 30, "the run")
        assert execution(dashboard, ran.json["task_id"])["schedule_name"] == "nightly"
        assert dashboard.api("DELETE", "/api/schedules/nightly").status_code == 204
        assert dashboard.api("GET", "/api/schedules/nightly", role="viewer").status_code == 404

    @pytest.mark.parametrize(
        ("body", "status"),
        [
            ({"name": "x", "task": "extapp.add", "cron": "61 * * * *"}, 422),
            ({"name": "x", "task": "no.such.task", "every": 5}, 422),
            ({"name": "x", "task": "extapp.add", "every": "often"}, 422),
            ({"name": "x", "task": "extapp.add", "every": 5, "colour": "red"}, 422),
            ({"task": "extapp.add", "every": 5}, 422),
        ],
    )
    def test_invalid_schedules_are_refused(
        self, dashboard: Dashboard, body: dict, status: int
    ) -> None:
        response = dashboard.api("POST", "/api/schedules", json=body)
        assert response.status_code == status, response.json
        assert set(response.json) == {"error", "detail"}


class TestErrors:
    def test_not_signed_in_is_401_with_a_basic_challenge(self, dashboard: Dashboard) -> None:
        response = dashboard.api("GET", "/api/tasks", role=None)
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"].startswith("Basic")

    def test_a_wrong_password_is_401(self, dashboard: Dashboard) -> None:
        response = dashboard.client().get(
            "/api/tasks", headers={"Authorization": "Basic b3BlcmF0b3I6bm9wZQ=="}
        )
        assert response.status_code == 401

    def test_malformed_json_is_400_and_an_unknown_task_422(self, dashboard: Dashboard) -> None:
        bad = dashboard.api(
            "POST",
            "/api/tasks/dispatch",
            data="{not json",
            headers={"Content-Type": "application/json"},
        )
        assert (bad.status_code, bad.json["error"]) == (400, "bad_request")
        unknown = dashboard.api("POST", "/api/tasks/dispatch", json={"task": "no.such.task"})
        assert unknown.status_code == 422 and "no.such.task" in unknown.json["detail"]

    @pytest.mark.parametrize(
        ("method", "path", "body"),
        [
            ("POST", "/api/tasks/dispatch", {"task": "extapp.add", "args": [1, 1]}),
            ("POST", "/api/tasks/some-id/retry", None),
            ("POST", "/api/tasks/some-id/cancel", {"terminate": True}),
            ("POST", "/api/purge", {"older_than": "1s"}),
            ("POST", "/api/schedules", {"name": "v", "task": "extapp.add", "every": 5}),
            ("PATCH", "/api/schedules/v", {"every": 1}),
            ("DELETE", "/api/schedules/v", None),
            ("POST", "/api/schedules/v/run", None),
        ],
    )
    def test_a_viewer_is_refused_every_action_and_it_is_audited(
        self, dashboard: Dashboard, method: str, path: str, body: dict | None
    ) -> None:
        response = dashboard.api(method, path, role="viewer", json=body)
        assert response.status_code == 403
        denied = dashboard.audit()[0]
        assert (denied.actor, denied.outcome) == ("viewer", "denied")

    def test_the_openapi_document_describes_every_endpoint(self, dashboard: Dashboard) -> None:
        document = dashboard.api("GET", "/api/openapi.json", role="viewer").json
        assert document["openapi"].startswith("3.")
        assert set(document["paths"]) >= {
            "/api/tasks", "/api/tasks/dispatch", "/api/tasks/{task_id}",
            "/api/tasks/{task_id}/retry", "/api/tasks/{task_id}/cancel", "/api/purge",
            "/api/queues/{name}/stats", "/api/schedules", "/api/schedules/{name}",
            "/api/schedules/{name}/run", "/api/tasks/retry", "/api/tasks/cancel",
            "/api/jobs/{job_id}", "/api/audit",
        }  # fmt: skip
        json.dumps(document)
