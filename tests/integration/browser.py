"""Driving the dashboard in Debian's Chromium with Playwright: the browser, a served dashboard
with a worker and users, where screenshots go, and the accessibility check.

Screenshots go to docs/screenshots, so that every run of the browser tests refreshes the
pictures of the README and the guides (``$CELERY_OPS_SCREENSHOTS`` to send them elsewhere).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers.services import IN_CI, REDIS_BROKER, require
from helpers.waiting import wait_for
from integration.conftest import ExternalApp

from celery_ops.operations import Actor

REPOSITORY = Path(__file__).resolve().parents[2]
AXE = Path(__file__).resolve().parents[1] / "helpers" / "vendor" / "axe-core" / "axe.min.js"
#: Viewports every page is checked and pictured at: a laptop and a phone.
WIDE = {"width": 1280, "height": 860}
PHONE = {"width": 390, "height": 844}

CHROMIUM = "/usr/bin/chromium"
PASSWORD = "operator-password"


@pytest.fixture
def browser_page(tmp_path: Path) -> Iterator[object]:
    if not Path(CHROMIUM).exists():
        message = f"{CHROMIUM} is missing: apt-get install -y chromium"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--headless", "--no-sandbox"]
        )
        page = browser.new_context(viewport=WIDE).new_page()
        page.set_default_timeout(15_000)
        yield page
        browser.close()


@pytest.fixture
def shots() -> Path:
    """Where the steps' screenshots go: docs/screenshots, or $CELERY_OPS_SCREENSHOTS."""
    directory = Path(
        os.environ.get("CELERY_OPS_SCREENSHOTS") or REPOSITORY / "docs" / "screenshots"
    )
    directory.mkdir(parents=True, exist_ok=True)
    return directory


@pytest.fixture
def served(
    external_app: Callable[..., ExternalApp], new_database
) -> Iterator[tuple[str, ExternalApp]]:
    """`celery -A extapp ops dashboard` on a free port, a worker, an operator and an admin;
    a Redis result backend (for chords)."""
    require("redis")
    app = external_app(REDIS_BROKER, new_database("postgresql"), RESULT_BACKEND=REDIS_BROKER)
    assert app.ops_cli("db", "upgrade").returncode == 0
    accounts = app.ops.operations(Actor.system("tests")).accounts
    accounts.add("olivia", PASSWORD, "operator")
    accounts.add("adam", PASSWORD, "admin")
    app.start_worker("browser-worker", pool="threads", concurrency=2)
    address = app.start_dashboard()
    port = int(address.rsplit(":", 1)[1])
    wait_for(lambda: _listening(port), 15, "the dashboard to listen")
    yield address, app


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def sign_in(page: Any, username: str) -> None:
    """Fill in and send the login form the page shows."""
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")


def status_of(app: ExternalApp, task_id: str) -> str | None:
    row = app.ops.store.execution(task_id)
    return row.status if row else None


def accessibility_problems(page: Any) -> list[str]:
    """What axe-core finds of serious or critical impact on the page as it is now."""
    # Through the DevTools protocol: the page's Content-Security-Policy stays in force.
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(AXE.read_text())
    found = page.evaluate(
        """async () => (await axe.run(document, {resultTypes: ['violations']})).violations
            .filter(v => v.impact === 'serious' || v.impact === 'critical')
            .map(v => v.id + ': ' + v.help + ' (' + v.nodes.length + ' element(s): '
                 + v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(', ') + ')')"""
    )
    return list(found)
