"""Send a mix of the demo tasks, about one a second: ``python -m demo.traffic [--seconds N]``.

``python -m demo.traffic --check`` only checks that the broker is reachable. Both exit with
status 3 when it is not, after saying how to start Redis.
"""

from __future__ import annotations

import argparse
import itertools
import random
import signal
import sys
import time
from collections.abc import Callable, Iterator
from urllib.parse import urlsplit

from kombu.utils.url import maybe_sanitize_url

from demo.app import app
from demo.tasks import add, charge_card, fan_out, flaky, slow, tenant_report

TENANTS = ("acme", "globex", "initech")
BROKER_UNREACHABLE = 3


def how_to_start_redis() -> str:
    port = urlsplit(str(app.conf.broker_url)).port
    option = f" --port {port}" if port and port != 6379 else ""
    return f"""\
The demo needs Redis as its broker. Start one on this machine with:

    redis-server --daemonize yes{option}

or, if it is not installed (Debian/Ubuntu):

    apt-get install redis-server

or point the demo at another broker: CELERY_BROKER_URL=redis://HOST:6379/0"""


def broker_error() -> str | None:
    """None when the broker accepts a connection, else why it does not."""
    with app.connection_for_write() as connection:
        try:
            connection.ensure_connection(
                max_retries=1, interval_start=0, interval_step=0.2, timeout=3
            )
        except Exception as exc:
            return f"{type(exc).__name__}: {exc}"
    return None


def _add() -> str:
    x, y = random.randint(1, 99), random.randint(1, 99)
    return f"add({x}, {y}) -> {add.delay(x, y).id}"


def _flaky_then_success() -> str:
    return f"flaky(succeed_on_attempt=2), retried once -> {flaky.delay(2).id}"


def _flaky_failure() -> str:
    return f"flaky(succeed_on_attempt=9), fails 3 times -> {flaky.delay(9).id}"


def _slow() -> str:
    seconds = round(random.uniform(2.0, 5.0), 1)
    return f"slow({seconds}) -> {slow.delay(seconds).id}"


def _fan_out() -> str:
    count = random.randint(3, 6)
    return f"fan_out({count}), a group of {count} squares -> {fan_out.delay(count).id}"


def _tenant_report() -> str:
    tenant = random.choice(TENANTS)
    report = f"monthly-{random.randint(1, 12):02d}"
    result = tenant_report.apply_async((report,), headers={"tenant_id": tenant})
    return f"tenant_report({report!r}) with header tenant_id={tenant} -> {result.id}"


def _charge_card() -> str:
    card, amount = "4111111111111111", random.randint(100, 9_999)
    result = charge_card.apply_async((card, amount), argsrepr=f"('****{card[-4:]}', {amount})")
    return f"charge_card('****{card[-4:]}', {amount}), card number masked -> {result.id}"


# One round shows every kind of task; successes are the most common, as in real life.
ROUND: tuple[Callable[[], str], ...] = (
    _add,
    _flaky_then_success,
    _add,
    _slow,
    _tenant_report,
    _add,
    _fan_out,
    _charge_card,
    _add,
    _flaky_failure,
)


def senders() -> Iterator[Callable[[], str]]:
    return itertools.cycle(ROUND)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m demo.traffic", description=__doc__)
    parser.add_argument(
        "--seconds", type=float, default=None, help="stop after this long (default: never)"
    )
    parser.add_argument(
        "--interval", type=float, default=1.0, help="seconds between two sends (default: 1)"
    )
    parser.add_argument(
        "--check", action="store_true", help="only check that the broker is reachable"
    )
    options = parser.parse_args(argv)

    broker = maybe_sanitize_url(app.conf.broker_url)
    error = broker_error()
    if error is not None:
        print(f"Cannot reach the broker at {broker} ({error}).\n", file=sys.stderr)
        print(how_to_start_redis(), file=sys.stderr, flush=True)
        return BROKER_UNREACHABLE
    if options.check:
        print(f"broker {broker} is reachable", flush=True)
        return 0

    # honcho stops its processes with SIGTERM: end like Ctrl-C does, so that celery-ops writes
    # what this producer still holds in memory (at exit) instead of dying with it.
    signal.signal(signal.SIGTERM, _interrupt)
    print(f"sending demo tasks to {broker} every {options.interval:g}s", flush=True)
    deadline = None if options.seconds is None else time.monotonic() + options.seconds
    sent = 0
    try:
        for send in senders():
            if deadline is not None and time.monotonic() >= deadline:
                break
            try:
                line = send()
            except Exception as exc:
                print(f"could not send to {broker}: {type(exc).__name__}: {exc}", file=sys.stderr)
                print(how_to_start_redis(), file=sys.stderr, flush=True)
                return BROKER_UNREACHABLE
            sent += 1
            print(f"sent {line}", flush=True)
            time.sleep(options.interval)
    except KeyboardInterrupt:
        pass
    print(f"sent {sent} task(s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
