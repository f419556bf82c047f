"""The dead set on the dashboard: counted on Home, listed with its own heading, discarded
through the API."""

from __future__ import annotations

from helpers.dashboard_client import Dashboard
from helpers.door_app import DoorApp


class TestOnTheDashboard:
    def test_home_counts_it_and_the_list_shows_it(self, web: Dashboard, door_app: DoorApp) -> None:
        door_app.seed(3)
        client = web.signed_in("viewer")
        home = client.get("/").text
        assert 'id="dead-count"' in home and ">3<" in home.split('id="dead-count"')[1][:400]
        listing = client.get("/executions/?dead=1").text
        assert "Dead set" in listing

    def test_the_api_discards_and_lists(self, web: Dashboard, door_app: DoorApp) -> None:
        failed = door_app.seed(2)
        listed = web.api("GET", "/api/tasks?dead=true", role="viewer").json
        assert {row["task_id"] for row in listed["items"]} == set(failed)
        answer = web.api("POST", "/api/tasks/discard", json={"task_ids": failed})
        assert answer.status_code == 200 and answer.json["discarded"] == 2
        assert web.api("GET", "/api/tasks?dead=true", role="viewer").json["items"] == []
