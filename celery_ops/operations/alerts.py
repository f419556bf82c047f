"""Alerts: the rules of ``ops_alerts`` evaluated, each alert raised once in the store and sent
once through Apprise, retried with backoff while a destination is down.

Beat and the dashboard evaluate the rules every ``ops_alerts_interval`` seconds, each able to
do it alone: one evaluator at a time holds the ``alerts`` lease; an alert is a row unique by
rule, key and throttle window, so evaluating twice raises it once; a sender claims an alert
before sending it, as beat claims a due time, so two senders never send the same one.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from datetime import datetime, timedelta

from celery_ops.core.alerts import (
    FAILURE_RATE,
    FINAL_FAILURE,
    QUEUE_LATENCY,
    RECORDER_DROPPING,
    STUCK,
    WORKER_OFFLINE,
    AlertRule,
    Finding,
    window_start,
)
from celery_ops.core.clock import as_utc
from celery_ops.core.errors import NotFound, OperationError, Unavailable
from celery_ops.operations.actors import ADMIN, VIEWER
from celery_ops.operations.errors import store_errors
from celery_ops.operations.health import FAILURE_RATE_MINIMUM, HealthOperations
from celery_ops.operations.queues import QueueOperations
from celery_ops.operations.services import OperationGroup
from celery_ops.store.alerts import AlertRecord, Raised

LEASE = "alerts"
LEASE_SECONDS = 60.0
#: Failures read per rule and evaluation (more wait for the next one).
FAILURES_READ = 1000
#: How far back failures are looked for: a failure whose row reaches the store later than
#: this (the store was down that long) is not alerted on.
FAILURES_LOOK_BACK = timedelta(minutes=15)
#: A sender holds an alert this long; past it, another may send it.
CLAIM_SECONDS = 60.0
#: Attempts before an alert is given up (the backoff reaches 5 minutes: some 4 hours).
MAX_ATTEMPTS = 50
#: A worker that went offline longer ago than this is not news.
OFFLINE_NEWS = timedelta(minutes=10)


def backoff(attempts: int) -> float:
    """Seconds before the next attempt after ``attempts`` failed ones: 5 s doubling to 5 min."""
    return min(300.0, 5.0 * 2.0 ** min(attempts, 10))


class AlertOperations(OperationGroup):
    def rules(self) -> tuple[AlertRule, ...]:
        self._require(VIEWER)
        return self._services.config.alerts

    def recent(self, limit: int = 100) -> list[AlertRecord]:
        """The latest alerts, sent, pending, failed, with what each held back."""
        self._require(VIEWER)
        with store_errors():
            return self._services.store.alerts.recent(limit)

    def evaluate(self) -> int:
        """Raise what the rules find now (when this process holds the lease); how many new
        alerts were raised."""
        self._require(ADMIN)
        services = self._services
        rules = services.config.alerts
        if not rules:
            return 0
        now = services.clock.now()
        holder = f"{socket.gethostname()}:{os.getpid()}"
        with store_errors():
            if not services.store.relay.hold_lease(
                LEASE, holder, now, now + timedelta(seconds=LEASE_SECONDS)
            ):
                return 0
        raised = 0
        for rule in rules:
            try:
                raised += self._evaluate(rule, now)
            except OperationError:
                continue  # the store or the broker is down: the health check says so
        with store_errors():
            services.store.alerts.forget_occurrences(now - 2 * FAILURES_LOOK_BACK)
        return raised

    def deliver(self) -> int:
        """Send the alerts that are due, each claimed first; how many were sent."""
        self._require(ADMIN)
        services = self._services
        now = services.clock.now()
        by_name = {rule.name: rule for rule in services.config.alerts}
        sent = 0
        with store_errors():
            due = services.store.alerts.due(now)
        for alert in due:
            rule = by_name.get(alert.rule)
            with store_errors():
                if not services.store.alerts.claim(
                    alert.id, now, now + timedelta(seconds=CLAIM_SECONDS)
                ):
                    continue
                if rule is None:
                    services.store.alerts.failed(
                        alert.id, "its rule is no longer in ops_alerts", None
                    )
                    continue
            done = alert.destinations_done
            errors = []
            for position, url in enumerate(rule.notify):
                if position in done:
                    continue  # it took it at an earlier attempt
                error = services.notifier.send(url, alert.subject, _with_held(alert))
                if error is None:
                    done.add(position)
                else:
                    errors.append(error)
            with store_errors():
                if not errors:
                    services.store.alerts.delivered(alert.id, services.clock.now(), done)
                    sent += 1
                else:
                    retry = alert.attempts + 1 < MAX_ATTEMPTS
                    retry_at = now + timedelta(seconds=backoff(alert.attempts)) if retry else None
                    services.store.alerts.failed(alert.id, "; ".join(errors), retry_at, done)
        return sent

    def send_test(self, rule_name: str) -> None:
        """Send a test notification to a rule's destinations, now; audited."""
        with self._operation("alert-test", {"rule": rule_name}, ADMIN):
            rule = next((r for r in self._services.config.alerts if r.name == rule_name), None)
            if rule is None:
                raise NotFound(f"no alert rule named {rule_name!r} in ops_alerts")
            title = f"celery-ops test notification ({rule.name})"
            body = f"A test of the alert rule {rule.name}: {rule.describe()}. "
            body += f"Sent by {self.actor.name}."
            errors = [
                error
                for url in rule.notify
                if (error := self._services.notifier.send(url, title, body)) is not None
            ]
            if errors:
                raise Unavailable(f"the test notification was not delivered: {'; '.join(errors)}")

    # Rules

    def _evaluate(self, rule: AlertRule, now: datetime) -> int:
        if rule.on == FINAL_FAILURE:
            return self._final_failures(rule, now)
        raised = 0
        store = self._services.store.alerts
        for finding in self._conditions(rule, now):
            occurrence = _raised(finding, counts_again=False)
            with store_errors():
                raised += store.raise_(occurrence)
        return raised

    def _final_failures(self, rule: AlertRule, now: datetime) -> int:
        """The failures of the look-back not counted yet: the first of a task and exception
        type in a window is sent, the next ones are counted as held back."""
        services = self._services
        since = now - FAILURES_LOOK_BACK
        with store_errors():
            failures = services.store.alerts.uncounted_failures(
                rule.name, since, now, FAILURES_READ, rule.task, rule.queue
            )
            fresh = services.store.alerts.new_occurrences(
                rule.name, [failure.task_id for failure in failures], now
            )
        raised = 0
        for failure in failures:
            if failure.task_id not in fresh:
                continue
            at = as_utc(failure.status_at or now)
            finding = Finding(
                rule,
                f"{failure.task_name}|{failure.error_type}",
                f"{failure.task_name} failed: {failure.error_type}",
                f"{failure.task_name} failed after its last retry with {failure.error_type}: "
                f"{(failure.error_message or '')[:500]}\ntask id {failure.task_id}, queue "
                f"{failure.queue}, worker {failure.worker_id}, at {at.isoformat()}",
                at,
            )
            with store_errors():
                raised += services.store.alerts.raise_(_raised(finding, counts_again=True))
        return raised

    def _conditions(self, rule: AlertRule, now: datetime) -> Iterator[Finding]:
        services = self._services
        config = services.config
        if rule.on == STUCK:
            for stuck in HealthOperations(services, self.actor).stuck(now):
                execution = stuck.execution
                if not _matches(rule, execution.task_name, execution.queue):
                    continue
                if rule.threshold is not None and stuck.running_seconds < rule.threshold:
                    continue
                yield Finding(
                    rule,
                    execution.task_id,
                    f"{execution.task_name} is stuck",
                    f"{execution.task_name} {execution.task_id} has run "
                    f"{stuck.running_seconds:.0f}s on {execution.worker_id}, past {stuck.past}",
                    now,
                )
        elif rule.on == QUEUE_LATENCY:
            threshold = rule.threshold or config.health_queue_latency
            with store_errors():
                for name in self._queue_names(rule):
                    oldest = services.store.queues.oldest_waiting(name, now)
                    waited = (now - as_utc(oldest)).total_seconds() if oldest else 0.0
                    if waited > threshold:
                        yield Finding(
                            rule,
                            name,
                            f"queue {name} is late",
                            f"The oldest execution waiting in {name} has waited {waited:.0f}s "
                            f"(threshold {threshold:g}s)",
                            now,
                        )
        elif rule.on == FAILURE_RATE:
            yield from self._failure_rates(rule, now)
        elif rule.on == WORKER_OFFLINE:
            with store_errors():
                workers = services.store.workers()
            for worker in workers:
                stopped = worker.stopped_at
                if worker.online or stopped is None or now - as_utc(stopped) > OFFLINE_NEWS:
                    continue
                if rule.queue and rule.queue not in worker.queues:
                    continue
                yield Finding(
                    rule,
                    f"{worker.hostname}@{as_utc(stopped).isoformat()}",
                    f"worker {worker.hostname} went offline",
                    f"{worker.hostname} went offline at {as_utc(stopped).isoformat()} "
                    f"(queues: {', '.join(worker.queues) or 'none'})",
                    now,
                )
        elif rule.on == RECORDER_DROPPING:
            with store_errors():
                workers = services.store.workers()
            for worker in workers:
                if worker.online and worker.events_dropped:
                    yield Finding(
                        rule,
                        worker.hostname,
                        f"the recorder of {worker.hostname} drops events",
                        f"{worker.hostname} dropped {worker.events_dropped} event(s) it could "
                        "not write (docs/failure-handling.md)",
                        now,
                    )

    def _failure_rates(self, rule: AlertRule, now: datetime) -> Iterator[Finding]:
        config = self._services.config
        threshold = rule.threshold or config.health_failure_rate
        window = timedelta(seconds=config.health_window)
        counts = HealthOperations(self._services, self.actor).ended_by_task(now - window, now)
        for task, states in sorted(counts.items()):
            if rule.task and task != rule.task:
                continue
            total = sum(states.values())
            failed = states.get("FAILURE", 0) + states.get("LOST", 0)
            if total >= FAILURE_RATE_MINIMUM and failed / total >= threshold:
                yield Finding(
                    rule,
                    task,
                    f"{task} fails at {failed / total:.0%}",
                    f"{failed} of the {total} executions of {task} that ended in the last "
                    f"{window.total_seconds():g}s failed (threshold {threshold:.0%})",
                    now,
                )

    def _queue_names(self, rule: AlertRule) -> list[str]:
        if rule.queue:
            return [rule.queue]
        return QueueOperations(self._services, self.actor).known()


def _matches(rule: AlertRule, task: str | None, queue: str | None) -> bool:
    return (not rule.task or rule.task == task) and (not rule.queue or rule.queue == queue)


def _raised(finding: Finding, counts_again: bool) -> Raised:
    rule = finding.rule
    return Raised(
        rule.name,
        rule.on,
        finding.key,
        window_start(finding.at, rule.throttle),
        finding.at,
        f"[celery-ops] {finding.subject}",
        finding.body,
        counts_again,
    )


def _with_held(alert: AlertRecord) -> str:
    if not alert.held:
        return alert.body
    return f"{alert.body}\n\n{alert.held} more of the same held back since (see the Alerts page)."
