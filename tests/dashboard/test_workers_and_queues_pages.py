"""The workers and queues pages and API on the in-memory broker: names with any characters
reach every route, pages render for each role, and actions are for operators only."""

from __future__ import annotations

from datetime import datetime, timezone
from urllib.parse import quote

import pytest
from helpers.dashboard_client import Dashboard, post_form
from helpers.door_app import DoorApp

from celery_ops.store import RecordBatch, WorkerState

ODD_NAMES = ["reports/daily batch", "ünïcödé", "a%2Fb", "with?query#hash", "dots.and-dashes"]


@pytest.mark.parametrize("name", ODD_NAMES)
def test_a_queue_name_reaches_every_route_whatever_it_holds(web: Dashboard, name: str) -> None:
    path = quote(name, safe="/")
    paused = web.api("POST", f"/api/queues/{path}/pause")
    assert paused.status_code == 200, paused.json
    assert (paused.json["queue"], paused.json["paused"]) == (name, True)
    shown = web.api("GET", f"/api/queues/{path}/stats", role="viewer")
    assert shown.status_code == 200, shown.json
    assert (shown.json["name"], shown.json["paused_by"]) == (name, "operator")
    listed = web.api("GET", "/api/queues", role="viewer").json["items"]
    assert name in [queue["name"] for queue in listed]
    page = web.signed_in("viewer").get(f"/queues/view/{path}")
    assert page.status_code == 200 and "paused" in page.text
    resumed = web.api("POST", f"/api/queues/{path}/resume")
    assert resumed.status_code == 200 and resumed.json["paused"] is False


@pytest.mark.parametrize("hostname", ["celery@host", "w/with/slashes@h", "spaced name@h"])
def test_a_worker_name_reaches_every_route_whatever_it_holds(
    web: Dashboard, door_app: DoorApp, hostname: str
) -> None:
    now = datetime.now(timezone.utc)
    door_app.ops.store.write(RecordBatch(workers=[WorkerState(hostname, now, False, {})]))
    path = quote(hostname, safe="/@")
    shown = web.api("GET", f"/api/workers/{path}", role="viewer")
    assert shown.status_code == 200 and shown.json["hostname"] == hostname
    assert web.signed_in("viewer").get(f"/workers/view/{path}").status_code == 200
    refused = web.api("POST", f"/api/workers/{path}/pool", json={"grow": 1})
    assert refused.status_code == 404 and "no online worker" in refused.json["detail"]
    assert web.api("DELETE", f"/api/workers/{path}").status_code == 204
    assert web.api("GET", f"/api/workers/{path}", role="viewer").status_code == 404


def test_the_pages_render_and_offer_actions_to_operators_only(
    web: Dashboard, door_app: DoorApp
) -> None:
    now = datetime.now(timezone.utc)
    door_app.ops.store.write(RecordBatch(workers=[WorkerState("gone@host", now, False, {})]))
    for role, sees_actions in (("viewer", False), ("operator", True)):
        client = web.signed_in(role)
        queues = client.get("/queues/")
        assert queues.status_code == 200 and door_app.queue in queues.text
        assert (f"pause-{door_app.queue}" in queues.text) is sees_actions
        workers = client.get("/workers/")
        assert workers.status_code == 200 and "gone@host" in workers.text
        worker = client.get("/workers/view/gone@host")
        assert ("Forget this worker" in worker.text) is sees_actions
    viewer = web.signed_in("viewer")
    forged = post_form(viewer, "/queues/action", {"action": "pause", "queue": door_app.queue})
    assert forged.status_code == 403
    assert door_app.ops.paused_queues() == set()


def test_a_purge_from_the_page_asks_first_with_the_depth(web: Dashboard, door_app: DoorApp) -> None:
    for i in range(3):
        door_app.app.send_task("door.add", (i, i))
    operator = web.signed_in("operator")
    asked = post_form(operator, "/queues/action", {"action": "purge", "queue": door_app.queue})
    assert asked.status_code == 200 and "Purge 3 message(s)" in asked.text
    assert door_app.queued() == 3
    done = post_form(
        operator,
        "/queues/action",
        {"action": "purge", "queue": door_app.queue, "confirm": "yes"},
    )
    assert done.status_code == 302 and door_app.queued() == 0
