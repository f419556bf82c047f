"""Alert rules (``ops_alerts``) and the throttle windows they are sent in.

A rule says what to watch (``on``), where (``task``, ``queue``), past what (``threshold``),
whom to tell (``notify``: Apprise URLs) and how often at most (``throttle``): one message per
rule, key (a task name and exception type, a queue, an execution, a worker) and window; what
happens again in the window is counted, and shown as held back.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from celery_ops.core.durations import format_duration, parse_duration

FINAL_FAILURE = "final_failure"
STUCK = "stuck"
QUEUE_LATENCY = "queue_latency"
FAILURE_RATE = "failure_rate"
WORKER_OFFLINE = "worker_offline"
RECORDER_DROPPING = "recorder_dropping"
KINDS = (FINAL_FAILURE, STUCK, QUEUE_LATENCY, FAILURE_RATE, WORKER_OFFLINE, RECORDER_DROPPING)
#: What ``threshold`` means for each kind (the ones without take none).
THRESHOLDS = {
    STUCK: "seconds running (default: the task's time limit, or ops_stuck_factor x its p95)",
    QUEUE_LATENCY: "seconds the oldest waiting execution has waited (default: "
    "ops_health_queue_latency)",
    FAILURE_RATE: "a fraction of the executions ended in ops_health_window (default: "
    "ops_health_failure_rate)",
}
DEFAULT_THROTTLE = 600.0
_FIELDS = frozenset({"on", "task", "queue", "threshold", "notify", "throttle", "name"})


@dataclass(frozen=True)
class AlertRule:
    name: str
    on: str
    notify: tuple[str, ...]
    task: str | None = None
    queue: str | None = None
    threshold: float | None = None
    throttle: float = DEFAULT_THROTTLE

    def describe(self) -> str:
        where = ", ".join(
            part
            for part in (
                f"task {self.task}" if self.task else "",
                f"queue {self.queue}" if self.queue else "",
                f"threshold {self.threshold:g}" if self.threshold is not None else "",
            )
            if part
        )
        return (
            f"{self.on}"
            + (f" ({where})" if where else "")
            + (f", at most once per key every {format_duration(self.throttle)}")
        )


def parse_rules(value: Any) -> tuple[AlertRule, ...]:
    """``ops_alerts`` checked: a list of rules; ValueError says which and what is wrong."""
    if value is None:
        return ()
    if isinstance(value, Mapping) or not isinstance(value, list | tuple):
        raise ValueError(
            "expected a list of rules, e.g. [{'on': 'final_failure', 'notify': [...]}]"
        )
    rules = []
    for index, raw in enumerate(value):
        if isinstance(raw, AlertRule):
            rules.append(raw)
            continue
        try:
            rules.append(_rule(raw, index))
        except ValueError as exc:
            raise ValueError(f"rule {index + 1}: {exc}") from None
    names = [rule.name for rule in rules]
    duplicated = sorted({name for name in names if names.count(name) > 1})
    if duplicated:
        raise ValueError(f"two rules are named {duplicated[0]!r}: give each a distinct 'name'")
    return tuple(rules)


def _rule(raw: Any, index: int) -> AlertRule:
    if not isinstance(raw, Mapping):
        raise ValueError(f"expected a dict, not {type(raw).__name__}")
    unknown = sorted(set(raw) - _FIELDS)
    if unknown:
        raise ValueError(f"unknown field {unknown[0]!r} (fields: {', '.join(sorted(_FIELDS))})")
    on = raw.get("on")
    if on not in KINDS:
        raise ValueError(f"'on' must be one of {', '.join(KINDS)}, not {on!r}")
    notify = raw.get("notify")
    if isinstance(notify, str):
        notify = [notify]
    if not notify or not all(isinstance(url, str) and "://" in url for url in notify):
        raise ValueError("'notify' must list Apprise URLs, e.g. ['mailto://...', 'json://...']")
    threshold = raw.get("threshold")
    if threshold is not None:
        if on not in THRESHOLDS:
            raise ValueError(f"{on} takes no threshold")
        threshold = _threshold(threshold, on)
    throttle = parse_duration(raw.get("throttle", DEFAULT_THROTTLE))
    task, queue = raw.get("task"), raw.get("queue")
    for field, text in (("task", task), ("queue", queue)):
        if text is not None and not (isinstance(text, str) and 0 < len(text) <= 255):
            raise ValueError(f"'{field}' must be a name of 1 to 255 characters")
    name = raw.get("name") or "-".join(str(part) for part in (on, task, queue) if part)
    if not isinstance(name, str) or len(name) > 200:
        raise ValueError("'name' must be text of at most 200 characters")
    return AlertRule(name, on, tuple(notify), task, queue, threshold, throttle)


def _threshold(value: Any, on: str) -> float:
    if on in (STUCK, QUEUE_LATENCY):
        return parse_duration(value)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"threshold must be a number, not {value!r}")
    number = float(value)
    if not (math.isfinite(number) and 0 < number <= 1):
        raise ValueError(
            f"a failure rate threshold is a fraction above 0 and at most 1, not {value!r}"
        )
    return number


def window_start(moment: datetime, throttle: float) -> datetime:
    """The start of the throttle window holding ``moment`` (windows follow each other from
    the epoch, so every process computes the same one)."""
    epoch = datetime(1970, 1, 1, tzinfo=moment.tzinfo)
    seconds = (moment - epoch).total_seconds()
    return epoch + timedelta(seconds=seconds // throttle * throttle)


@dataclass(frozen=True)
class Finding:
    """Something a rule matched: one occurrence under its key."""

    rule: AlertRule
    key: str
    subject: str
    body: str
    #: When it happened (a failure's time; for a condition, when it was seen).
    at: datetime
