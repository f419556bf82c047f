"""Cluster-wide limits with real workers (three, prefork -c 4, Redis): a rate holds across
every worker, measured on the recorded start times; a concurrency limit holds on the recorded
run intervals; a task held back is not lost and not counted as a retry; a live edit is
followed within seconds."""

from __future__ import annotations

import bisect
import json
import time
from collections.abc import Callable

import pytest
from helpers.dashboard_client import Dashboard
from helpers.services import REDIS_BROKER, require
from helpers.waiting import wait_for
from integration.conftest import ExternalApp

from celery_ops.core.records import Execution

pytestmark = pytest.mark.slow


def start(
    external_app: Callable[..., ExternalApp], new_database, backend: str = "postgresql", **env: str
) -> ExternalApp:
    require("redis")
    external = external_app(REDIS_BROKER, new_database(backend), **env)
    external.start_workers([f"limited-{n}" for n in range(3)], pool="prefork", concurrency=4)
    return external


def ended(external: ExternalApp, ids: list[str], timeout: float) -> list[Execution]:
    def all_succeeded() -> bool:
        return all(
            (row := external.ops.store.execution(task_id)) is not None and row.status == "SUCCESS"
            for task_id in ids
        )

    wait_for(all_succeeded, timeout, f"{len(ids)} limited tasks to succeed")
    rows = [external.ops.store.execution(task_id) for task_id in ids]
    return [row for row in rows if row is not None]


def most_in_any_window(times: list[float], width: float) -> int:
    """The most of ``times`` in any half-open window [t, t + width)."""
    ordered = sorted(times)
    return max(bisect.bisect_left(ordered, t + width) - i for i, t in enumerate(ordered))


def most_at_once(rows: list[Execution]) -> int:
    edges = []
    for row in rows:
        assert row.started_at is not None and row.completed_at is not None
        edges += [(row.started_at.timestamp(), 1), (row.completed_at.timestamp(), -1)]
    running = peak = 0
    for _, change in sorted(edges, key=lambda edge: (edge[0], edge[1])):
        running += change
        peak = max(peak, running)
    return peak


def test_a_rate_of_five_a_second_holds_across_three_workers(
    external_app: Callable[..., ExternalApp], new_database
) -> None:
    limits = json.dumps({"extapp.limited_tick": "5/s"})
    external = start(external_app, new_database, OPS_RATE_LIMITS=limits)
    ids = [external.module.limited_tick.delay(n).id for n in range(100)]
    rows = ended(external, ids, 120)
    starts = [row.started_at.timestamp() for row in rows if row.started_at]
    assert len(starts) == 100
    assert most_in_any_window(starts, 1.0) <= 5
    assert {row.attempts for row in rows} == {1}  # held back is not a retry
    held = [e for e in external.ops.store.timeline(ids[-1]) if e.event == "throttled"]
    throttled = sum(
        1 for task_id in ids for e in external.ops.store.timeline(task_id) if e.event == "throttled"
    )
    assert throttled > 0, held
    reason = next(
        e.details
        for task_id in ids
        for e in external.ops.store.timeline(task_id)
        if e.event == "throttled"
    )
    assert "rate limit 5 per 1s" in str(reason)


def test_two_at_once_across_three_workers(
    external_app: Callable[..., ExternalApp], new_database
) -> None:
    limits = json.dumps({"extapp.limited_slow": 2})
    external = start(external_app, new_database, OPS_CONCURRENCY_LIMITS=limits)
    ids = [external.module.limited_slow.delay(n, 0.4).id for n in range(12)]
    rows = ended(external, ids, 90)
    assert most_at_once(rows) <= 2
    assert {row.attempts for row in rows} == {1}
    assert external.ops.store.limits.running("extapp.limited_slow") == 0  # slots given back


def test_a_limit_per_key_and_a_live_edit_from_the_api(
    external_app: Callable[..., ExternalApp], new_database
) -> None:
    external = start(external_app, new_database)
    web = Dashboard(external)
    answer = web.api(
        "PUT",
        "/api/limits/extapp.limited_slow",
        json={"concurrency": 1, "key": ["tenant_id"]},
    )
    assert answer.status_code == 200, answer.json
    assert answer.json["concurrency"] == 1 and answer.json["concurrency_key"] == ["tenant_id"]
    time.sleep(3)  # workers read the limits every 2 s
    task = external.module.limited_slow
    ids = {
        tenant: [task.delay(n, 0.3, tenant_id=tenant).id for n in range(5)]
        for tenant in ("acme", "globex")
    }
    rows = {tenant: ended(external, found, 90) for tenant, found in ids.items()}
    assert most_at_once(rows["acme"]) == 1 and most_at_once(rows["globex"]) == 1
    assert most_at_once(rows["acme"] + rows["globex"]) == 2  # one per tenant, at once
    listed = web.api("GET", "/api/limits", role="viewer").json["items"]
    assert [item["task"] for item in listed] == ["extapp.limited_slow"]
    assert web.api("DELETE", "/api/limits/extapp.limited_slow").status_code == 204
    edits = [e.action for e in web.audit() if e.action.startswith("limit-")]
    assert edits == ["limit-delete", "limit-set"]
