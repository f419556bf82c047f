"""The dashboard in Debian's Chromium, driven by Playwright, served by `ops dashboard`:
an operator's day. Screenshots of each step go to docs/screenshots (integration/browser.py)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from helpers.waiting import wait_for
from integration.browser import browser_page, served, shots, sign_in, status_of
from integration.conftest import ExternalApp

from celery_ops.operations import Actor

__all__ = ["browser_page", "served", "shots"]

#: Real worker processes, brokers or servers: not in the fast loop.
pytestmark = pytest.mark.slow


def test_an_operator_signs_in_retries_a_failure_cancels_a_task_and_edits_a_schedule(
    served: tuple[str, ExternalApp], browser_page: object, shots: Path
) -> None:
    from playwright.sync_api import Page, expect

    base, app = served
    page: Page = browser_page  # type: ignore[assignment]
    failed = app.module.always_fails.delay("the-missing-key")
    wait_for(lambda: status_of(app, failed.id) == "FAILURE", 30, "a failure to retry")
    app.ops.schedules.add("nightly-report", "extapp.add", cron="30 2 * * *", args=[1, 2])
    # The Content-Security-Policy lets no inline script run: the browser would say so here.
    refused: list[str] = []
    page.on(
        "console",
        lambda message: (
            refused.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )

    # Sign in.
    page.goto(f"{base}/")
    expect(page).to_have_url(re.compile(r"/login"))
    sign_in(page, "olivia")
    expect(page.locator("h1")).to_have_text("Overview")
    expect(page.locator("#recent-failures")).to_contain_text("extapp.always_fails")
    page.screenshot(path=str(shots / "home.png"), full_page=True)

    # Filter the failures, open one, retry it, land on the new execution.
    page.goto(f"{base}/executions/")
    page.click("label[for=f-status-failure]")
    page.click("#filters button[type=submit]")
    expect(page.locator(f"tr[data-task-id='{failed.id}']")).to_contain_text("FAILURE")
    page.screenshot(path=str(shots / "executions-failures.png"), full_page=True)
    page.click(f"tr[data-task-id='{failed.id}'] a")
    expect(page.locator("#traceback")).to_contain_text("KeyError")
    page.screenshot(path=str(shots / "execution-failure.png"), full_page=True)
    page.click("button[value=retry]")
    expect(page.locator(".alert-success")).to_contain_text("Retried 1 execution")
    new_id = page.locator("#task-id").inner_text()
    assert new_id != failed.id
    expect(page.locator("#facts")).to_contain_text("Retry of")
    wait_for(lambda: status_of(app, new_id) == "FAILURE", 30, "the retry to run")
    assert app.ops.store.execution(new_id).retried_from == failed.id

    # Cancel a task that waits for its countdown: it never runs.
    later = app.module.add.apply_async((1, 2), countdown=12)
    wait_for(lambda: status_of(app, later.id) == "RECEIVED", 30, "the worker to hold it")
    page.goto(f"{base}/executions/view/{later.id}")
    page.click("button[value=cancel]")
    expect(page.locator(".alert-success")).to_contain_text("Cancelled 1 execution")
    wait_for(lambda: status_of(app, later.id) == "REVOKED", 45, "the revoke")
    assert app.ops.store.execution(later.id).started_at is None

    # Edit a schedule: check the new timing, see its next 5 due times, save.
    page.goto(f"{base}/schedules/")
    page.click("text=nightly-report")
    page.click("#edit-schedule")
    page.fill("#cron_expression", "0 9 * * 1-5")
    page.fill("#timezone", "America/New_York")
    page.click("#preview")
    expect(page.locator("#preview-times li")).to_have_count(5)
    expect(page.locator("#preview-times")).to_contain_text("09:00:00 E")
    page.screenshot(path=str(shots / "schedule-preview.png"), full_page=True)
    page.click("#save")
    expect(page.locator("#upcoming li")).to_have_count(5)
    expect(page.locator("#upcoming")).to_contain_text("09:00:00 E")
    page.screenshot(path=str(shots / "schedule.png"), full_page=True)
    schedule = app.ops.schedules.get("nightly-report")
    assert (schedule.cron_expression, schedule.timezone) == ("0 9 * * 1-5", "America/New_York")

    # Deleting asks first (a script file, not an inline handler): no keeps it, yes deletes it.
    page.once("dialog", lambda dialog: dialog.dismiss())
    page.click("button:has-text('Delete')")
    assert app.ops.schedules.exists("nightly-report")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("button:has-text('Delete')")
    expect(page.locator(".alert-success")).to_contain_text("nightly-report")
    assert not app.ops.schedules.exists("nightly-report")

    # Everything above is in the audit log, under this user's name; an admin reads it.
    expect(page.locator("nav")).not_to_contain_text("Audit log")
    page.click("text=Sign out")
    sign_in(page, "adam")
    page.goto(f"{base}/audit/")
    for action in ("login", "retry", "cancel", "schedule update", "schedule delete", "logout"):
        expect(page.locator("#audit")).to_contain_text(action)
    expect(page.locator("#audit")).to_contain_text("olivia")
    page.screenshot(path=str(shots / "audit.png"), full_page=True)
    assert refused == [], refused


def test_an_operator_sees_the_workers_and_pauses_resumes_and_purges_a_queue(
    served: tuple[str, ExternalApp], browser_page: object, shots: Path
) -> None:
    from playwright.sync_api import Page, expect

    base, app = served
    page: Page = browser_page  # type: ignore[assignment]
    queue = app.env["QUEUE"]
    (worker,) = app.workers
    running = app.module.sleepy.delay(20)
    wait_for(lambda: status_of(app, running.id) == "STARTED", 30, "a task to run")

    page.goto(f"{base}/login")
    sign_in(page, "olivia")

    # The workers list, then one worker: its pool, its queue, the task it runs.
    page.goto(f"{base}/workers/")
    row = page.locator(f"tr[data-worker='{worker.hostname}']")
    expect(row).to_contain_text("online")
    expect(row).to_contain_text(queue)
    page.screenshot(path=str(shots / "workers.png"), full_page=True)
    page.click(f"text={worker.hostname}")
    expect(page.locator("#worker-status")).to_have_text("online")
    expect(page.locator("#worker-figures")).to_contain_text("threads")
    expect(page.locator("#running-tasks")).to_contain_text(running.id)
    expect(page.locator("#running-tasks")).to_contain_text("extapp.sleepy")
    page.screenshot(path=str(shots / "worker.png"), full_page=True)

    # Pause the queue: tasks sent now wait in the broker, and the page says who paused it.
    page.goto(f"{base}/queues/")
    page.click(f"[id='pause-{queue}']")
    expect(page.locator(".alert-success")).to_contain_text(f"Queue {queue} paused")
    expect(page.locator(f"tr[data-queue='{queue}']")).to_contain_text("paused")
    expect(page.locator(f"tr[data-queue='{queue}']")).to_contain_text("by olivia")
    held = [app.module.add.delay(i, i).id for i in range(3)]
    app.ops.recorder.flush(timeout=5)
    page.goto(f"{base}/queues/view/{queue}")
    expect(page.locator("#paused-by")).to_contain_text("olivia")
    expect(page.locator("#queue-figures")).to_contain_text("3")
    page.screenshot(path=str(shots / "queue-paused.png"), full_page=True)
    assert {status_of(app, task_id) for task_id in held} == {"PENDING"}

    # Resume: the worker drains it.
    page.click(f"[id='resume-{queue}']")
    expect(page.locator(".alert-success")).to_contain_text(f"Queue {queue} resumed")
    wait_for(lambda: {status_of(app, i) for i in held} == {"SUCCESS"}, 30, "the queue drained")

    # Purge asks first, with the depth; confirming takes the messages off.
    page.click(f"[id='pause-{queue}']")
    doomed = [app.module.add.delay(i, i).id for i in range(4)]
    app.ops.recorder.flush(timeout=5)
    page.goto(f"{base}/queues/view/{queue}")
    page.click(f"[id='purge-{queue}']")
    expect(page.locator("#purge-depth")).to_contain_text("4")
    page.screenshot(path=str(shots / "queue-purge.png"), full_page=True)
    page.click("#confirm-queue-purge")
    expect(page.locator(".alert-success")).to_contain_text("4 purged")
    wait_for(lambda: {status_of(app, i) for i in doomed} == {"REVOKED"}, 10, "revoked records")


def test_charts_draw_on_home_a_task_and_a_queue_and_follow_the_period(
    served: tuple[str, ExternalApp], browser_page: object, shots: Path
) -> None:
    from playwright.sync_api import Page, expect

    base, app = served
    page: Page = browser_page  # type: ignore[assignment]
    queue = app.env["QUEUE"]
    done = [app.module.add.delay(n, n) for n in range(20)]
    failed = app.module.always_fails.delay("chart")
    wait_for(lambda: status_of(app, failed.id) == "FAILURE", 30, "a failure to chart")
    wait_for(lambda: status_of(app, done[-1].id) == "SUCCESS", 30, "successes to chart")
    app.ops.operations(Actor.system("tests")).metrics.sample_queues()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on(
        "response",
        lambda response: (
            errors.append(f"{response.status} {response.url}")
            if response.status >= 400 and not response.url.endswith("/favicon.ico")
            else None
        ),
    )

    page.goto(f"{base}/login")
    sign_in(page, "olivia")
    charts = page.locator("#charts")
    expect(charts).to_have_attribute("data-loaded", "1h")
    expect(charts.locator(".ops-chart canvas")).to_have_count(4)
    expect(charts.locator(".ops-chart").first).to_contain_text("SUCCESS")
    page.click("#charts button[data-period='7d']")
    expect(charts).to_have_attribute("data-loaded", "7d")
    expect(charts.locator("button[data-period='7d']")).to_have_attribute("aria-pressed", "true")
    page.screenshot(path=str(shots / "home-charts.png"), full_page=True)

    page.goto(f"{base}/tasks/view/extapp.add")
    expect(page.locator("#task-periods")).to_contain_text("the hour before")
    expect(page.locator("#charts")).to_have_attribute("data-loaded", "1h")
    expect(page.locator("#charts .ops-chart").first).to_contain_text("(period before)")
    page.screenshot(path=str(shots / "task.png"), full_page=True)

    page.goto(f"{base}/queues/view/{queue}")
    expect(page.locator("#charts")).to_have_attribute("data-loaded", "1h")
    expect(page.locator("#charts .ops-chart canvas")).to_have_count(4)
    assert errors == [], errors
