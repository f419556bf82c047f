"""`ops ingest`: a dedicated ingester of the relay stream (ops_write_mode = "relay")."""

from __future__ import annotations

import dataclasses
import os
import signal
import socket
import threading
import time
from typing import Any

import click

from celery_ops.cli.context import current_ops, door, echo_json, fail, reported
from celery_ops.core.errors import OperationError
from celery_ops.recording.relay import RelaySink
from celery_ops.recording.spill import SpillDirectory
from celery_ops.settings import ConfigurationError


@click.command()
@click.option(
    "--name",
    default=None,
    help="This ingester's name in the stream's consumer group (default: host and pid).",
)
@click.option("--once", is_flag=True, help="Take what the stream holds now, then exit.")
def ingest(name: str | None, once: bool) -> None:
    """Write what the relay stream holds to the store, until stopped (Ctrl-C, SIGTERM).

    Run as many as the store's connections allow: each takes a share of the stream. Spill
    files left on this host by processes that exited while the broker was down are handed
    over first.
    """
    ops = current_ops()
    if not ops.relaying:
        fail(
            "ops_write_mode is 'direct': processes write to the store themselves, there is "
            "nothing to ingest (set ops_write_mode = 'relay' to use the relay)"
        )
    door()  # the schema, created or checked, before anything is written
    consumer = name or f"{socket.gethostname()}:{os.getpid()}"
    try:
        ingester = ops.ingester(consumer)
        spilled = RelaySink(ops.relay_stream(), SpillDirectory(ops.config.spill_dir))
    except ConfigurationError as exc:
        fail(str(exc))
    moved = spilled.hand_over_spilled()
    if moved:
        click.echo(f"handed {moved} spilled batch(es) to the stream")
    if once:
        while ingester.ingest_once(block_ms=0):
            pass
        click.echo(
            f"ingested {ingester.stats.entries} entries "
            f"({ingester.stats.batches_written} batches written, "
            f"{ingester.stats.batches_repeated} already written)"
        )
        return
    stop = threading.Event()

    def on_signal(_signum: int, _frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    click.echo(f"celery-ops ingester {consumer}: reading the relay stream (Ctrl-C to stop)")
    while not stop.is_set():
        # The lost-work reaper runs beside each ingester: relaying processes never run it.
        ingester.run(stop, until=time.monotonic() + ops.config.reaper_interval)
        if not stop.is_set():
            try:
                ops.reap_lost_work()
            except OperationError as exc:
                click.echo(f"lost-work reaper: {exc}", err=True)
    click.echo(f"stopped after {ingester.stats.entries} entries")


@click.command(name="relay")
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
def relay_status(as_json: bool) -> None:
    """Show the write mode and, in relay mode, how far the ingesters are behind."""
    with reported():
        status = door().maintenance.relay_status()
    if as_json:
        echo_json(dataclasses.asdict(status))
        return
    click.echo(f"write mode: {status.mode}")
    if status.mode == "relay":
        lag = "-" if status.oldest_age_s is None else f"{status.oldest_age_s:.1f} s"
        click.echo(f"stream: {status.waiting} batch(es) waiting, {status.in_flight} being written")
        click.echo(f"ingest lag: {lag}")
        until = status.ingester_until.isoformat() if status.ingester_until else "-"
        click.echo(f"ingester in the workers: {status.ingester or 'none'} (lease until {until})")
    click.echo(f"spill files on this host: {status.spilled_here}")
    if status.problem:
        fail(status.problem)
