"""The executions list: the columns an operator needs, orders, an honest total, bulk
actions that ask first, live updates that read little, and exports of what a filter matches."""

from __future__ import annotations

import csv
import io
import json
import re
import time

from helpers.dashboard_client import Dashboard, csrf_token, post_form
from helpers.door_app import DoorApp
from helpers.waiting import wait_for

from celery_ops.core.records import JobRecord
from celery_ops.recording.events import ExecutionEvent
from celery_ops.recording.folding import fold_events


def ran(door_app: DoorApp, task_id: str, milliseconds: float, at: float) -> None:
    values = {"execution_time_ms": milliseconds, "wait_time_ms": 12.5, "attempts": 2}
    event = ExecutionEvent(task_id, "succeeded", at, "SUCCESS", 2, values)
    door_app.ops.store.write(fold_events([event], 65_536, True))


def row_ids(html: str) -> list[str]:
    return re.findall(r'<tr data-task-id="([^"]+)"', html)


class TestColumnsAndOrder:
    def test_each_row_shows_arguments_attempts_wait_and_runtime(
        self, web: Dashboard, door_app: DoorApp
    ) -> None:
        [task_id] = door_app.seed(1, status="SUCCESS")
        ran(door_app, task_id, 2345.678, time.time())
        html = web.signed_in("viewer").get("/executions/").text
        row = html[html.index(f'data-task-id="{task_id}"') :]
        row = row[: row.index("</tr>")]
        assert "<code>0, 1</code>" in row  # the arguments, as recorded
        assert ">2<" in row and "12.5 ms" in row and "2.35 s" in row
        assert "1 execution" in html  # the total, exact when small

    def test_slowest_first_and_last_change_first(self, web: Dashboard, door_app: DoorApp) -> None:
        ids = door_app.seed(3, status="SUCCESS")
        now = time.time()
        for task_id, runtime, at in zip(
            ids, (50.0, 900.0, 10.0), (now + 3, now + 1, now + 2), strict=True
        ):
            ran(door_app, task_id, runtime, at)
        client = web.signed_in("viewer")
        assert row_ids(client.get("/executions/?sort=slowest").text) == [ids[1], ids[0], ids[2]]
        assert row_ids(client.get("/executions/?sort=changed").text) == [ids[0], ids[2], ids[1]]
        assert row_ids(client.get("/executions/").text) == list(reversed(ids))
        assert client.get("/executions/?sort=sideways").status_code == 200  # said, not a 500
        assert "This filter cannot be used" in client.get("/executions/?sort=sideways").text

    def test_status_is_a_row_of_toggles_and_the_filter_stays_in_the_url(
        self, web: Dashboard, door_app: DoorApp
    ) -> None:
        door_app.seed(1)
        html = web.signed_in("viewer").get("/executions/?status=FAILURE&task=door.add").text
        assert 'id="f-status-failure" name="status" value="FAILURE" checked' in html
        assert 'id="f-status-success" name="status" value="SUCCESS" >' in html
        live = re.search(r'data-live="([^"]+)"', html).group(1).replace("&amp;", "&")
        assert "status=FAILURE" in live and "task=door.add" in live
        assert 'type="datetime-local"' in html and 'placeholder="2026' not in html


class TestLiveList:
    def test_a_poll_answers_nothing_until_a_shown_row_or_a_new_match_changes(
        self, web: Dashboard, door_app: DoorApp
    ) -> None:
        [first] = door_app.seed(1, status="STARTED", task="door.add")
        client = web.signed_in("viewer")
        html = client.get("/executions/?task=door.add").text
        url = re.search(r'data-live="([^"]+)"', html).group(1).replace("&amp;", "&")
        version = re.search(r'data-live="[^"]+" data-version="([^"]+)"', html).group(1)

        def poll(version: str):
            return client.get(f"{url}&version={version}&ids={first}")

        assert poll(version).status_code == 204
        door_app.seed(1, status="SUCCESS", task="other.task")  # does not match the filter
        assert poll(version).status_code == 204
        ran(door_app, first, 10.0, time.time())  # a shown row changes
        changed = poll(version)
        assert changed.status_code == 200 and ">SUCCESS<" in changed.json["html"]
        version = changed.json["version"]
        assert poll(version).status_code == 204
        [new] = door_app.seed(1, status="PENDING", task="door.add")  # a new match
        added = poll(version)
        assert added.status_code == 200 and new in row_ids(added.json["html"])


class TestBulkActionsAskFirst:
    def test_retrying_everything_matching_says_how_many_then_does_it(
        self, web: Dashboard, door_app: DoorApp
    ) -> None:
        door_app.seed(4, status="FAILURE")
        door_app.seed(2, status="SUCCESS")
        client = web.signed_in("operator")
        form = {"action": "retry", "scope": "matching", "status": "FAILURE"}
        asked = post_form(client, "/executions/action", form, "/executions/")
        assert asked.status_code == 200
        assert "Retry 4 execution(s)?" in asked.text and "<strong>4</strong>" in asked.text
        assert door_app.queued() == 0  # nothing sent yet
        assert not [e for e in door_app.audit() if e.action == "retry-many"]
        done = client.post(
            "/executions/action",
            data={**form, "confirm": "yes", "csrf_token": csrf_token(asked.text)},
        )
        assert done.status_code == 302
        wait_for(lambda: door_app.queued() == 4, 10, "four retries sent")

    def test_acting_on_selected_rows_does_not_ask(self, web: Dashboard, door_app: DoorApp) -> None:
        ids = door_app.seed(2, status="FAILURE")
        client = web.signed_in("operator")
        done = post_form(
            client, "/executions/action", {"action": "retry", "scope": "selected", "ids": ids}
        )
        assert done.status_code == 302
        wait_for(lambda: door_app.queued() == 2, 10, "two retries sent")


def exported(web: Dashboard, body: dict, role: str = "viewer") -> str:
    started = web.api("POST", "/api/exports", role=role, json=body)
    assert started.status_code == 202, started.json
    export_id = started.json["id"]
    status = wait_for(
        lambda: (
            (s := web.api("GET", f"/api/exports/{export_id}", role=role).json)["status"]
            in ("done", "failed")
            and s
        ),
        30,
        "the export",
    )
    assert status["status"] == "done" and status["done"] == status["total"], status
    download = web.api("GET", f"/api/exports/{export_id}/download", role=role)
    assert download.status_code == 200
    return download.get_data(as_text=True)


class TestExports:
    def test_a_filter_exported_as_csv_and_as_json_lines(
        self, web: Dashboard, door_app: DoorApp
    ) -> None:
        failed = door_app.seed(3, status="FAILURE")
        door_app.seed(2, status="SUCCESS")
        text = exported(web, {"filter": {"status": "FAILURE"}, "format": "csv"})
        rows = list(csv.DictReader(io.StringIO(text)))
        assert sorted(row["task_id"] for row in rows) == sorted(failed)
        assert {row["status"] for row in rows} == {"FAILURE"} and rows[0]["args"] in (
            "[0, 1]",
            "[1, 1]",
            "[2, 1]",
        )
        assert "message_args" not in rows[0]  # never shown, never exported
        lines = exported(web, {"filter": {"status": ["FAILURE"]}, "format": "jsonl"}).splitlines()
        records = [json.loads(line) for line in lines]
        assert sorted(r["task_id"] for r in records) == sorted(failed)
        assert records[0]["progress"] is None and records[0]["status_at"].endswith("+00:00")
        [entry] = [e for e in door_app.audit() if e.action == "export" and e.outcome == "ok"][:1]
        assert entry.targets["statuses"] == ["FAILURE"] and entry.targets["exported"] == 3

    def test_a_cell_a_spreadsheet_would_run_as_a_formula_is_quoted(
        self, web: Dashboard, door_app: DoorApp
    ) -> None:
        door_app.seed(1, status="FAILURE", error_message='=HYPERLINK("http://evil")')
        text = exported(web, {"filter": {}, "format": "csv"})
        [row] = list(csv.DictReader(io.StringIO(text)))
        assert row["error_message"] == '\'=HYPERLINK("http://evil")'

    def test_bad_requests_are_refused_and_nothing_is_started(self, web: Dashboard) -> None:
        for body, said in (
            ({"format": "xlsx"}, "format must be one of csv, jsonl"),
            ({"filter": {"colour": "red"}}, "unknown filter colour"),
            ({"filter": "status=FAILURE"}, "filter must be an object"),
            ({"everything": True}, "unknown field everything"),
        ):
            refused = web.api("POST", "/api/exports", role="viewer", json=body)
            assert refused.status_code == 422 and said in refused.json["detail"], refused.json
        assert web.api("POST", "/api/exports", role=None, json={}).status_code == 401
        assert web.api("GET", "/api/exports/nope", role="viewer").status_code == 404

    def test_a_download_before_the_end_is_a_conflict(
        self, web: Dashboard, door_app: DoorApp
    ) -> None:
        now = door_app.ops.clock.now()
        running = JobRecord("e" * 32, "export", "viewer", "running", created_at=now, updated_at=now)
        door_app.ops.store.jobs.create(running)
        refused = web.api("GET", f"/api/exports/{running.id}/download", role="viewer")
        assert refused.status_code == 409 and "once it is done" in refused.json["detail"]
        assert web.api("GET", f"/api/exports/{running.id}", role="viewer").json == {
            "id": running.id,
            "status": "running",
            "done": 0,
            "total": None,
        }

    def test_the_list_page_exports_and_its_job_page_offers_the_file(
        self, web: Dashboard, door_app: DoorApp
    ) -> None:
        door_app.seed(2, status="FAILURE")
        client = web.signed_in("viewer")
        started = post_form(
            client, "/executions/export", {"status": "FAILURE", "format": "jsonl"}, "/executions/"
        )
        assert started.status_code == 302 and "/jobs/" in started.location
        page = wait_for(
            lambda: 'id="download"' in (p := client.get(started.location).text) and p, 30, "done"
        )
        link = re.search(r'id="download" href="([^"]+)"', page).group(1)
        assert len(client.get(link).get_data(as_text=True).splitlines()) == 2
