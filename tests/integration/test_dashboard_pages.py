"""The dashboard's pages, as a signed-in operator or viewer, against a real worker."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from datetime import datetime, timezone

import pytest
from helpers.dashboard_client import Dashboard, csrf_token, post_form
from helpers.services import REDIS_BROKER, require
from helpers.waiting import wait_for
from integration.conftest import ExternalApp
from kombu import Queue
from sqlalchemy import insert

from celery_ops.core.filters import ExecutionFilter
from celery_ops.store.models import executions, schedules

#: Real worker processes, brokers or servers: not in the fast loop.
pytestmark = pytest.mark.slow

XSS = "<script>alert('x')</script>"


@pytest.fixture
def dashboard(external_app: Callable[..., ExternalApp], new_database) -> Dashboard:
    require("redis")
    external = external_app(REDIS_BROKER, new_database("sqlite"))
    external.start_worker("pages-worker", pool="threads", concurrency=2)
    return Dashboard(external)


def status_of(dashboard: Dashboard, task_id: str) -> str | None:
    row = dashboard.external.ops.store.execution(task_id)
    return row.status if row else None


class TestHome:
    def test_home_shows_each_queue_backlog_and_the_workers(self, dashboard: Dashboard) -> None:
        app = dashboard.external.app
        waiting = f"nobody-consumes-{uuid.uuid4().hex[:6]}"
        app.conf.task_queues = [Queue(waiting)]
        for _ in range(3):
            app.send_task("extapp.add", args=[1, 1], queue=waiting)
        wait_for(
            lambda: any(w.status == "online" for w in dashboard.external.ops.store.workers()),
            30,
            "the worker's first heartbeat",
        )
        page = dashboard.signed_in("viewer").get("/").text
        queues = page[page.index('id="queues"') : page.index('id="workers"')]
        assert re.search(rf">{waiting}</a></td>\s*<td[^>]*>3</td>", queues), queues
        default = dashboard.external.env["QUEUE"]
        # Redis keeps no key for an empty queue, and no count of its consumers.
        assert re.search(rf">{default}</a></td>\s*<td[^>]*>0</td>", queues), queues
        workers = page[page.index('id="workers"') : page.index('id="recent-failures"')]
        assert re.search(r">pages-worker@\w+</a></td>\s*<td>online</td>", workers), workers


class TestExecutions:
    def test_the_list_filters_and_the_detail_page_shows_everything(
        self, dashboard: Dashboard
    ) -> None:
        module = dashboard.external.module
        ok = module.echo.delay("héllo", n=1)
        failed = module.always_fails.delay("missing-key")
        wait_for(lambda: status_of(dashboard, failed.id) == "FAILURE", 30, "the failure")
        wait_for(lambda: status_of(dashboard, ok.id) == "SUCCESS", 30, "the success")
        client = dashboard.signed_in("viewer")

        listed = client.get("/executions/?status=FAILURE").text
        assert failed.id in listed and ok.id not in listed
        by_task = client.get("/executions/?task=extapp.echo").text
        assert ok.id in by_task and failed.id not in by_task

        detail = client.get(f"/executions/view/{failed.id}").text
        assert "KeyError" in detail and "Traceback" in detail and "missing-key" in detail
        assert detail.count('id="timeline"') == 1 and "retried" in detail
        success = client.get(f"/executions/view/{ok.id}").text
        assert "&#34;héllo&#34;" in success or '"héllo"' in success

    def test_a_task_id_typed_in_the_search_box_opens_it(self, dashboard: Dashboard) -> None:
        result = dashboard.external.module.add.delay(1, 2)
        wait_for(lambda: status_of(dashboard, result.id) == "SUCCESS", 30, "the task")
        client = dashboard.signed_in("viewer")
        found = client.get(f"/executions/?q={result.id}")
        assert found.status_code == 302 and result.id in found.headers["Location"]

    def test_an_operator_retries_one_failure_and_lands_on_the_new_execution(
        self, dashboard: Dashboard
    ) -> None:
        failed = dashboard.external.module.always_fails.delay("k")
        wait_for(lambda: status_of(dashboard, failed.id) == "FAILURE", 30, "the failure")
        client = dashboard.signed_in("operator")
        page = f"/executions/view/{failed.id}"
        response = post_form(
            client,
            "/executions/action",
            {"action": "retry", "scope": "selected", "ids": failed.id},
            page,
        )
        new_id = response.headers["Location"].rsplit("/", 1)[-1]
        assert new_id != failed.id
        wait_for(lambda: status_of(dashboard, new_id) == "FAILURE", 30, "the retry")
        assert dashboard.external.ops.store.execution(new_id).retried_from == failed.id
        assert failed.id in client.get(f"/executions/view/{new_id}").text
        entry = dashboard.audit()[0]
        assert (entry.actor, entry.action, entry.outcome) == ("operator", "retry", "ok")

    def test_purge_asks_for_confirmation_and_says_how_many(self, dashboard: Dashboard) -> None:
        results = [dashboard.external.module.add.delay(i, i) for i in range(3)]
        for result in results:
            wait_for(lambda r=result: status_of(dashboard, r.id) == "SUCCESS", 30, "the task")
        client = dashboard.signed_in("operator")
        form = {"action": "purge", "scope": "matching", "task": "extapp.add"}
        asked = post_form(client, "/executions/action", form, "/executions/")
        assert asked.status_code == 200
        assert re.search(r"deletes the records and timelines of <strong>3</strong>", asked.text)
        assert "Delete 3 execution(s)?" in asked.text
        assert dashboard.external.ops.store.execution(results[0].id) is not None
        done = client.post(
            "/executions/action",
            data={**form, "confirm": "yes", "csrf_token": csrf_token(asked.text)},
        )
        assert done.status_code == 302
        assert all(dashboard.external.ops.store.execution(r.id) is None for r in results)

    def test_a_viewer_sees_no_actions_and_is_refused_them(self, dashboard: Dashboard) -> None:
        failed = dashboard.external.module.always_fails.delay("k")
        wait_for(lambda: status_of(dashboard, failed.id) == "FAILURE", 30, "the failure")
        client = dashboard.signed_in("viewer")
        page = client.get(f"/executions/view/{failed.id}").text
        assert 'value="retry"' not in page
        refused = post_form(
            client, "/executions/action", {"action": "retry", "scope": "selected",
                                            "ids": failed.id}
        )  # fmt: skip
        assert refused.status_code == 403
        assert dashboard.audit()[0].outcome == "denied"

    def test_a_form_post_without_its_csrf_token_is_refused(self, dashboard: Dashboard) -> None:
        client = dashboard.signed_in("operator")
        forged = client.post("/executions/action", data={"action": "purge", "scope": "matching"})
        assert forged.status_code == 400


class TestFailures:
    def test_failures_are_grouped_and_a_group_is_retried_at_once(
        self, dashboard: Dashboard
    ) -> None:
        failures = [dashboard.external.module.always_fails.delay(f"k{i}") for i in range(2)]
        for result in failures:
            wait_for(lambda r=result: status_of(dashboard, r.id) == "FAILURE", 30, "failure")
        client = dashboard.signed_in("operator")
        page = client.get("/failures/").text
        assert "extapp.always_fails" in page and "KeyError" in page
        assert re.search(r'<td class="text-right">2</td>', page)
        post_form(
            client,
            "/failures/retry",
            {"task_name": "extapp.always_fails", "error_type": "KeyError", "window": "1d"},
            "/failures/",
        )
        store = dashboard.external.ops.store
        for result in failures:
            wait_for(
                lambda r=result: store.executions(ExecutionFilter(retried_from=r.id)),
                30,
                "the group's retries",
            )


class TestTasks:
    def test_each_registered_task_shows_its_defaults_and_its_counts_of_the_day(
        self, dashboard: Dashboard
    ) -> None:
        module = dashboard.external.module
        sent = [module.add.delay(1, 2), module.add.delay(3, 4), module.always_fails.delay("k")]
        for result in sent:
            wait_for(
                lambda r=result: status_of(dashboard, r.id) in ("SUCCESS", "FAILURE"), 30, "runs"
            )
        page = dashboard.signed_in("viewer").get("/tasks/").text
        assert re.search(r">extapp\.add</a>.*?<td class=\"text-right\">2 / 0</td>", page, re.S)
        assert re.search(
            r">extapp\.always_fails</a>.*?<td class=\"text-right\">0 / 1</td>", page, re.S
        )


class TestSchedules:
    def test_create_with_a_preview_then_edit_disable_run_and_delete(
        self, dashboard: Dashboard
    ) -> None:
        client = dashboard.signed_in("operator")
        form = {
            "name": "nightly", "task": "extapp.add", "kind": "cron",
            "cron_expression": "30 2 * * *", "timezone": "Europe/Rome", "args": "[1, 2]",
            "kwargs": "{}", "options": "{}", "misfire": "once", "enabled": "y",
        }  # fmt: skip
        preview = post_form(client, "/schedules/new", {**form, "preview": "1"}, "/schedules/new")
        times = re.findall(r"<li>([^<]+)</li>", preview.text)
        assert len(times) == 5 and all(t.endswith(("CET", "CEST")) for t in times)
        assert "02:30:00" in times[0] or "03:30:00" in times[0]
        assert dashboard.external.ops.schedules.exists("nightly") is False

        bad = post_form(
            client, "/schedules/new", {**form, "cron_expression": "61 * * * *"}, "/schedules/new"
        )
        assert "invalid cron expression" in bad.text
        assert not dashboard.external.ops.schedules.exists("nightly")

        saved = post_form(client, "/schedules/new", form, "/schedules/new")
        assert saved.headers["Location"].endswith("/schedules/view/nightly")
        edit_page = "/schedules/edit/nightly"
        post_form(client, edit_page, {**form, "kind": "interval", "interval_seconds": "3600"},
                  edit_page)  # fmt: skip
        assert dashboard.external.ops.schedules.get("nightly").interval_seconds == 3600

        view = "/schedules/view/nightly"
        post_form(client, "/schedules/nightly/disable", {}, view)
        assert not dashboard.external.ops.schedules.get("nightly").enabled
        ran = post_form(client, "/schedules/nightly/run", {}, view)
        assert ran.status_code == 302
        wait_for(lambda: "SUCCESS" in client.get(view).text, 30, "the run's outcome on the page")
        post_form(client, "/schedules/nightly/delete", {}, view)
        assert not dashboard.external.ops.schedules.exists("nightly")
        actions = [entry.action for entry in dashboard.audit()[:5]]
        assert {"schedule-delete", "schedule-run", "schedule-disable"} <= set(actions)


class TestUntrustedDataOnEveryPage:
    def test_html_in_stored_values_is_shown_as_text(self, dashboard: Dashboard) -> None:
        task_id = str(uuid.uuid4())
        with dashboard.external.ops.store.engine.begin() as connection:
            connection.execute(
                insert(executions),
                {
                    "task_id": task_id, "task_name": XSS, "status": "FAILURE",
                    "status_at": datetime.now(timezone.utc), "error_type": XSS,
                    "error_message": XSS, "exception_trace": XSS, "result": XSS,
                    "args": XSS, "kwargs": XSS, "queue": XSS, "progress": 15, "attempts": 1,
                },
            )  # fmt: skip
            connection.execute(
                insert(schedules),
                {"name": XSS, "task": XSS, "kind": "cron", "cron_expression": XSS,
                 "last_error": XSS, "description": XSS},
            )  # fmt: skip
        client = dashboard.signed_in("admin")
        for path in ["/", "/executions/", f"/executions/view/{task_id}", "/failures/",
                     "/schedules/", "/audit/"]:  # fmt: skip
            page = client.get(path)
            assert page.status_code == 200, path
            assert XSS not in page.text, path
        assert "&lt;script&gt;" in client.get(f"/executions/view/{task_id}").text
