"""Alerts end to end: a task failing after its last retry, with two dashboards and two beats
evaluating the rules, reaches a local HTTP receiver and a local SMTP server (aiosmtpd) once
each through Apprise; the receiver, down when it happened, gets it once it is up."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from helpers.receivers import Received, start_receiver
from helpers.services import REDIS_BROKER, require
from helpers.waiting import wait_for
from helpers.workers import free_port
from integration.conftest import ExternalApp

from celery_ops.core.filters import ExecutionFilter
from celery_ops.core.lifecycle import FAILURE

pytestmark = pytest.mark.slow


@pytest.fixture
def received() -> Received:
    return Received()


@pytest.fixture
def smtp(received: Received) -> Iterator[int]:
    """A local SMTP server (aiosmtpd) keeping each mail as a "mail"; its port."""

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            received.add("mail", envelope.content)
            return "250 OK"

    port = free_port()
    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    yield port
    controller.stop()


def test_a_final_failure_is_one_webhook_call_and_one_mail_with_two_dashboards_and_two_beats(
    external_app: Callable[..., ExternalApp], new_database, received: Received, smtp: int
) -> None:
    require("redis")
    hook_port = free_port()  # nothing listens yet: the receiver is down
    rule = {
        "on": "final_failure",
        "task": "extapp.always_fails",
        "notify": [
            f"json://127.0.0.1:{hook_port}/hook",
            f"mailto://127.0.0.1:{smtp}?from=ops@example.com&to=oncall@example.com"
            "&mode=insecure&user=&pass=",
        ],
        "throttle": "10m",
    }
    app = external_app(
        REDIS_BROKER,
        new_database("postgresql"),
        OPS_ALERTS=json.dumps([rule]),
        OPS_ALERTS_INTERVAL="0.5",
    )
    assert app.ops_cli("db", "upgrade").returncode == 0
    app.start_worker("failing")
    app.start_beat("beat-1")
    app.start_beat("beat-2")
    app.start_dashboard()
    app.start_dashboard()
    time.sleep(1.5)  # every evaluator has run at least once

    failed = [app.module.always_fails.delay("same-key") for _ in range(3)]
    store = app.ops.store
    wait_for(
        lambda: store.count_executions(ExecutionFilter(statuses=(FAILURE,)), None) == 3,
        60,
        "three final failures",
    )
    wait_for(lambda: received.of("mail"), 30, "the alert's mail")
    assert received.of("webhook") == []
    (alert,) = store.alerts.recent()
    assert alert.status == "pending" and alert.destinations_done == {1}
    receiver = start_receiver(hook_port, received)
    try:
        wait_for(lambda: received.of("webhook"), 60, "the webhook, once the receiver is up")
        time.sleep(3)  # several evaluations and deliveries later: nothing more
        mails, calls = received.of("mail"), received.of("webhook")
        assert len(mails) == 1 and len(calls) == 1, (mails, calls)
        assert b"extapp.always_fails failed: KeyError" in mails[0]
        body = json.loads(calls[0])
        assert "KeyError" in body["title"] and any(f.id in body["message"] for f in failed)
        (alert,) = store.alerts.recent()
        assert alert.status == "sent" and alert.held == 2 and alert.attempts >= 2
    finally:
        receiver.shutdown()
