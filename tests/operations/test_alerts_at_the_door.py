"""Alert rules at the door, on SQLite and the in-memory broker: checked when read, raised
once per rule, key and window whoever evaluates, what follows held back and counted, each
destination sent once, a destination that is down retried with backoff until it takes it.

Notifications go to a notifier that keeps what it is given (the Apprise adapter is exercised
end to end, with a real HTTP receiver and SMTP server, in tests/integration)."""

from __future__ import annotations

import dataclasses
import threading
from datetime import datetime, timedelta, timezone

import pytest
from helpers.door_app import DoorApp

from celery_ops import ConfigurationError
from celery_ops.core.alerts import parse_rules, window_start
from celery_ops.core.errors import Denied, NotFound, Unavailable
from celery_ops.operations import ADMIN, Actor
from celery_ops.operations.alerts import backoff

WEBHOOK = "json://127.0.0.1:9/hook"
MAIL = "mailto://127.0.0.1:9?from=ops@example.com&to=oncall@example.com"


class KeptNotifications:
    """Takes every notification (or refuses those to ``down``), and keeps them."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, str]] = []
        self.down: set[str] = set()
        self.lock = threading.Lock()

    def send(self, url: str, title: str, body: str) -> str | None:
        if url in self.down:
            return f"{url} is down"
        with self.lock:
            self.sent.append((url, title, body))
        return None


@pytest.fixture
def kept(door_app: DoorApp) -> KeptNotifications:
    door_app.configure(
        alerts=[
            {"on": "final_failure", "notify": [WEBHOOK, MAIL], "throttle": "10m"},
            {"on": "failure_rate", "notify": [WEBHOOK], "threshold": 0.5, "name": "rate"},
        ]
    )
    notifications = KeptNotifications()
    ops = door_app.ops
    ops._services = dataclasses.replace(ops.services, notifier=notifications)
    return notifications


def system(door_app: DoorApp):
    return door_app.ops.operations(Actor.system("alerts")).alerts


class TestRulesAreCheckedWhenRead:
    @pytest.mark.parametrize(
        ("rules", "says"),
        [
            ({"on": "final_failure"}, "list of rules"),
            ([{"on": "everything", "notify": [WEBHOOK]}], "'on' must be one of"),
            ([{"on": "final_failure"}], "'notify' must list Apprise URLs"),
            ([{"on": "final_failure", "notify": ["not a url"]}], "Apprise URLs"),
            ([{"on": "final_failure", "notify": [WEBHOOK], "threshold": 3}], "takes no threshold"),
            ([{"on": "failure_rate", "notify": [WEBHOOK], "threshold": 1.5}], "fraction"),
            ([{"on": "failure_rate", "notify": [WEBHOOK], "threshold": float("nan")}], "fraction"),
            ([{"on": "queue_latency", "notify": [WEBHOOK], "threshold": "soon"}], "duration"),
            ([{"on": "stuck", "notify": [WEBHOOK], "throttle": "0s"}], "above zero"),
            ([{"on": "stuck", "notify": [WEBHOOK], "colour": "red"}], "unknown field 'colour'"),
            (
                [{"on": "stuck", "notify": [WEBHOOK]}, {"on": "stuck", "notify": [MAIL]}],
                "two rules are named 'stuck'",
            ),
        ],
    )
    def test_a_bad_rule_is_refused_with_what_is_wrong(self, rules: object, says: str) -> None:
        with pytest.raises(ValueError, match=says):
            parse_rules(rules)

    def test_the_app_setting_names_the_rule(self, door_app: DoorApp) -> None:
        door_app.configure(alerts=[{"on": "final_failure", "notify": []}])
        with pytest.raises(ConfigurationError, match="ops_alerts: rule 1: 'notify'"):
            door_app.door().alerts.rules()
        door_app.configure(alerts=[])

    def test_a_queue_latency_threshold_is_a_duration(self) -> None:
        (rule,) = parse_rules([{"on": "queue_latency", "notify": [WEBHOOK], "threshold": "5m"}])
        assert rule.threshold == 300 and rule.name == "queue_latency"


class TestFinalFailures:
    def test_one_alert_per_task_and_exception_in_a_window_the_rest_held(
        self, door_app: DoorApp, kept: KeptNotifications
    ) -> None:
        alerts = system(door_app)
        alerts.evaluate()  # the cursor starts now
        door_app.seed(3, "FAILURE")
        door_app.seed(1, "FAILURE", error_type="ValueError")
        assert alerts.evaluate() == 2
        assert alerts.evaluate() == 0  # the same failures again: nothing new
        (value_error, key_error) = [a for a in alerts.recent() if a.rule == "final_failure"]
        assert key_error.alert_key == "door.add|KeyError" and key_error.held == 2
        assert value_error.held == 0
        assert alerts.deliver() == 2
        assert alerts.deliver() == 0
        assert sorted(url for url, _, _ in kept.sent) == sorted([WEBHOOK, MAIL] * 2)
        bodies = [body for _, title, body in kept.sent if "KeyError" in title]
        assert all("2 more of the same held back" in body for body in bodies)

    def test_two_evaluators_raise_each_alert_once(
        self, door_app: DoorApp, kept: KeptNotifications
    ) -> None:
        alerts = system(door_app)
        alerts.evaluate()
        door_app.seed(5, "FAILURE")
        threads = [threading.Thread(target=system(door_app).evaluate) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        system(door_app).evaluate()
        failures = [a for a in alerts.recent() if a.rule == "final_failure"]
        assert len(failures) == 1 and failures[0].held == 4

    def test_two_senders_send_each_alert_once(
        self, door_app: DoorApp, kept: KeptNotifications
    ) -> None:
        alerts = system(door_app)
        alerts.evaluate()
        door_app.seed(1, "FAILURE")
        alerts.evaluate()
        threads = [threading.Thread(target=system(door_app).deliver) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(url for url, _, _ in kept.sent) == sorted([WEBHOOK, MAIL])
        later = datetime.now(timezone.utc) + timedelta(days=1)
        assert door_app.ops.store.alerts.forget_before(later) == 1  # sent: kept no longer

    def test_a_destination_that_is_down_is_retried_and_the_other_not_sent_twice(
        self, door_app: DoorApp, kept: KeptNotifications
    ) -> None:
        alerts = system(door_app)
        alerts.evaluate()
        door_app.seed(1, "FAILURE")
        alerts.evaluate()
        kept.down = {WEBHOOK}
        assert alerts.deliver() == 0
        (alert,) = alerts.recent()
        assert (alert.status, alert.attempts, alert.destinations_done) == ("pending", 1, {1})
        assert "is down" in (alert.last_error or "")
        assert alerts.deliver() == 0  # not due yet: backoff
        kept.down = set()
        door_app.ops.store.alerts.failed(alert.id, "due now", datetime.now(timezone.utc), {1})
        assert alerts.deliver() == 1
        assert [url for url, _, _ in kept.sent] == [MAIL, WEBHOOK]
        assert alerts.recent()[0].status == "sent"


class TestConditions:
    def test_a_failure_rate_over_the_threshold_is_one_alert_per_window(
        self, door_app: DoorApp, kept: KeptNotifications
    ) -> None:
        door_app.seed(8, "FAILURE")
        door_app.seed(4, "SUCCESS")
        alerts = system(door_app)
        alerts.evaluate()
        alerts.evaluate()
        rate = [a for a in alerts.recent() if a.rule == "rate"]
        assert len(rate) == 1 and "8 of the 12" in rate[0].body


class TestTheTestNotification:
    def test_an_admin_sends_one_audited(self, door_app: DoorApp, kept: KeptNotifications) -> None:
        door_app.door(ADMIN).alerts.send_test("rate")
        assert [url for url, _, _ in kept.sent] == [WEBHOOK]
        assert door_app.audit()[-1].action == "alert-test"

    def test_an_operator_may_not_and_an_unknown_rule_is_not_found(
        self, door_app: DoorApp, kept: KeptNotifications
    ) -> None:
        with pytest.raises(Denied):
            door_app.door().alerts.send_test("rate")
        with pytest.raises(NotFound):
            door_app.door(ADMIN).alerts.send_test("nope")
        kept.down = {WEBHOOK}
        with pytest.raises(Unavailable, match="not delivered"):
            door_app.door(ADMIN).alerts.send_test("rate")
        outcomes = [entry.outcome for entry in door_app.audit() if entry.action == "alert-test"]
        assert outcomes == ["denied", "failed", "failed"]


def test_backoff_doubles_to_five_minutes_and_windows_are_the_same_everywhere() -> None:
    assert [backoff(n) for n in range(8)] == [5, 10, 20, 40, 80, 160, 300, 300]
    at = datetime(2026, 12, 4, 12, 34, 56, tzinfo=timezone.utc)
    assert window_start(at, 600) == datetime(2026, 12, 4, 12, 30, tzinfo=timezone.utc)
    assert window_start(at + timedelta(minutes=6), 600) == window_start(at, 600) + timedelta(
        minutes=10
    )
