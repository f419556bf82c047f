"""GET /api/metrics: series of counts, rates and percentiles from the rollups, by task,
queue, period and step; bad parameters get a 422 that says what is wrong."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from helpers.dashboard_client import Dashboard
from helpers.door_app import DoorApp

#: A whole minute, so each seeded batch falls in one step.
NOON = datetime(2026, 12, 4, 12, 0, tzinfo=timezone.utc)


def seeded(door_app: DoorApp) -> None:
    at = NOON.timestamp()
    door_app.seed(3, "SUCCESS", at=at + 5, execution_time_ms=100.0)
    door_app.seed(1, "FAILURE", at=at + 65, execution_time_ms=2000.0)
    door_app.seed(2, "SUCCESS", task="door.other", at=at + 3605, execution_time_ms=10.0)


def test_a_series_by_minute_counts_each_final_state_where_it_happened(
    web: Dashboard, door_app: DoorApp
) -> None:
    seeded(door_app)
    answer = web.api(
        "GET",
        "/api/metrics",
        role="viewer",
        query_string={"since": NOON.isoformat(), "until": "2026-12-04T12:03:00Z", "step": "1m"},
    )
    assert answer.status_code == 200, answer.json
    series = answer.json["series"]
    assert [point["at"] for point in series] == [
        (NOON + timedelta(minutes=n)).isoformat() for n in range(3)
    ]
    first, second, third = series
    assert first["counts"]["SUCCESS"] == 3 and first["counts"]["FAILURE"] == 0
    assert first["throughput"] == pytest.approx(3 / 60)
    assert first["failure_rate"] == 0
    assert first["runtime"]["p50"] == pytest.approx(0.1, rel=0.02)
    assert second["counts"]["FAILURE"] == 1 and second["failure_rate"] == 1
    assert second["runtime"]["p99"] == pytest.approx(2.0, rel=0.02)
    assert third["counts"]["SUCCESS"] == 0 and third["failure_rate"] is None
    assert third["runtime"] == {"p50": None, "p95": None, "p99": None}


def test_an_hourly_series_of_one_task_reads_the_hourly_rollups(
    web: Dashboard, door_app: DoorApp
) -> None:
    seeded(door_app)
    query = {"task": "door.add", "since": NOON.isoformat(), "step": "1h"}
    query["until"] = (NOON + timedelta(hours=2)).isoformat()
    series = web.api("GET", "/api/metrics", role="viewer", query_string=query).json["series"]
    assert [sum(point["counts"].values()) for point in series] == [4, 0]
    assert series[0]["failure_rate"] == pytest.approx(0.25)
    other = dict(query, task="door.other")
    series = web.api("GET", "/api/metrics", role="viewer", query_string=other).json["series"]
    assert [point["counts"]["SUCCESS"] for point in series] == [0, 2]


def test_a_queue_filter_and_an_empty_period(web: Dashboard, door_app: DoorApp) -> None:
    seeded(door_app)
    query = {"queue": door_app.queue, "since": NOON.isoformat(), "step": "1d"}
    query["until"] = (NOON + timedelta(days=1)).isoformat()
    series = web.api("GET", "/api/metrics", role="viewer", query_string=query).json["series"]
    assert sum(point["counts"]["SUCCESS"] for point in series) == 5
    query["queue"] = "nobody-uses-this"
    series = web.api("GET", "/api/metrics", role="viewer", query_string=query).json["series"]
    assert all(sum(point["counts"].values()) == 0 for point in series)


@pytest.mark.parametrize(
    ("query", "says"),
    [
        ({"step": "90s"}, "whole number of minutes"),
        ({"step": "7"}, "unit"),
        ({"step": "1m", "since": "2000-01-01T00:00:00Z"}, "at most"),
        ({"since": "2026-12-04T12:00:00Z", "until": "2026-12-04T11:00:00Z"}, "before"),
        ({"since": "yesterday-ish"}, "since"),
        ({"task": "a\x00b"}, "task"),
        ({"colour": "blue"}, "unknown field"),
    ],
)
def test_bad_parameters_are_refused_with_what_is_wrong(
    web: Dashboard, query: dict[str, str], says: str
) -> None:
    answer = web.api("GET", "/api/metrics", role="viewer", query_string=query)
    assert answer.status_code == 422, answer.json
    assert says in answer.json["detail"]


def test_signing_in_is_required(web: Dashboard) -> None:
    assert web.api("GET", "/api/metrics", role=None).status_code == 401


def test_pages_with_charts_load_the_vendored_library_from_the_package(
    web: Dashboard, door_app: DoorApp
) -> None:
    seeded(door_app)
    client = web.signed_in("viewer")
    home = client.get("/")
    assert home.status_code == 200
    assert 'class="ops-charts' in home.text and 'data-metrics="/api/metrics"' in home.text
    for path in (
        "/celery-ops/static/vendor/uplot/uPlot.iife.min.js",
        "/celery-ops/static/vendor/uplot/uPlot.min.css",
        "/celery-ops/static/charts.js",
    ):
        assert path in home.text
        asset = client.get(path)
        assert asset.status_code == 200 and len(asset.data) > 1000, path


def test_a_task_page_sets_each_period_against_the_one_before(
    web: Dashboard, door_app: DoorApp
) -> None:
    now = datetime.now(timezone.utc).timestamp()
    door_app.seed(3, "SUCCESS", at=now - 30, execution_time_ms=100.0)
    door_app.seed(2, "FAILURE", at=now - 3 * 3600, execution_time_ms=100.0)
    client = web.signed_in("viewer")
    page = client.get("/tasks/view/door.add")
    assert page.status_code == 200
    assert 'id="task-periods"' in page.text and "the hour before" in page.text
    assert "data-compare" in page.text and "task=door.add" in page.text
    summary = door_app.door("viewer").metrics.summary
    hour = summary(datetime.now(timezone.utc) - timedelta(hours=1), task="door.add")
    assert hour.counts["SUCCESS"] == 3 and hour.failure_rate == 0
    day = summary(datetime.now(timezone.utc) - timedelta(days=1), task="door.add")
    assert (day.counts["SUCCESS"], day.counts["FAILURE"]) == (3, 2)
    assert day.runtime["p50"] == pytest.approx(0.1, rel=0.02)
    assert client.get("/tasks/view/never.seen").status_code == 200


def test_a_queue_page_charts_its_depth_and_latency_from_samples(door_app: DoorApp) -> None:
    door_app.seed(2, "PENDING")
    door = door_app.door("viewer")
    minute = datetime.now(timezone.utc).replace(second=0, microsecond=0)
    door.metrics.sample_queues()
    again = door.metrics.sample_queues()
    if datetime.now(timezone.utc).replace(second=0, microsecond=0) == minute:
        assert again == 0  # one sample per queue and minute
    # Made after the samples above: its own sampler (it starts one) finds this minute taken.
    web = Dashboard(door_app, SECRET_KEY="tests")
    history = web.api(
        "GET", f"/api/queues/{door_app.queue}/history", role="viewer", query_string={"step": "1m"}
    )
    assert history.status_code == 200, history.json
    sampled = [point for point in history.json["series"] if point["depth"] is not None]
    assert len(sampled) in (1, 2) and sampled[0]["latency_seconds"] >= 0
    page = web.signed_in("viewer").get(f"/queues/view/{door_app.queue}")
    assert page.status_code == 200 and "data-history=" in page.text
