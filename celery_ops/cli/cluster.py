"""`ops workers ...` and `ops queues ...`: see the live cluster and steer it from a shell,
through the same operations as the dashboard (audited as ``cli:<os user>@<host>``)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import click

from celery_ops.cli.context import door, echo_json, fail, reported
from celery_ops.operations.control import Answers
from celery_ops.operations.queues import QueueView


@click.group()
def workers() -> None:
    """List the workers, show one, and steer it (shutdown, pool, queues)."""


@workers.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the list as JSON.")
def list_workers(as_json: bool) -> None:
    """Every worker the store has seen, with its live figures."""
    with reported():
        found = door().workers.all()
    if as_json:
        echo_json([view.as_dict() for view in found])
        return
    if not found:
        click.echo("no worker has reported yet")
    for view in found:
        shown = view.as_dict()
        live = (
            f"running {shown['running']}, reserved {shown['reserved']}"
            if view.live
            else "no live answer"
        )
        click.echo(
            f"{view.hostname:<32} {view.status:<8} {shown['pool'] or '?'}"
            f"({shown['concurrency'] or '?'})  queues {','.join(shown['queues']) or '-'}  "
            f"processed {shown['tasks_processed']}  {live}"
        )


@workers.command("show")
@click.argument("hostname")
def show_worker(hostname: str) -> None:
    """One worker: its pool, queues, figures and the tasks it holds (as JSON)."""
    with reported():
        echo_json(door().workers.get(hostname).as_dict(detail=True))


@workers.command("shutdown")
@click.argument("hostname")
def shutdown(hostname: str) -> None:
    """Warm shutdown: the worker finishes its running tasks, then exits."""
    _answered(lambda: door().workers.shutdown(hostname))


@workers.command("grow")
@click.argument("hostname")
@click.argument("n", default="1")
def grow(hostname: str, n: str) -> None:
    """Add N processes to the worker's pool."""
    _answered(lambda: door().workers.resize_pool(hostname, {"grow": n}))


@workers.command("shrink")
@click.argument("hostname")
@click.argument("n", default="1")
def shrink(hostname: str, n: str) -> None:
    """Remove N processes from the worker's pool."""
    _answered(lambda: door().workers.resize_pool(hostname, {"shrink": n}))


@workers.command("autoscale")
@click.argument("hostname")
@click.argument("most")
@click.argument("fewest", default="0")
def autoscale(hostname: str, most: str, fewest: str) -> None:
    """Let the pool scale between FEWEST and MOST processes (a worker started with
    --autoscale)."""
    _answered(lambda: door().workers.autoscale(hostname, {"max": most, "min": fewest}))


@workers.command("consume")
@click.argument("hostname")
@click.argument("queue")
def consume(hostname: str, queue: str) -> None:
    """Start consuming QUEUE."""
    _answered(lambda: door().workers.consume(hostname, {"queue": queue}))


@workers.command("cancel-consume")
@click.argument("hostname")
@click.argument("queue")
def cancel_consume(hostname: str, queue: str) -> None:
    """Stop consuming QUEUE."""
    _answered(lambda: door().workers.cancel_consume(hostname, {"queue": queue}))


@workers.command("forget")
@click.argument("hostname")
def forget(hostname: str) -> None:
    """Remove an offline worker from the store."""
    with reported():
        door().workers.forget(hostname)
    click.echo(f"forgot {hostname}")


@click.group()
def queues() -> None:
    """List the queues, show one, pause, resume or purge it."""


@queues.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the list as JSON.")
def list_queues(as_json: bool) -> None:
    """Every known queue: depth, consumers, latency, and whether it is paused."""
    with reported():
        found = door().queues.all(counts=as_json)
    if as_json:
        echo_json([view.as_dict() for view in found])
        return
    if not found:
        click.echo("no queue is known yet")
    for view in found:
        click.echo(_queue_line(view))


@queues.command("show")
@click.argument("name")
def show_queue(name: str) -> None:
    """One queue's figures (as JSON)."""
    with reported():
        echo_json(door().queues.get(name).as_dict())


@queues.command("pause")
@click.argument("name")
def pause(name: str) -> None:
    """Every worker stops consuming NAME, and workers started later do not consume it."""
    with reported():
        change = door().queues.pause(name)
    _told(change.answers, change.broker_error)
    click.echo(f"queue {name} is paused")


@queues.command("resume")
@click.argument("name")
def resume(name: str) -> None:
    """The workers that consumed NAME before its pause consume it again."""
    with reported():
        change = door().queues.resume(name)
    _told(change.answers, change.broker_error)
    click.echo(f"queue {name} is consumed again")


@queues.command("purge")
@click.argument("name")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def purge_queue(name: str, yes: bool) -> None:
    """Take every message waiting in NAME off the broker; their executions become REVOKED."""
    operations = door()
    if not yes:
        with reported():
            depth = operations.queues.get(name).depth
        click.confirm(
            f"Purge {depth if depth is not None else 'an unknown number of'} message(s) "
            f"waiting in {name}? Those tasks will not run",
            abort=True,
        )
    with reported():
        accepted = operations.queues.purge(name)
        job = accepted.finished or _wait(operations, accepted.job_id)
    result = job.result or {}
    if job.status != "done":
        fail(f"purge of {name} failed: {result.get('error', 'unknown error')}")
    click.echo(f"purged {result.get('purged', 0)} message(s) from {name}")


def _wait(operations: Any, job_id: str) -> Any:
    while True:
        job = operations.executions.job(job_id)
        if job.status in ("done", "failed"):
            return job
        time.sleep(0.5)


def _queue_line(view: QueueView) -> str:
    state = f"paused by {view.pause.paused_by}" if view.pause else "consuming"
    depth = "?" if view.depth is None else view.depth
    latency = "-" if view.latency_seconds is None else f"{view.latency_seconds:.1f}s"
    return (
        f"{view.name:<32} {state:<24} waiting {depth}  consumers {view.consumers}  oldest {latency}"
    )


def _answered(act: Callable[[], Answers]) -> None:
    with reported():
        answers = act()
    _told(answers, None)


def _told(answers: Answers | None, broker_error: str | None) -> None:
    if broker_error:
        click.echo(
            f"the workers could not be told now ({broker_error}); each applies it at "
            "its next heartbeat"
        )
    if answers is None:
        return
    for host, reply in sorted(answers.replies.items()):
        said = reply.get("ok", reply.get("error"))
        click.echo(f"{host}: {'error: ' if 'error' in reply else ''}{said}")
    for host in answers.silent:
        click.echo(f"{host}: no answer")
