"""One execution's page: every value in words and units, the timeline as a waterfall, the
workflow it belongs to as a tree, progress, and live updates that cost little."""

from __future__ import annotations

import re

from helpers.dashboard_client import Dashboard
from helpers.door_app import DoorApp

from celery_ops.recording.events import ExecutionEvent
from celery_ops.recording.folding import fold_events
from celery_ops.recording.payload import Arguments
from celery_ops.recording.progress import progress_values
from celery_ops.store import Store

T0 = 1_764_900_000.0  # 2025-12-05 02:00:00 UTC


def write(store: Store, *events: ExecutionEvent) -> None:
    store.write(fold_events(events, 65_536, True))


def event(
    task_id: str, name: str, status: str | None, at: float, attempt: int = 1, **values: object
) -> ExecutionEvent:
    return ExecutionEvent(task_id, name, at, status, attempt, values=dict(values), worker="w@h")


def retried_twice(store: Store, task_id: str = "t-retried") -> None:
    published = event(
        task_id, "published", "PENDING", T0, task_name="app.flaky", queue="celery", published_at=T0
    )
    published.arguments = Arguments((1, 2.123456789), {"token": "x"})
    write(store, published)
    for attempt, start in ((1, T0 + 0.5), (2, T0 + 3.0), (3, T0 + 8.0)):
        write(
            store,
            event(
                task_id,
                "started",
                "STARTED",
                start,
                attempt,
                started_at=start,
                worker_id="w@h",
                pid=4242,
                attempts=1,
                wait_time_ms=1.9540786743164062,
            ),
        )
        if attempt < 3:
            retried = event(
                task_id,
                "retried",
                "RETRY",
                start + 1.0,
                attempt,
                error_type="KeyError",
                error_message="'k'",
            )
            retried.details = {"error": "KeyError", "when": None}
            write(store, retried)
    write(
        store,
        event(
            task_id,
            "succeeded",
            "SUCCESS",
            T0 + 9.25,
            3,
            completed_at=T0 + 9.25,
            execution_time_ms=1250.123456,
            memory_usage_mb=0.0117,
        ),
    )


class TestValuesInWords:
    def test_no_column_names_no_long_floats_one_time_format(
        self, web: Dashboard, door_app: DoorApp
    ) -> None:
        retried_twice(door_app.ops.store)
        page = web.signed_in("viewer").get("/executions/view/t-retried")
        assert page.status_code == 200
        html = page.text
        body = html[html.index('id="live-execution"') :]
        text = re.sub(r"<[^>]+>", " ", body)
        for column in (
            "worker_id",
            "wait_time_ms",
            "execution_time_ms",
            "memory_usage_mb",
            "published_at",
            "started_at",
            "completed_at",
            "status_at",
        ):
            assert column not in text, column
        for words in (
            "Worker",
            "Waited in the queue",
            "Ran for",
            "Memory grown by",
            "Published",
            "Completed",
            "Attempts",
        ):
            assert f">{words}<" in body, words
        assert "1.95 ms" in body and "1.25 s" in body and "12 KiB" in body
        # No float printed with more than 3 decimals, outside arguments and results as recorded.
        shown = re.sub(r"<pre[^>]*>.*?</pre>", " ", body, flags=re.S)
        shown = re.sub(r'(style|datetime|title|data-version)="[^"]*"', " ", shown)
        assert not re.findall(r"\d+\.\d{4,}", re.sub(r"<[^>]+>", " ", shown))
        # Every time is a <time> element in one format: no other date shapes in the text.
        times = re.findall(r'<time datetime="([^"]+)" title="([^"]+)">([^<]+)</time>', body)
        assert times and all(
            re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", t[2]) for t in times
        )
        outside_times = re.sub(r"<time[^>]*>[^<]*</time>", " ", shown)
        assert not re.search(
            r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d", re.sub(r"<[^>]+>", " ", outside_times)
        )
        # Timeline details read as words, not JSON.
        assert '{"attempt"' not in body and "error KeyError" in body

    def test_a_task_that_retried_itself_is_not_its_own_parent(
        self, web: Dashboard, door_app: DoorApp
    ) -> None:
        write(
            door_app.ops.store,
            event(
                "self",
                "published",
                "PENDING",
                T0,
                task_name="a.b",
                parent_id="self",
                root_id="self",
            ),
        )
        page = web.signed_in("viewer").get("/executions/view/self").text
        assert ">Parent<" not in page and ">Root of the workflow<" not in page
        assert 'id="workflow"' not in page


class TestTheWaterfall:
    def test_a_task_that_retried_twice_shows_three_attempts_of_waiting_and_running(
        self, web: Dashboard, door_app: DoorApp
    ) -> None:
        retried_twice(door_app.ops.store)
        html = web.signed_in("viewer").get("/executions/view/t-retried").text
        waterfall = html[html.index('id="waterfall"') : html.index('id="timeline"')]
        assert [int(n) for n in re.findall(r"Attempt (\d)", waterfall)] == [1, 2, 3]
        bars = re.findall(r'class="ops-wf-bar ([^"]+)"', waterfall)
        kinds = [bar.split()[0] for bar in bars]
        assert kinds == [
            "ops-wf-waiting",
            "ops-wf-running",
            "ops-wf-retry-gap",
            "ops-wf-running",
            "ops-wf-retry-gap",
            "ops-wf-running",
        ]
        assert bars[1].split()[1:] == ["ops-wf-retried"] and bars[-1].split()[1:] == [
            "ops-wf-succeeded"
        ]
        # Placed on one axis of 9.25 s: the last run starts at 8 s and lasts 1.25 s.
        last = re.findall(r'style="left: ([\d.]+)%; width: ([\d.]+)%"', waterfall)[-1]
        assert abs(float(last[0]) - 8 / 9.25 * 100) < 0.01
        assert abs(float(last[1]) - 1.25 / 9.25 * 100) < 0.01


class TestTheWorkflow:
    def test_a_chord_with_a_failed_member_is_drawn_as_a_tree(
        self, web: Dashboard, door_app: DoorApp
    ) -> None:
        store = door_app.ops.store
        # A task that sent a chord: three members in one group, the callback sent by the last.
        write(store, event("root", "started", "STARTED", T0, task_name="app.start", root_id="root"))
        for n, status in ((1, "SUCCESS"), (2, "FAILURE"), (3, "SUCCESS")):
            write(
                store,
                event(
                    f"m{n}",
                    "published",
                    "PENDING",
                    T0 + n,
                    task_name="app.part",
                    parent_id="root",
                    root_id="root",
                    group_id="g1",
                ),
            )
            write(store, event(f"m{n}", "ended", status, T0 + n + 0.5))
        write(
            store,
            event(
                "cb",
                "published",
                "PENDING",
                T0 + 5,
                task_name="app.join",
                parent_id="m3",
                root_id="root",
            ),
        )
        html = web.signed_in("viewer").get("/executions/view/m2").text
        tree = html[html.index('id="workflow"') :]
        assert tree.index("app.start") < tree.index("app.part") < tree.index("app.join")
        for task_id in ("root", "m1", "m2", "m3", "cb"):
            assert f'href="/executions/view/{task_id}"' in tree
        assert 'class="ops-tree-here" aria-current="true"' in tree
        assert "5 executions" in html and "1 failure" in html
        # The callback sits under the member that sent it.
        m3 = tree.index('/executions/view/m3"')
        assert tree.index('/executions/view/cb"') > m3

    def test_an_open_page_keeps_its_tree_through_its_updates(
        self, web: Dashboard, door_app: DoorApp
    ) -> None:
        store = door_app.ops.store
        write(store, event("root", "ended", "SUCCESS", T0, task_name="app.start", root_id="root"))
        write(store, event("kid", "ended", "SUCCESS", T0 + 1, task_name="app.kid",
                           parent_id="root", root_id="root"))  # fmt: skip
        client = web.signed_in("viewer")
        page = client.get("/executions/view/kid").text
        live = re.search(r'data-live="([^"]+)" data-version="([^"]+)"', page)
        url, version = live.group(1).replace("&amp;", "&"), live.group(2)
        assert "workflow=0" in url  # everything ended: the polls do not read the tree
        assert client.get(f"{url}&version={version}").status_code == 204
        retried = event("kid", "retried-later", "SUCCESS", T0 + 5, 2, completed_at=T0 + 5)
        write(store, retried)
        changed = client.get(f"{url}&version={version}").json
        assert 'id="workflow"' in changed["html"] and "app.start" in changed["html"]


class TestProgress:
    def test_a_reported_progress_is_a_bar_with_its_count_and_note(
        self, web: Dashboard, door_app: DoorApp
    ) -> None:
        store = door_app.ops.store
        started = event("p", "started", "STARTED", T0, task_name="app.long")
        write(store, started)
        report = ExecutionEvent(
            "p",
            "progress",
            T0 + 1,
            None,
            1,
            on_timeline=False,
            values=progress_values(40, 160, "page 4", T0 + 1),
        )
        write(store, report)
        html = web.signed_in("viewer").get("/executions/view/p").text
        assert 'aria-valuenow="40" aria-valuemax="160"' in html or (
            'aria-valuemax="160" aria-valuenow="40"' in html
        )
        assert "width: 25.0%" in html and "40 of 160 (25 %)" in html and "page 4" in html
        api = web.api("GET", "/api/tasks/p", role="viewer").json
        assert api["progress"] == {
            "current": 40,
            "total": 160,
            "note": "page 4",
            "at": "2025-12-05T02:00:01+00:00",
        }


class TestLiveUpdates:
    def test_an_open_page_learns_of_a_change_and_of_nothing_when_nothing_changed(
        self, web: Dashboard, door_app: DoorApp
    ) -> None:
        store = door_app.ops.store
        write(store, event("l", "published", "PENDING", T0, task_name="app.slow"))
        client = web.signed_in("viewer")
        page = client.get("/executions/view/l").text
        live = re.search(r'data-live="([^"]+)" data-version="([^"]+)"', page)
        assert live
        url, version = live.group(1).replace("&amp;", "&"), live.group(2)
        assert client.get(f"{url}&version={version}").status_code == 204
        write(store, event("l", "started", "STARTED", T0 + 1, started_at=T0 + 1))
        changed = client.get(f"{url}&version={version}")
        assert changed.status_code == 200
        assert changed.json["version"] != version and changed.json["done"] is False
        assert ">STARTED<" in changed.json["html"]
        write(store, event("l", "succeeded", "SUCCESS", T0 + 2, completed_at=T0 + 2))
        done = client.get(f"{url}&version={changed.json['version']}").json
        assert done["done"] is True and ">SUCCESS<" in done["html"]

    def test_a_signed_out_poll_is_sent_to_sign_in(self, web: Dashboard, door_app: DoorApp) -> None:
        write(door_app.ops.store, event("l", "published", "PENDING", T0, task_name="app.slow"))
        assert web.client().get("/executions/view/l/live?version=x").status_code in (302, 401)
