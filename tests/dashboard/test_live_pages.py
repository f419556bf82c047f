"""Pages that keep themselves up to date: each live block answers 204 while nothing it shows
changed, and itself when something did; a form's fresh CSRF token is not a change."""

from __future__ import annotations

import re
import time
from datetime import datetime, timezone

import pytest
from helpers.dashboard_client import Dashboard
from helpers.door_app import DoorApp

from celery_ops.store import RecordBatch, WorkerState


def live_blocks(html: str) -> dict[str, str]:
    """Each live block's URL, with the version the page was drawn at."""
    found = re.findall(r'data-live="([^"]+)" data-version="([^"]+)"', html)
    return {url.replace("&amp;", "&"): version for url, version in found}


@pytest.mark.parametrize(
    ("path", "blocks"),
    [("/", 1), ("/workers/", 1), ("/queues/", 1)],
)
def test_an_unchanged_page_answers_nothing(web: Dashboard, path: str, blocks: int) -> None:
    client = web.signed_in("operator")  # operators' pages hold forms, with CSRF tokens
    found = live_blocks(client.get(path).text)
    assert len(found) == blocks
    for url, version in found.items():
        assert client.get(f"{url}&version={version}").status_code == 204, url


def test_a_worker_that_appears_is_shown_without_a_reload(web: Dashboard, door_app: DoorApp) -> None:
    client = web.signed_in("viewer")
    [(url, version)] = live_blocks(client.get("/workers/").text).items()
    now = datetime.now(timezone.utc)
    door_app.ops.store.write(
        RecordBatch(workers=[WorkerState("fresh@host", now, True, {"pool": "prefork"})])
    )
    changed = client.get(f"{url}&version={version}")
    assert changed.status_code == 200 and "fresh@host" in changed.json["html"]
    again = client.get(f"{url}&version={changed.json['version']}")
    assert again.status_code == 204


def test_home_shows_a_new_failure_without_a_reload(web: Dashboard, door_app: DoorApp) -> None:
    client = web.signed_in("viewer")
    blocks = live_blocks(client.get("/").text)
    [(url, version)] = [(u, v) for u, v in blocks.items() if u.endswith("live_home")]
    [task_id] = door_app.seed(1, status="FAILURE", at=time.time())
    changed = client.get(f"{url}&version={version}")
    assert changed.status_code == 200
    assert f'href="/executions/view/{task_id}"' in changed.json["html"]  # a link, not text


def test_a_block_that_is_not_live_is_not_rendered(web: Dashboard) -> None:
    assert web.signed_in("viewer").get("/?live=body&version=x").status_code == 204
