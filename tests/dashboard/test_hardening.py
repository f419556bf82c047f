"""What an attacker and a careless user tried, each refused with a clear 4xx and nothing
half-written: one test per finding of the probe, named after the behaviour it keeps."""

from __future__ import annotations

import base64
import html
import json
import time
from typing import Any

import pytest
from helpers.dashboard_client import PASSWORDS, Dashboard, csrf_token, post_form

from celery_ops.core.filters import ExecutionFilter
from celery_ops.operations import Actor


def _not_json(constant: str) -> None:
    raise AssertionError(f"{constant} is not JSON")


def no_server_error(response: Any) -> Any:
    assert response.status_code < 500, (response.status_code, response.text[:500])
    return response


class TestOneBadScheduleNeverStopsTheOthers:
    @pytest.mark.parametrize(
        ("every", "message"),
        [
            (1e-9, "interval must be"),
            ("inf", "every: Input should be a finite number"),
            ("Infinity", "every: Input should be a finite number"),
            (1e308, "interval must be"),
            (0.05, "interval must be"),
            (4e8, "interval must be"),
        ],
    )
    def test_an_absurd_interval_is_refused_by_the_api_and_the_form(
        self, web: Dashboard, every: Any, message: str
    ) -> None:
        created = web.api(
            "POST", "/api/schedules", json={"name": "x", "task": "door.add", "every": every}
        )
        assert created.status_code == 422 and message in created.json["detail"], created.json
        client = web.signed_in("operator")
        form = {
            "name": "y", "task": "door.add", "kind": "interval", "interval_seconds": str(every),
            "args": "[]", "kwargs": "{}", "options": "{}", "misfire": "once", "enabled": "y",
        }  # fmt: skip
        page = post_form(client, "/schedules/new", form, "/schedules/new")
        assert page.status_code == 200 and message in page.text
        assert not web.external.door().schedules.exists("x")
        assert not web.external.door().schedules.exists("y")

    def test_rows_written_with_sql_are_parked_shown_and_the_good_one_fires(
        self, web: Dashboard
    ) -> None:
        door_app = web.external
        door_app.ops.operations(Actor.system("tests")).schedules.add(
            "good", "door.add", every=600, args=[1, 2]
        )
        with door_app.ops.store.engine.begin() as connection:
            for name, seconds in (("tiny", 1e-9), ("endless", float("inf")), ("huge", 1e308)):
                connection.exec_driver_sql(
                    "INSERT INTO celery_ops_schedules (name, task, kind, interval_seconds, "
                    "enabled, next_run_at, total_runs, source) "
                    # SQLite keeps times as text: SQLAlchemy's format, so that a claim matches.
                    "VALUES (?, 'door.add', 'interval', ?, 1, '2026-01-01 00:00:00.000000', 0, "
                    "'user')",
                    (name, seconds),
                )
        from celery_ops.beat import DatabaseScheduler

        scheduler = DatabaseScheduler(door_app.app)
        scheduler.setup_schedule()
        scheduler.tick()
        schedules = door_app.door().schedules
        assert schedules.get("good").total_runs == 1
        for name in ("tiny", "endless", "huge"):
            row = schedules.get(name)
            assert row.last_error and "interval must be" in row.last_error, row
            assert row.next_run_at is None and row.total_runs == 0
            shown = web.api("GET", f"/api/schedules/{name}", role="viewer")
            assert shown.status_code == 200 and "interval must be" in shown.json["problem"]
            json.loads(shown.text, parse_constant=_not_json)  # standard JSON: no Infinity
            page = web.signed_in("viewer").get(f"/schedules/view/{name}")
            assert page.status_code == 200 and "interval must be" in page.text
        assert door_app.queued() == 1

    @pytest.mark.parametrize(
        ("field", "value", "message"),
        [
            ("max_runs", 2**40, "max runs must be at least 1 and at most"),
            ("start_at", "0001-01-01T00:00:00+14:00", "out of the range of dates"),
            ("end_at", "9999-12-31T23:59:59", "between 1970 and 9000"),
            ("options", "not an object", "options: is not valid JSON"),
            ("options", [1, 2], "options: must be a JSON object"),
            ("queue", "q" * 256, "queue: String should have at most 255 characters"),
            ("every", float("nan"), "every: Input should be a finite number"),
        ],
    )
    def test_every_number_and_date_of_a_schedule_is_checked(
        self, web: Dashboard, field: str, value: Any, message: str
    ) -> None:
        body = {"name": "checked", "task": "door.add", "every": 60, field: value}
        response = web.api("POST", "/api/schedules", data=json.dumps(body),
                           headers={"Content-Type": "application/json"})  # fmt: skip
        assert response.status_code == 422, response.json
        assert message in response.json["detail"]


class TestNoRequestForgedByAnotherSite:
    def test_a_body_that_is_not_json_is_refused_even_with_basic_credentials(
        self, web: Dashboard
    ) -> None:
        forged = web.api(
            "POST",
            "/api/tasks/dispatch",
            data='{"task": "door.add", "args": [1, 2]}',
            headers={"Content-Type": "text/plain"},
        )
        assert forged.status_code == 415
        assert web.external.queued() == 0

    @pytest.mark.parametrize(
        "headers",
        [{"Sec-Fetch-Site": "cross-site"}, {"Origin": "https://evil.example"}, {"Origin": "null"}],
    )
    def test_a_state_change_a_browser_marks_cross_site_is_refused_whatever_the_credentials(
        self, web: Dashboard, headers: dict[str, str]
    ) -> None:
        body = {"task": "door.add", "args": [1, 2]}
        forged = web.api("POST", "/api/tasks/dispatch", json=body, headers=headers)
        assert forged.status_code == 403 and forged.json["error"] == "cross_site"
        assert web.external.queued() == 0
        same_site = {"Origin": "http://localhost", "Sec-Fetch-Site": "same-origin"}
        allowed = web.api("POST", "/api/tasks/dispatch", json=body, headers=same_site)
        assert allowed.status_code == 201, allowed.json

    def test_every_response_carries_the_security_headers(self, web: Dashboard) -> None:
        client = web.signed_in("viewer")
        for response in (
            web.client().get("/login"),
            client.get("/"),
            client.get("/executions/"),
            web.api("GET", "/api/tasks", role="viewer"),
            web.api("GET", "/api/nothing-here", role="viewer"),
            web.client().get("/static/admin/bootstrap/bootstrap4/css/bootstrap.min.css"),
        ):
            headers = response.headers
            policy = headers["Content-Security-Policy"]
            assert (
                "script-src 'self'" in policy
                and "'unsafe-inline'" not in policy.split("script-src")[1].split(";")[0]
            )
            assert "frame-ancestors 'none'" in policy
            assert headers["X-Content-Type-Options"] == "nosniff"
            assert headers["Referrer-Policy"] == "same-origin"
            assert headers["X-Frame-Options"] == "DENY"

    def test_a_csrf_token_expires(self, web: Dashboard) -> None:
        assert web.app.config["WTF_CSRF_TIME_LIMIT"] == 8 * 3600


class TestRedirectsStayOnTheSite:
    @pytest.mark.parametrize(
        "target",
        ["/%09/evil.example", "/\t/evil.example", "//evil.example", "/\\evil.example",
         "https://evil.example/", "/\n/evil.example", "javascript:alert(1)"],
    )  # fmt: skip
    def test_after_signing_in(self, web: Dashboard, target: str) -> None:
        client = web.client()
        token = csrf_token(client.get("/login").text)
        response = client.post(
            "/login",
            query_string={"next": target},
            data={"username": "viewer", "password": PASSWORDS["viewer"], "csrf_token": token},
        )
        assert response.status_code == 302
        location = response.headers["Location"]
        assert location.startswith("/") and not location.startswith("//"), location
        assert "evil" not in location.split("/")[1] if location.count("/") > 1 else True

    def test_a_forms_back_field_and_the_purge_confirmation(self, web: Dashboard) -> None:
        [task_id] = web.external.seed(1, status="SUCCESS")
        client = web.signed_in("operator")
        for back in ("https://evil.example/", "javascript:alert(1)", "//evil.example"):
            asked = post_form(
                client,
                "/executions/action",
                {"action": "purge", "scope": "selected", "ids": task_id, "back": back},
            )
            assert asked.status_code == 200
            assert "javascript:" not in asked.text and "evil.example" not in asked.text
            refused = post_form(client, "/executions/action", {"action": "bogus", "back": back})
            assert refused.headers["Location"] == "/executions/"


class TestSessionsEnd:
    def _copied_cookie_works(self, web: Dashboard, cookie: str) -> bool:
        stolen = web.client()
        stolen.set_cookie("session", cookie, domain="localhost")
        return stolen.get("/executions/").status_code == 200

    def _signed_in_cookie(self, web: Dashboard, role: str) -> tuple[Any, str]:
        client = web.signed_in(role)
        cookie = client.get_cookie("session")
        assert cookie is not None
        return client, cookie.value

    def test_at_sign_out_every_copy_of_the_cookie_stops_working(self, web: Dashboard) -> None:
        client, cookie = self._signed_in_cookie(web, "operator")
        assert self._copied_cookie_works(web, cookie)
        post_form(client, "/logout", {})
        assert not self._copied_cookie_works(web, cookie)

    @pytest.mark.parametrize("change", ["password", "role", "switch-off"])
    def test_a_new_password_a_role_or_a_switch_off_ends_every_session(
        self, web: Dashboard, change: str
    ) -> None:
        _client, cookie = self._signed_in_cookie(web, "operator")
        accounts = web.external.ops.operations(Actor.cli()).accounts
        if change == "password":
            accounts.set_password("operator", "a-new-password")
        elif change == "role":
            accounts.update("operator", {"role": "viewer"})
        else:
            accounts.update("operator", {"active": False})
        assert not self._copied_cookie_works(web, cookie)


class TestGuessingPasswordsIsThrottled:
    def test_after_ten_wrong_passwords_even_the_right_one_waits(self, web: Dashboard) -> None:
        client = web.client()
        for _ in range(10):
            wrong = post_form(
                client, "/login", {"username": "operator", "password": "guess"}, "/login"
            )
            assert wrong.status_code == 401
        right = post_form(
            client, "/login", {"username": "operator", "password": PASSWORDS["operator"]}, "/login"
        )
        assert right.status_code == 429 and "Too many wrong passwords" in right.text
        assert int(right.headers["Retry-After"]) > 0
        basic = web.api("GET", "/api/tasks", role="operator")
        assert basic.status_code == 429 and basic.headers["Retry-After"]
        entries = web.external.audit()
        assert entries[-1].outcome == "denied" and "too many wrong passwords" in entries[-1].detail
        assert web.api("GET", "/api/tasks", role="viewer").status_code == 200  # others unhurt

    def test_an_address_that_tries_many_names_is_refused_too(self, web: Dashboard) -> None:
        web.external.configure(login_max_failures_per_address=5)
        for number in range(5):
            token = f"user{number}:nope"
            web.client().get("/api/tasks", headers={"Authorization": "Basic " + _b64(token)})
        assert web.api("GET", "/api/tasks", role="viewer").status_code == 429

    def test_a_right_password_starts_the_count_again(self, web: Dashboard) -> None:
        for _ in range(2):
            for _ in range(9):
                web.client().get(
                    "/api/tasks", headers={"Authorization": "Basic " + _b64("viewer:x")}
                )
            assert web.api("GET", "/api/tasks", role="viewer").status_code == 200


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


class TestBadInputIsAClearRefusal:
    @pytest.mark.parametrize(
        ("path", "expected"),
        [
            ("/api/tasks?task=a%00b", 422),
            ("/api/tasks?search=abc%00", 422),
            ("/api/tasks?status=SUCCESS%00", 422),
            ("/api/tasks?cursor=%00", 422),
            ("/api/tasks?cursor=99999999999999999999", 422),
            ("/api/tasks/a%00b", 422),
            ("/api/schedules/a%00b", 404),
            ("/api/tasks?since=0001-01-01T00:00:00%2B14:00", 422),
        ],
    )
    def test_in_the_api_query(self, web: Dashboard, path: str, expected: int) -> None:
        response = no_server_error(web.api("GET", path, role="viewer"))
        assert response.status_code == expected, response.json

    @pytest.mark.parametrize(
        ("path", "status", "said"),
        [
            ("/executions/?task=a%00b", 200, "This filter cannot be used: task contains a NUL"),
            ("/executions/?since=not-a-time", 200, "is not an ISO 8601 time"),
            ("/executions/?q=a%00b", 422, "is not a task id"),  # q: the task id box
            ("/executions/view/a%00b", 422, "is not a task id"),
            ("/schedules/view/a%00b", 302, ""),
            ("/executions/?before=99999999999999999999", 200, ""),  # a cursor: first page
        ],
    )
    def test_in_a_page(self, web: Dashboard, path: str, status: int, said: str) -> None:
        response = no_server_error(web.signed_in("viewer").get(path))
        assert response.status_code == status
        assert said in html.unescape(response.text)

    @pytest.mark.parametrize(
        ("body", "message"),
        [
            ({"task": "door.add", "countdown": "NaN"}, "countdown"),
            ({"task": "door.add", "countdown": 1e308}, "countdown"),
            ({"task": "door.add", "countdown": 1e12}, "countdown"),
            ({"task": "door.add", "args": ["\ud800"]}, "not valid Unicode"),
            ({"task": "door.add", "args": [[[]]] * 3 + [json.loads("[" * 900 + "]" * 900)]},
             "nests deeper than"),
        ],
    )  # fmt: skip
    def test_in_a_dispatch_nothing_is_sent(self, web: Dashboard, body: dict, message: str) -> None:
        response = web.api(
            "POST",
            "/api/tasks/dispatch",
            data=json.dumps(body),
            headers={"Content-Type": "application/json"},
        )
        assert response.status_code == 422 and message in response.json["detail"], response.json
        assert web.external.queued() == 0

    def test_a_body_nested_thousands_deep_is_a_400(self, web: Dashboard) -> None:
        body = '{"task": "door.add", "args": ' + "[" * 5000 + "]" * 5000 + "}"
        response = web.api(
            "POST", "/api/tasks/dispatch", data=body, headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 400 and "nests too deeply" in response.json["detail"]

    @pytest.mark.parametrize(
        "older_than", ["7", 7, "999999999999999999999999999999", "20000000w", "\x00"]
    )
    def test_a_purge_age_needs_a_unit_and_a_sane_size(
        self, web: Dashboard, older_than: Any
    ) -> None:
        web.external.seed(2, status="SUCCESS", at=time.time() - 30 * 86_400)
        response = web.api("POST", "/api/purge", json={"older_than": older_than})
        assert response.status_code == 422, response.json
        assert web.external.door().executions.count(ExecutionFilter()) == 2

    def test_a_purge_status_with_a_nul_is_refused(self, web: Dashboard) -> None:
        response = web.api("POST", "/api/purge", json={"older_than": "1d", "status": "SUC\x00"})
        assert response.status_code == 422


class TestNamesWithSlashesAndSpacesAreReachable:
    @pytest.mark.parametrize("name", ["reports/nightly", "every minute", "a/b c/d"])
    def test_a_schedule_named_so_is_viewed_edited_run_and_deleted(
        self, web: Dashboard, name: str
    ) -> None:
        created = web.api(
            "POST", "/api/schedules", json={"name": name, "task": "door.add", "every": 60}
        )
        assert created.status_code == 201, created.json
        assert web.api("GET", f"/api/schedules/{name}", role="viewer").status_code == 200
        patched = web.api("PATCH", f"/api/schedules/{name}", json={"every": 30})
        assert patched.status_code == 200 and patched.json["interval_seconds"] == 30
        assert web.api("POST", f"/api/schedules/{name}/run").status_code == 201
        client = web.signed_in("operator")
        listing = client.get("/schedules/").text
        assert client.get(f"/schedules/view/{name}").status_code == 200
        assert client.get(f"/schedules/edit/{name}").status_code == 200
        assert post_form(client, f"/schedules/{name}/disable", {}).status_code == 302
        assert not web.external.door().schedules.get(name).enabled
        assert name.split("/")[0] in listing
        assert web.api("DELETE", f"/api/schedules/{name}").status_code == 204

    def test_a_schedule_is_renamed_through_the_api(self, web: Dashboard) -> None:
        web.api("POST", "/api/schedules", json={"name": "a", "task": "door.add", "every": 60})
        renamed = web.api("PATCH", "/api/schedules/a", json={"name": "reports/b c"})
        assert renamed.status_code == 200 and renamed.json["name"] == "reports/b c"
        refused = web.api("PATCH", "/api/schedules/reports/b c", json={"name": "x\ty"})
        assert refused.status_code == 422 and "control character" in refused.json["detail"]

    @pytest.mark.parametrize(
        ("method", "path"),
        [
            ("PUT", "/api/limits/door.add%0Aother"),
            ("DELETE", "/api/limits/door.add%0A"),
            ("POST", "/api/queues/a%0Ab/pause"),
            ("GET", "/api/tasks/id%0Awith-a-break"),
        ],
    )
    def test_a_name_with_a_line_break_reaches_the_operation_and_is_refused_with_a_422(
        self, web: Dashboard, method: str, path: str
    ) -> None:
        # Werkzeug's own `path` converter does not match a line break: such a name got the
        # router's 404, which the limits' PUT does not document, instead of the door's reason.
        answer = web.api(method, path, json={"rate": "5/s"} if method == "PUT" else None)
        assert answer.status_code == 422, answer.json
        assert "\\n" in answer.json["detail"] or "control character" in answer.json["detail"]

    @pytest.mark.parametrize("name", ["a/b", "with space", "x:y", "tab\there", "é"])
    def test_a_user_name_is_letters_digits_and_dot_underscore_at_dash(
        self, web: Dashboard, name: str
    ) -> None:
        client = web.signed_in("admin")
        post_form(client, "/users/add", {"username": name, "password": "password1",
                                         "role": "viewer"}, "/users/")  # fmt: skip
        assert web.external.ops.store.accounts.user(name) is None

    def test_a_user_named_before_the_rule_stays_reachable(self, web: Dashboard) -> None:
        accounts = web.external.ops.store.accounts
        accounts.add_user("old/name", "x", "viewer", web.external.ops.clock.now())
        client = web.signed_in("admin")
        post_form(client, "/users/old/name/update", {"role": "operator"}, "/users/")
        user = accounts.user("old/name")
        assert user is not None and user.role == "operator"


class TestAScheduleShowsWhatEachRunDid:
    def test_a_run_refused_as_a_duplicate_names_the_execution_holding_the_key(
        self, web: Dashboard
    ) -> None:
        @web.external.app.task(name="door.rebuild", ops_unique_for=600)
        def rebuild() -> None: ...

        door = web.external.door()
        door.schedules.add("rebuild", "door.rebuild", every=3600)
        holder = door.schedules.run_now("rebuild")
        assert door.schedules.run_now("rebuild") == holder
        page = web.signed_in("viewer").get("/schedules/view/rebuild").text
        runs = page.split('id="runs"', 1)[1].split("</table>", 1)[0]
        assert runs.count(f"<code>{holder}</code>") == 2  # each run links the holder
        assert f"not sent: a duplicate of {holder}, which holds its unique key" in runs
        assert runs.count('ops-status">PENDING') == 2  # both show the holder's status
