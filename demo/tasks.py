"""Example tasks: each shows one thing celery-ops records."""

from __future__ import annotations

import random
import time

from celery import Task, group

import celery_ops
from demo.app import app


class TransientError(Exception):
    """A failure worth retrying, such as a timeout from a remote service."""


@app.task
def add(x: int, y: int) -> int:
    """Succeeds at once."""
    return x + y


@app.task
def square(x: int) -> int:
    """One member of the fan-out's group."""
    time.sleep(random.uniform(0.05, 0.3))
    return x * x


@app.task(
    bind=True,
    autoretry_for=(TransientError,),
    max_retries=2,
    retry_kwargs={"countdown": 1},
)
def flaky(self: Task, succeed_on_attempt: int = 2) -> str:
    """Fails until attempt ``succeed_on_attempt``, retried automatically at most twice.

    With ``succeed_on_attempt=2`` it ends in SUCCESS after one retry; with 4 or more it
    ends in FAILURE after three attempts.
    """
    attempt = self.request.retries + 1
    if attempt < succeed_on_attempt:
        raise TransientError(f"attempt {attempt} of {succeed_on_attempt}: upstream timed out")
    return f"succeeded on attempt {attempt}"


@app.task
def slow(seconds: float = 4.0) -> float:
    """Runs for a few seconds, saying how far it got: its page shows a progress bar."""
    steps = 20
    for step in range(1, steps + 1):
        time.sleep(seconds / steps)
        celery_ops.report_progress(step, steps, note=f"step {step} of {steps}")
    return seconds


@app.task
def fan_out(count: int = 5) -> str:
    """Sends a group of ``square`` tasks: they share a group id, this task is their parent."""
    result = group(square.s(i) for i in range(count)).apply_async()
    return f"sent group {result.id} of {count} tasks"


@app.task
def tenant_report(report: str) -> str:
    """Sent with a ``tenant_id`` message header, which celery-ops stores in its own column."""
    return f"report {report} built"


@app.task
def charge_card(card_number: str, amount_cents: int) -> str:
    """Sent with ``argsrepr`` masking the card number: only the masked form is shown."""
    return f"charged {amount_cents} cents to card ending {card_number[-4:]}"
