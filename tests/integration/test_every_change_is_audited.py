"""Every state-changing API route, HTML form and command, done once and refused once, leaves
exactly one audit row naming who, what, on what and how it ended; so does a failed sign-in,
without its password."""

from __future__ import annotations

import base64
import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import pytest
from helpers.dashboard_client import PASSWORDS, Dashboard, post_form
from helpers.services import REDIS_BROKER, require
from integration.conftest import ExternalApp

import celery_ops
from celery_ops.core.records import AuditEntry
from celery_ops.operations import Actor
from celery_ops.store import RecordBatch, WorkerState

#: Real worker processes, brokers or servers: not in the fast loop.
pytestmark = pytest.mark.slow


@dataclass
class Expected:
    actor: str
    action: str
    outcome: str
    #: Items the row's targets must hold.
    targets: dict[str, Any]


@pytest.fixture
def dashboard(external_app: Callable[..., ExternalApp], new_database) -> Dashboard:
    require("redis")
    return Dashboard(external_app(REDIS_BROKER, new_database("sqlite")))


@pytest.fixture
def workers(dashboard: Dashboard) -> tuple[str, str, str]:
    """A plain worker, one started with --autoscale, and an offline one the store knows. They
    consume a queue of their own: the tasks the tests send stay PENDING."""
    external = dashboard.external
    own = f"own-{uuid.uuid4().hex[:6]}"
    plain = external.start_worker("plain", concurrency=1, queues=own)
    scaling = external.start_worker(
        "scaling", concurrency=1, queues=own, extra=("--autoscale=2,1",)
    )
    gone = f"gone@{uuid.uuid4().hex[:6]}"
    now = datetime.now(timezone.utc)
    external.ops.store.write(RecordBatch(workers=[WorkerState(gone, now, False, {})]))
    return plain.hostname, scaling.hostname, gone


def sent(dashboard: Dashboard) -> str:
    """A task sent (and recorded) by the app itself: PENDING, its arguments kept."""
    result = dashboard.external.module.add.delay(1, 2)
    dashboard.external.ops.recorder.flush(timeout=10)
    return str(result.id)


def the_one_new_row(dashboard: Dashboard, before: int, expected: Expected) -> AuditEntry:
    rows = list(reversed(dashboard.audit()))[before:]
    assert len(rows) == 1, [(r.actor, r.action, r.outcome) for r in rows]
    row = rows[0]
    assert (row.actor, row.action, row.outcome) == (
        expected.actor,
        expected.action,
        expected.outcome,
    ), row
    for key, value in expected.targets.items():
        assert row.targets.get(key) == value, (key, row.targets)
    return row


class TestTheApi:
    def test_every_state_changing_route(
        self, dashboard: Dashboard, workers: tuple[str, str, str]
    ) -> None:
        plain, scaling, gone = workers
        queue = dashboard.external.env["QUEUE"]
        ops = dashboard.external.ops
        ops.operations(Actor.system("setup")).schedules.add("walk", "extapp.add", every=600)

        def calls() -> list[tuple[str, str, dict | None, str, dict[str, Any]]]:
            # (method, path, body, action, targets) with fresh executions for each call
            one, two, three = sent(dashboard), sent(dashboard), sent(dashboard)
            batch = celery_ops.batch([dashboard.external.module.add.s(1, 1)], name="audited")
            return [
                ("POST", f"/api/batches/{batch.id}/cancel", None, "batch-cancel",
                 {"batch": batch.id}),
                ("POST", "/api/tasks/dispatch", {"task": "extapp.add", "args": [1, 1]},
                 "dispatch", {"task": "extapp.add"}),
                ("POST", f"/api/tasks/{one}/retry", None, "retry", {"task_id": one}),
                ("POST", f"/api/tasks/{two}/cancel", {}, "cancel", {"task_id": two}),
                ("POST", "/api/tasks/retry", {"task_ids": [three]}, "retry-many",
                 {"task_ids": [three]}),
                ("POST", "/api/tasks/cancel", {"filter": {"task": "extapp.add",
                 "status": "PENDING"}}, "cancel-many", {}),
                ("POST", "/api/tasks/discard", {"filter": {"dead": True}}, "discard-many", {}),
                ("PUT", "/api/limits/extapp.add", {"rate": "100/s"}, "limit-set",
                 {"task": "extapp.add", "rate": "100/s"}),
                ("DELETE", "/api/limits/extapp.add", None, "limit-delete",
                 {"task": "extapp.add"}),
                ("POST", "/api/purge", {"task_ids": [one]}, "purge", {"task_ids": [one]}),
                ("PATCH", "/api/schedules/walk", {"every": 300}, "schedule-update",
                 {"name": "walk"}),
                ("POST", "/api/schedules/walk/run", None, "schedule-run", {"name": "walk"}),
                ("POST", "/api/schedules", {"name": "made", "task": "extapp.add", "every": 60},
                 "schedule-create", {"name": "made"}),
                ("DELETE", "/api/schedules/made", None, "schedule-delete", {"name": "made"}),
                ("POST", f"/api/workers/{plain}/pool", {"grow": 1}, "worker-pool",
                 {"worker": plain, "grow": 1}),
                ("POST", f"/api/workers/{plain}/pool", {"shrink": 1}, "worker-pool",
                 {"worker": plain, "shrink": 1}),
                ("POST", f"/api/workers/{scaling}/autoscale", {"max": 3, "min": 1},
                 "worker-autoscale", {"worker": scaling, "max": 3, "min": 1}),
                ("POST", f"/api/workers/{plain}/consume", {"queue": "extra"},
                 "worker-consume", {"worker": plain, "queue": "extra"}),
                ("POST", f"/api/workers/{plain}/cancel-consume", {"queue": "extra"},
                 "worker-cancel-consume", {"worker": plain, "queue": "extra"}),
                ("POST", "/api/tasks/types/extapp.add/rate-limit", {"rate": "10/m"},
                 "task-rate-limit", {"task": "extapp.add", "rate": "10/m"}),
                ("POST", "/api/tasks/types/extapp.add/time-limit", {"soft": 10, "hard": 20},
                 "task-time-limit", {"task": "extapp.add", "soft": 10, "hard": 20}),
                ("POST", f"/api/queues/{queue}/pause", None, "queue-pause", {"queue": queue}),
                ("POST", f"/api/queues/{queue}/resume", None, "queue-resume",
                 {"queue": queue}),
                ("POST", f"/api/queues/{queue}/purge", None, "queue-purge", {"queue": queue}),
                ("DELETE", f"/api/workers/{gone}", None, "worker-forget", {"worker": gone}),
                ("POST", f"/api/workers/{scaling}/shutdown", None, "worker-shutdown",
                 {"worker": scaling}),
            ]  # fmt: skip

        for role, outcome, success in (("viewer", "denied", False), ("operator", "ok", True)):
            for method, path, body, action, targets in calls():
                before = len(dashboard.audit())
                response = dashboard.api(method, path, role=role, json=body)
                if success:
                    assert response.status_code in (200, 201, 202, 204), (path, response.json)
                else:
                    assert response.status_code == 403, (path, response.json)
                expected = Expected(role, action, outcome, targets if success else {})
                the_one_new_row(dashboard, before, expected)

    def test_a_wrong_basic_password_is_audited_without_the_password(
        self, dashboard: Dashboard
    ) -> None:
        before = len(dashboard.audit())
        token = base64.b64encode(b"operator:not-the-password-42").decode()
        response = dashboard.client().get("/api/tasks", headers={"Authorization": f"Basic {token}"})
        assert response.status_code == 401
        row = the_one_new_row(
            dashboard,
            before,
            Expected("anonymous:", "login", "denied", {"username": "operator", "via": "basic"}),
        )
        assert "not-the-password-42" not in json.dumps([row.targets, row.detail])


class TestTheHtmlForms:
    def test_every_state_changing_form(
        self, dashboard: Dashboard, workers: tuple[str, str, str]
    ) -> None:
        plain, scaling, gone = workers
        queue = dashboard.external.env["QUEUE"]
        ops = dashboard.external.ops
        setup = ops.operations(Actor.system("setup"))
        schedule = {
            "task": "extapp.add", "kind": "interval", "interval_seconds": "60", "args": "[1, 2]",
            "kwargs": "{}", "options": "{}", "misfire": "once", "enabled": "y",
        }  # fmt: skip

        def forms(role: str) -> list[tuple[str, dict[str, Any], str, str, dict[str, Any]]]:
            one, two, three = sent(dashboard), sent(dashboard), sent(dashboard)
            name = f"form-{uuid.uuid4().hex[:6]}"
            setup.schedules.add(name, "extapp.add", every=600)
            return [
                ("/executions/action", {"action": "retry", "scope": "selected", "ids": one},
                 "/executions/", "retry", {"task_id": one}),
                ("/executions/action", {"action": "cancel", "scope": "selected", "ids": two},
                 "/executions/", "cancel", {"task_id": two}),
                ("/executions/action", {"action": "retry", "scope": "selected",
                 "ids": [one, three]}, "/executions/", "retry-many", {"selected": 2}),
                ("/executions/action", {"action": "cancel", "scope": "matching",
                 "task": "extapp.add", "status": "PENDING", "confirm": "yes"}, "/executions/",
                 "cancel-many",
                 {"filter": {"task_name": "extapp.add", "statuses": ["PENDING"]}}),
                ("/limits/set", {"task": "extapp.add", "kind": "concurrency", "value": "9"},
                 "/limits/", "limit-set", {"task": "extapp.add", "concurrency": 9}),
                ("/limits/remove", {"task": "extapp.add"}, "/limits/", "limit-delete",
                 {"task": "extapp.add"}),
                ("/executions/action", {"action": "discard", "scope": "matching", "dead": "1",
                 "confirm": "yes"}, "/executions/", "discard-many", {}),
                ("/executions/action", {"action": "purge", "scope": "selected", "ids": three,
                 "confirm": "yes"}, "/executions/", "purge", {"task_ids": [three]}),
                ("/failures/retry", {"task_name": "extapp.add", "error_type": "KeyError",
                 "window": "1d"}, "/failures/", "retry-many", {}),
                ("/schedules/new", {**schedule, "name": f"{name}-new"}, "/schedules/new",
                 "schedule-create", {"name": f"{name}-new"}),
                (f"/schedules/edit/{name}", {**schedule, "name": name, "interval_seconds": "30"},
                 f"/schedules/edit/{name}", "schedule-update", {"name": name}),
                (f"/schedules/{name}/disable", {}, "/schedules/", "schedule-disable",
                 {"name": name}),
                (f"/schedules/{name}/enable", {}, "/schedules/", "schedule-enable",
                 {"name": name}),
                (f"/schedules/{name}/run", {}, "/schedules/", "schedule-run", {"name": name}),
                (f"/schedules/{name}/delete", {}, "/schedules/", "schedule-delete",
                 {"name": name}),
                ("/workers/action", {"action": "grow", "worker": plain, "n": "1"},
                 "/workers/", "worker-pool", {"worker": plain, "grow": "1"}),
                ("/workers/action", {"action": "shrink", "worker": plain, "n": "1"},
                 "/workers/", "worker-pool", {"worker": plain, "shrink": "1"}),
                ("/workers/action", {"action": "autoscale", "worker": scaling, "max": "3",
                 "min": "1"}, "/workers/", "worker-autoscale", {"worker": scaling}),
                ("/workers/action", {"action": "consume", "worker": plain, "queue": "extra"},
                 "/workers/", "worker-consume", {"queue": "extra"}),
                ("/workers/action", {"action": "cancel-consume", "worker": plain,
                 "queue": "extra"}, "/workers/", "worker-cancel-consume", {"queue": "extra"}),
                ("/queues/action", {"action": "pause", "queue": queue}, "/queues/",
                 "queue-pause", {"queue": queue}),
                ("/queues/action", {"action": "resume", "queue": queue}, "/queues/",
                 "queue-resume", {"queue": queue}),
                ("/queues/action", {"action": "purge", "queue": queue, "confirm": "yes"},
                 "/queues/", "queue-purge", {"queue": queue}),
                ("/workers/action", {"action": "forget", "worker": gone}, "/workers/",
                 "worker-forget", {"worker": gone}),
            ]  # fmt: skip

        for role, outcome in (("viewer", "denied"), ("operator", "ok")):
            client = dashboard.signed_in(role)
            for path, data, page, action, targets in forms(role):
                before = len(dashboard.audit())
                response = post_form(client, path, data, page)
                if outcome == "ok":
                    assert response.status_code == 302, (path, response.text[:2000])
                else:
                    assert response.status_code == 403, (path, response.text[:500])
                expected = Expected(role, action, outcome, targets if outcome == "ok" else {})
                the_one_new_row(dashboard, before, expected)

    def test_the_users_forms(self, dashboard: Dashboard) -> None:
        for role, outcome in (("operator", "denied"), ("admin", "ok")):
            client = dashboard.signed_in(role)
            page = "/users/" if role == "admin" else "/"
            name = f"u{role}"
            before = len(dashboard.audit())
            add = {"username": name, "password": "password1", "role": "viewer"}
            assert post_form(client, "/users/add", add, page).status_code in (302, 403)
            the_one_new_row(dashboard, before, Expected(role, "user-add", outcome, {}))
            before = len(dashboard.audit())
            update = {"role": "operator", "active": "yes"}
            post_form(client, f"/users/{name}/update", update, page)
            the_one_new_row(dashboard, before, Expected(role, "user-update", outcome, {}))

    def test_signing_in_and_out(self, dashboard: Dashboard) -> None:
        client = dashboard.client()
        before = len(dashboard.audit())
        wrong = {"username": "viewer", "password": "wrong-password-77"}
        assert post_form(client, "/login", wrong, "/login").status_code == 401
        row = the_one_new_row(
            dashboard,
            before,
            Expected("anonymous:", "login", "denied", {"username": "viewer", "via": "form"}),
        )
        assert "wrong-password-77" not in json.dumps([row.targets, row.detail])
        before = len(dashboard.audit())
        right = {"username": "viewer", "password": PASSWORDS["viewer"]}
        assert post_form(client, "/login", right, "/login").status_code == 302
        the_one_new_row(dashboard, before, Expected("viewer", "login", "ok", {"via": "form"}))
        before = len(dashboard.audit())
        assert post_form(client, "/logout", {}).status_code == 302
        the_one_new_row(dashboard, before, Expected("viewer", "logout", "ok", {}))


class TestTheCommandLine:
    def test_every_state_changing_command(
        self, dashboard: Dashboard, workers: tuple[str, str, str]
    ) -> None:
        plain, scaling, gone = workers
        external = dashboard.external
        queue = external.env["QUEUE"]
        redbeat = f"redbeat-{uuid.uuid4().hex[:6]}:"
        commands: list[tuple[list[str], list[str], str]] = [
            # (succeeds, is refused by its input, action)
            (["db", "upgrade"], ["db", "upgrade", "--revision", "nope"], "schema-upgrade"),
            (["schedules", "add", "cli", "--task", "extapp.add", "--every", "60"],
             ["schedules", "add", "bad", "--task", "extapp.add", "--cron", "61 * * * *"],
             "schedule-create"),
            (["schedules", "update", "cli", "--every", "30"],
             ["schedules", "update", "cli", "--every", "often"], "schedule-update"),
            (["schedules", "disable", "cli"], ["schedules", "disable", "ghost"],
             "schedule-disable"),
            (["schedules", "enable", "cli"], ["schedules", "enable", "ghost"], "schedule-enable"),
            (["schedules", "run", "cli"], ["schedules", "run", "ghost"], "schedule-run"),
            (["schedules", "remove", "cli"], ["schedules", "remove", "ghost"],
             "schedule-delete"),
            (["schedules", "import-redbeat", "--redis-url", REDIS_BROKER, "--key-prefix",
              redbeat],
             ["schedules", "import-redbeat", "--redis-url", "redis://127.0.0.1:1/0"],
             "schedule-import"),
            (["purge", "--older-than", "1d"], ["purge", "--older-than", "soon"], "purge"),
            (["retention"], ["retention", "--chunk-size", "0"], "retention"),
            (["users", "add", "carol", "--role", "viewer", "--password-stdin"],
             ["users", "add", "dave", "--role", "viewer", "--password-stdin"], "user-add"),
            (["users", "set-password", "carol", "--password-stdin"],
             ["users", "set-password", "nobody", "--password-stdin"], "user-password"),
            (["users", "token", "carol"], ["users", "token", "nobody"], "user-token"),
            (["users", "revoke-token", "carol"], ["users", "revoke-token", "nobody"],
             "user-revoke-token"),
            (["workers", "grow", plain, "1"], ["workers", "grow", plain, "many"], "worker-pool"),
            (["workers", "shrink", plain, "1"], ["workers", "shrink", plain, "0"],
             "worker-pool"),
            (["workers", "autoscale", scaling, "3", "1"],
             ["workers", "autoscale", scaling, "1", "3"], "worker-autoscale"),
            (["workers", "consume", plain, "extra"], ["workers", "consume", plain, ""],
             "worker-consume"),
            (["workers", "cancel-consume", plain, "extra"],
             ["workers", "cancel-consume", plain, ""], "worker-cancel-consume"),
            (["workers", "forget", gone], ["workers", "forget", plain], "worker-forget"),
            (["queues", "pause", queue], ["queues", "pause", ""], "queue-pause"),
            (["queues", "resume", queue], ["queues", "resume", ""], "queue-resume"),
            (["queues", "purge", queue, "--yes"], ["queues", "purge", "", "--yes"],
             "queue-purge"),
            (["workers", "shutdown", scaling], ["workers", "shutdown", "nobody@nowhere"],
             "worker-shutdown"),
        ]  # fmt: skip
        for succeeds, refused, action in commands:
            for arguments, outcome in ((succeeds, "ok"), (refused, "failed")):
                password = "password1\n" if outcome == "ok" else "short\n"
                before = len(dashboard.audit())
                done = external.ops_cli(*arguments, stdin=password)
                assert (done.returncode == 0) == (outcome == "ok"), (arguments, done.stderr)
                if outcome == "failed":
                    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
                rows = list(reversed(dashboard.audit()))[before:]
                assert len(rows) == 1, (arguments, [(r.action, r.outcome) for r in rows])
                assert re.fullmatch(r"cli:[^@]+@.+", rows[0].actor), rows[0].actor
                assert (rows[0].action, rows[0].outcome) == (action, outcome), arguments
