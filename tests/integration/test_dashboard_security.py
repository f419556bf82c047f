"""Secure by default: sign-in everywhere, roles on the server, CSRF, escaping, no injection."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, timezone

import pytest
from helpers.dashboard_client import Dashboard, csrf_token
from helpers.services import REDIS_BROKER
from integration.conftest import ExternalApp
from sqlalchemy import insert

from celery_ops.dashboard import create_app
from celery_ops.store.models import executions

#: Real worker processes, brokers or servers: not in the fast loop.
pytestmark = pytest.mark.slow

XSS = [
    "<script>alert('x')</script>",
    '"><img src=x onerror=alert(1)>',
    "<svg/onload=alert(1)>",
]


@pytest.fixture
def external(external_app: Callable[..., ExternalApp], new_database) -> ExternalApp:
    return external_app(REDIS_BROKER, new_database("sqlite"))


@pytest.fixture
def dashboard(external: ExternalApp) -> Dashboard:
    return Dashboard(external)


class TestSigningIn:
    def test_every_page_but_login_and_static_files_needs_a_user(self, dashboard: Dashboard) -> None:
        client = dashboard.client()
        home = client.get("/")
        assert home.status_code == 302 and home.headers["Location"].startswith("/login")
        assert client.get("/login").status_code == 200
        static = client.get("/static/admin/bootstrap/bootstrap4/css/bootstrap.min.css")
        assert static.status_code == 200
        assert client.get("/api/tasks").status_code == 401

    def test_a_wrong_password_is_refused_and_audited(self, dashboard: Dashboard) -> None:
        client = dashboard.client()
        token = csrf_token(client.get("/login").text)
        refused = client.post(
            "/login", data={"username": "operator", "password": "wrong!", "csrf_token": token}
        )
        assert refused.status_code == 401 and "Wrong user name or password" in refused.text
        assert client.get("/").status_code == 302
        entry = dashboard.audit()[0]
        assert (entry.action, entry.outcome) == ("login", "denied")

    def test_the_session_cookie_is_httponly_and_samesite_lax(self, dashboard: Dashboard) -> None:
        client = dashboard.client()
        token = csrf_token(client.get("/login").text)
        response = client.post(
            "/login",
            data={"username": "viewer", "password": "viewer-password", "csrf_token": token},
        )
        cookie = response.headers["Set-Cookie"]
        assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie

    def test_the_cookie_is_secure_when_the_setting_says_https(self, external: ExternalApp) -> None:
        external.app.conf.ops_dashboard_secure_cookies = True
        external.ops._config = None  # settings are read once per process: read them again
        app = create_app(external.app)
        assert app.config["SESSION_COOKIE_SECURE"] is True

    def test_the_first_start_creates_an_admin_and_prints_its_password_once(
        self, external: ExternalApp, capsys: pytest.CaptureFixture[str]
    ) -> None:
        create_app(external.app)
        printed = capsys.readouterr().out
        assert "user: admin" in printed
        password = printed.split("password: ")[1].split()[0]
        assert external.ops.store.accounts.user("admin").role == "admin"
        assert password not in str(external.ops.store.accounts.user("admin"))
        create_app(external.app)
        assert "password" not in capsys.readouterr().out


class TestCsrf:
    def test_a_form_post_without_its_token_is_refused(self, dashboard: Dashboard) -> None:
        client = dashboard.client()
        no_token = client.post("/login", data={"username": "admin", "password": "admin-pass"})
        assert no_token.status_code == 400
        signed_in = dashboard.signed_in("operator")
        assert signed_in.post("/logout").status_code == 400
        assert signed_in.get("/").status_code == 200

    def test_api_calls_with_a_session_need_the_token_in_a_header(
        self, dashboard: Dashboard
    ) -> None:
        client = dashboard.signed_in("operator")
        body = {"name": "s", "task": "extapp.add", "every": 60}
        forged = client.post("/api/schedules", json=body)
        assert forged.status_code == 403 and forged.json["error"] == "csrf"
        token = csrf_token(client.get("/").text)
        allowed = client.post("/api/schedules", json=body, headers={"X-CSRFToken": token})
        assert allowed.status_code == 201, allowed.json


class TestUntrustedData:
    def test_html_in_task_names_results_and_errors_is_shown_as_text(
        self, dashboard: Dashboard
    ) -> None:
        now = datetime.now(timezone.utc)
        with dashboard.external.ops.store.engine.begin() as connection:
            for payload in XSS:
                connection.execute(
                    insert(executions),
                    {
                        "task_id": str(uuid.uuid4()),
                        "task_name": payload,
                        "status": "FAILURE",
                        "status_at": now,
                        "error_type": payload,
                        "error_message": payload,
                        "result": payload,
                        "progress": 15,
                        "attempts": 1,
                    },
                )
        page = dashboard.signed_in("viewer").get("/").text
        for payload in XSS:
            assert payload not in page
        assert "&lt;script&gt;alert(" in page

    @pytest.mark.parametrize(
        "value", ["' OR '1'='1", "x'; DROP TABLE celery_ops_executions; --", "%", "\\", "\x00"]
    )
    def test_sql_in_filters_is_just_a_value(self, dashboard: Dashboard, value: str) -> None:
        dashboard.external.module.add.delay(1, 1)
        dashboard.external.ops.recorder.flush(timeout=10)
        response = dashboard.api("GET", "/api/tasks", role="viewer", query_string={"task": value})
        assert response.status_code in (200, 422)
        if response.status_code == 200:
            assert response.json["items"] == []
        everything = dashboard.api("GET", "/api/tasks", role="viewer")
        assert len(everything.json["items"]) >= 1


class TestUsersCommand:
    def test_users_are_added_from_stdin_and_bad_input_is_one_line(
        self, external: ExternalApp
    ) -> None:
        added = external.ops_cli(
            "users", "add", "alice", "--role", "operator", "--password-stdin",
            stdin="correct horse\n",
        )  # fmt: skip
        assert added.returncode == 0, added.stderr
        assert "added alice (operator)" in added.stdout
        row = external.ops.store.accounts.user("alice")
        assert row is not None and row.role == "operator"
        assert "correct horse" not in row.password_hash
        again = external.ops_cli(
            "users", "add", "alice", "--role", "viewer", "--password-stdin", stdin="password1\n"
        )
        assert again.returncode == 1 and "already exists" in again.stderr
        short = external.ops_cli(
            "users", "add", "bob", "--role", "viewer", "--password-stdin", stdin="short\n"
        )
        assert short.returncode == 1 and "at least 8 characters" in short.stderr
        role = external.ops_cli(
            "users", "add", "carol", "--role", "root", "--password-stdin", stdin="password1\n"
        )
        assert role.returncode == 2
        listed = external.ops_cli("users", "list")
        assert "alice" in listed.stdout and "operator" in listed.stdout


class TestUsersPage:
    def test_only_admins_see_and_manage_users(self, dashboard: Dashboard) -> None:
        operator = dashboard.signed_in("operator")
        assert "Users" not in operator.get("/").text
        assert operator.get("/users/").status_code == 403
        token = csrf_token(operator.get("/").text)
        forged = operator.post(
            "/users/add",
            data={"username": "mallory", "password": "password1", "role": "admin",
                  "csrf_token": token},
        )  # fmt: skip
        assert forged.status_code == 403
        assert dashboard.user("mallory") is None

        admin = dashboard.signed_in("admin")
        page = admin.get("/users/")
        assert page.status_code == 200 and "operator" in page.text
        token = csrf_token(page.text)
        admin.post(
            "/users/add",
            data={"username": "dora", "password": "password1", "role": "viewer",
                  "csrf_token": token},
        )  # fmt: skip
        assert dashboard.user("dora").role == "viewer"
        admin.post(
            "/users/dora/update", data={"role": "operator", "active": "no", "csrf_token": token}
        )
        dora = dashboard.user("dora")
        assert (dora.role, dora.active) == ("operator", False)
        assert dashboard.accounts.authenticate("dora", "password1") is None
        admin.post("/users/admin/update", data={"role": "viewer", "csrf_token": token})
        assert dashboard.user("admin").role == "admin"
        actions = {entry.action for entry in dashboard.audit()}
        assert {"user-add", "user-update"} <= actions


class TestSearch:
    def test_the_api_and_the_page_search_argument_text(self, dashboard: Dashboard) -> None:
        sent = dashboard.external.module.echo.delay("order-8080 for <b>ACME</b>")
        dashboard.external.ops.recorder.flush(timeout=10)
        hits = dashboard.api("GET", "/api/tasks", role="viewer", query_string={"search": "8080"})
        assert [row["task_id"] for row in hits.json["items"]] == [sent.id]
        short = dashboard.api("GET", "/api/tasks", role="viewer", query_string={"search": "80"})
        assert short.status_code == 422
        page = dashboard.signed_in("viewer").get("/executions/?search=acme").text
        assert sent.id in page
