"""What an operator sees without reloading, in Chromium: statuses and progress that move on
open pages, a retried task's waterfall, a chord's tree, a bulk retry that asks first, an
export of 100,000 executions; every page free of serious accessibility problems, and
pictured at a laptop's width and a phone's."""

from __future__ import annotations

import re
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from helpers.waiting import wait_for
from integration.browser import (
    PHONE,
    WIDE,
    accessibility_problems,
    browser_page,
    served,
    shots,
    sign_in,
    status_of,
)
from integration.conftest import ExternalApp

from celery_ops.operations import Actor
from celery_ops.recording.events import ExecutionEvent
from celery_ops.recording.folding import fold_events
from celery_ops.recording.payload import Arguments
from celery_ops.store.audit import AuditQuery

pytestmark = pytest.mark.slow

__all__ = ["browser_page", "served", "shots"]


def test_statuses_and_progress_move_on_open_pages(
    served: tuple[str, ExternalApp], browser_page: object, shots: Path
) -> None:
    from playwright.sync_api import Page, expect

    base, app = served
    page: Page = browser_page  # type: ignore[assignment]
    page.goto(f"{base}/login")
    sign_in(page, "olivia")

    # An open list and an open execution page follow a task from waiting to done.
    slow = app.module.sleepy.apply_async((3,), countdown=2)
    wait_for(lambda: status_of(app, slow.id) is not None, 15, "the task recorded")
    page.goto(f"{base}/executions/?task=extapp.sleepy")
    row = page.locator(f"tr[data-task-id='{slow.id}']")
    expect(row).to_contain_text(re.compile("PENDING|RECEIVED"))
    expect(page.locator("#ops-live")).to_have_attribute("aria-pressed", "true")
    expect(row).to_contain_text("STARTED", timeout=15_000)
    expect(row).to_contain_text("SUCCESS", timeout=15_000)
    second = page.context.new_page()
    later = app.module.sleepy.apply_async((2,), countdown=2)
    wait_for(lambda: status_of(app, later.id) is not None, 15, "the task recorded")
    second.goto(f"{base}/executions/view/{later.id}")
    expect(second.locator("h1 .ops-status")).to_have_text(re.compile("PENDING|RECEIVED"))
    expect(second.locator("h1 .ops-status")).to_have_text("SUCCESS", timeout=15_000)
    expect(second.locator("#timeline")).to_contain_text("succeeded")
    second.close()

    # Paused by the reader: nothing is asked while it is paused.
    page.click("#ops-live")
    expect(page.locator("#ops-live")).to_have_attribute("aria-pressed", "false")
    polls: list[str] = []
    page.on("request", lambda request: polls.append(request.url) if "live" in request.url else None)
    page.wait_for_timeout(3_000)
    assert polls == []
    page.click("#ops-live")
    page.wait_for_timeout(3_000)
    assert polls, "live again: it asks again"

    # A task reporting its progress from 0 to 100 moves its bar; the last value stays.
    counting = app.module.counts_to.delay(100, 6)
    wait_for(lambda: status_of(app, counting.id) == "STARTED", 15, "the task to start")
    page.goto(f"{base}/executions/view/{counting.id}")
    bar = page.locator("#progress [role=progressbar]")
    seen: list[float] = []
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if bar.count():
            seen.append(float(bar.get_attribute("aria-valuenow") or 0))
        if seen and seen[-1] == 100:
            break
        page.wait_for_timeout(400)
    moving = sorted(set(seen))
    assert len(moving) >= 3 and moving[-1] == 100, seen
    assert seen == sorted(seen), "it only moves forward"
    page.screenshot(path=str(shots / "execution-progress.png"), full_page=True)
    expect(page.locator("h1 .ops-status")).to_have_text("SUCCESS", timeout=15_000)
    expect(page.locator("#progress")).to_contain_text("100 of 100 (100 %)")
    expect(page.locator("#progress")).to_contain_text("step 100")


def test_a_retried_task_as_a_waterfall_and_a_chord_as_a_tree(
    served: tuple[str, ExternalApp], browser_page: object, shots: Path
) -> None:
    from playwright.sync_api import Page, expect

    base, app = served
    page: Page = browser_page  # type: ignore[assignment]
    failing = app.module.always_fails.delay("waterfall")  # retried twice, then fails
    chord_sender = app.module.starts_a_chord.delay()
    wait_for(lambda: status_of(app, failing.id) == "FAILURE", 30, "the retries to run out")
    wait_for(lambda: status_of(app, chord_sender.id) == "SUCCESS", 30, "the chord sent")
    store = app.ops.store
    members = wait_for(
        lambda: (
            len(m := store.workflow(chord_sender.id)) >= 4
            and all(x.status in ("SUCCESS", "FAILURE") for x in m)
            and m
        ),
        30,
        "the chord's members to end",
    )
    failed_member = next(m for m in members if m.status == "FAILURE")

    page.goto(f"{base}/login")
    sign_in(page, "olivia")
    page.goto(f"{base}/executions/view/{failing.id}")
    rows = page.locator("#waterfall .ops-wf-row")
    expect(rows).to_have_count(3)
    for attempt in (1, 2, 3):
        expect(rows.nth(attempt - 1)).to_contain_text(f"Attempt {attempt}")
    expect(page.locator("#waterfall .ops-wf-bar.ops-wf-running")).to_have_count(3)
    expect(page.locator("#waterfall .ops-wf-bar.ops-wf-retry-gap")).to_have_count(2)
    expect(page.locator("#waterfall .ops-wf-bar.ops-wf-failed")).to_have_count(1)
    page.screenshot(path=str(shots / "execution-waterfall.png"), full_page=True)

    page.goto(f"{base}/executions/view/{failed_member.task_id}")
    tree = page.locator("#workflow")
    expect(tree).to_contain_text("extapp.starts_a_chord")
    expect(tree.locator("li .ops-status")).to_have_count(len(members))
    expect(tree.locator(".ops-tree-here")).to_contain_text("extapp.explodes")
    expect(tree.locator(".ops-tree-here .ops-status")).to_have_text("FAILURE")
    page.locator("#workflow").scroll_into_view_if_needed()
    page.screenshot(path=str(shots / "execution-workflow.png"), full_page=True)
    # Every node links to its execution.
    tree.locator("a", has_text="extapp.starts_a_chord").click()
    expect(page.locator("#task-id")).to_have_text(chord_sender.id)


def audit_rows(app: ExternalApp) -> list[Any]:
    return app.ops.store.audit.page(AuditQuery(limit=200))


def seed(app: ExternalApp, count: int, task: str) -> None:
    """``count`` ended executions written straight to the store, as recorders would."""
    now = time.time()
    for start in range(0, count, 5000):
        events = []
        for n in range(start, min(count, start + 5000)):
            task_id = str(uuid.uuid4())
            sent = ExecutionEvent(task_id, "published", now, "PENDING", 1, {"task_name": task})
            sent.arguments = Arguments([n], {"batch": "export"})
            events.append(sent)
            values = {"execution_time_ms": 1.5, "completed_at": now}
            events.append(ExecutionEvent(task_id, "succeeded", now, "SUCCESS", 1, values))
        app.ops.store.write(fold_events(events, 65_536, True))


def test_a_bulk_retry_asks_first_and_an_export_of_100000_executions(
    served: tuple[str, ExternalApp], browser_page: object, shots: Path, tmp_path: Path
) -> None:
    from playwright.sync_api import Page, expect

    base, app = served
    page: Page = browser_page  # type: ignore[assignment]
    failures = [app.module.explodes.delay(n) for n in range(3)]
    for failure in failures:
        wait_for(lambda f=failure: status_of(app, f.id) == "FAILURE", 30, "a failure")
    page.goto(f"{base}/login")
    sign_in(page, "olivia")

    page.goto(f"{base}/executions/?task=extapp.explodes&status=FAILURE")
    page.select_option("#scope", "matching")
    page.click("button[value=retry]")
    expect(page.locator("h1")).to_have_text("Retry 3 execution(s)?")
    expect(page.locator("#bulk-count")).to_contain_text("task_name extapp.explodes")
    page.screenshot(path=str(shots / "bulk-retry-confirm.png"), full_page=True)
    assert not [e for e in audit_rows(app) if e.action == "retry-many"]
    page.click("#confirm-bulk")
    expect(page.locator("body")).to_contain_text("retried", timeout=15_000)
    retried = wait_for(
        lambda: len(r := [e for e in audit_rows(app) if e.action == "retry-many"]) and r,
        15,
        "the job's audit row",
    )
    assert retried[0].targets.get("retried") == 3

    seed(app, 100_000, "bulk.export")
    page.goto(f"{base}/executions/?task=bulk.export")
    expect(page.locator("#total")).to_contain_text(re.compile(r"About|More than|100,000"))
    page.select_option("#export-format", "csv")
    page.click("#export")
    expect(page.locator("h1")).to_contain_text("Export")
    progress = page.locator("#job-progress")
    expect(progress).to_contain_text("of 100,000", timeout=30_000)
    page.screenshot(path=str(shots / "export-running.png"), full_page=True)
    expect(page.locator("#download")).to_be_visible(timeout=120_000)
    expect(progress).to_contain_text("100,000 of 100,000")
    with page.expect_download() as download_info:
        page.click("#download")
    path = tmp_path / "export.csv"
    download_info.value.save_as(path)
    with path.open(encoding="utf-8") as exported:
        header = exported.readline()
        lines = sum(1 for _ in exported)
    assert header.startswith("task_id,task_name,") and lines == 100_000


#: Every page, as the signed-in admin sees it, for the accessibility check and the pictures.
PAGES = [
    ("home", "/"),
    ("executions", "/executions/"),
    ("execution", "/executions/view/{task_id}"),
    ("failures", "/failures/"),
    ("schedules", "/schedules/"),
    ("schedule", "/schedules/view/nightly"),
    ("schedule-form", "/schedules/new"),
    ("tasks", "/tasks/"),
    ("task", "/tasks/view/extapp.add"),
    ("workers", "/workers/"),
    ("worker", "/workers/view/{worker}"),
    ("queues", "/queues/"),
    ("queue", "/queues/view/{queue}"),
    ("alerts", "/alerts/"),
    ("audit", "/audit/"),
    ("users", "/users/"),
    ("not-found", "/no/such/page"),
]


def test_every_page_is_accessible_and_pictured_wide_and_narrow(
    served: tuple[str, ExternalApp], browser_page: object, shots: Path
) -> None:
    from playwright.sync_api import Page

    base, app = served
    page: Page = browser_page  # type: ignore[assignment]
    done = app.module.add.delay(2, 3)
    app.module.always_fails.delay("shown")
    app.ops.schedules.add("nightly", "extapp.add", cron="30 2 * * *", args=[1, 2])
    wait_for(lambda: status_of(app, done.id) == "SUCCESS", 30, "a task to show")
    app.ops.operations(Actor.system("tests")).metrics.sample_queues()
    values = {"task_id": done.id, "worker": app.workers[0].hostname, "queue": app.env["QUEUE"]}

    problems: dict[str, list[str]] = {}
    page.goto(f"{base}/login")
    if found := accessibility_problems(page):
        problems["login"] = found
    page.screenshot(path=str(shots / "login.png"))
    sign_in(page, "adam")
    for viewport, suffix in ((WIDE, ""), (PHONE, "-phone")):
        page.set_viewport_size(viewport)
        for name, path in PAGES:
            page.goto(base + path.format(**values))
            page.wait_for_load_state("networkidle")
            found = accessibility_problems(page)
            if found:
                problems[f"{name}{suffix}"] = found
            page.screenshot(path=str(shots / f"{name}{suffix}.png"), full_page=not suffix)
            overflow = page.evaluate(
                "document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            if overflow > 1:
                # On a phone, wide tables scroll inside their box, not the whole page.
                problems.setdefault(f"{name}{suffix}", []).append(f"{overflow}px too wide")
    assert problems == {}, "\n".join(f"{k}: {v}" for k, v in problems.items())
