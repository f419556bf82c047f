"""Relay mode's writing side: ingesters read the stream and write its batches to the store.

An ingester reads up to ``count`` entries, folds their batches together (the events of one
task reach the stream from several processes: producer, worker, pool process) and writes them
in one transaction with their batch ids, then acknowledges the entries. It acknowledges only
after the commit: killed in between, its entries are delivered again, and the store skips the
batch ids it already holds. The number of store connections is the number of ingesters.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

from celery_ops.core.clock import utcnow
from celery_ops.recording.recorder import settle_batches
from celery_ops.recording.relay import StreamUnavailable, UndecodableBatch, decode_batch
from celery_ops.store import RecordBatch, RowRejected, Store, StoreError

logger = logging.getLogger("celery_ops.ingest")

#: Entries read (and batches written in one transaction) at a time.
READ_COUNT = 200
#: How long one read waits for new entries.
BLOCK_MS = 1000
#: How often an ingester looks for entries another one read and never acknowledged.
CLAIM_EVERY_S = 10.0
#: Seconds between two runs of an ingester's ``on_tick`` chore.
TICK_S = 2.0
#: Batch ids are kept this long: a delivery of the same batch later than that is not expected.
KEEP_BATCH_IDS = timedelta(days=2)


class IngestStream(Protocol):
    def read(
        self, consumer: str, count: int, block_ms: int, claim_after_ms: int | None = None
    ) -> list[tuple[bytes, bytes | None]]: ...

    def ack(self, entry_ids: list[bytes]) -> None: ...

    def set_aside(self, payload: bytes, reason: str) -> None: ...


@dataclass
class IngestStats:
    entries: int = 0
    batches_written: int = 0
    batches_repeated: int = 0
    set_aside: int = 0
    failed_writes: int = 0


class Ingester:
    """Reads ``stream`` as ``consumer`` and writes to ``store``."""

    def __init__(
        self,
        store: Store,
        stream: IngestStream,
        consumer: str,
        claim_after_ms: int,
        count: int = READ_COUNT,
    ) -> None:
        self.store = store
        #: Settles the batches whose members' ends it wrote (set by the extension).
        self.on_batches_ended: Callable[[list[str]], object] | None = None
        #: Runs for each batch written (flow control's state on Redis, in relay mode).
        self.on_written: Callable[[RecordBatch], object] | None = None
        #: Runs every :data:`TICK_S` while it ingests (copying the limits to Redis).
        self.on_tick: Callable[[], object] | None = None
        self._next_tick = 0.0
        self.stream = stream
        self.consumer = consumer
        self.claim_after_ms = claim_after_ms
        self.count = count
        self.stats = IngestStats()
        self._next_claim = 0.0
        self._next_forget = 0.0

    def ingest_once(self, block_ms: int = BLOCK_MS) -> int:
        """Read, write and acknowledge one round of entries; how many entries it took.
        Raises :class:`StreamUnavailable` or :class:`StoreError` with nothing acknowledged."""
        claim = None
        now = time.monotonic()
        if now >= self._next_claim:
            self._next_claim = now + CLAIM_EVERY_S
            claim = self.claim_after_ms
        self._forget_old_batch_ids()  # once an hour, busy or not
        if self.on_tick is not None and now >= self._next_tick:
            self._next_tick = now + TICK_S
            self._tick(self.on_tick)
        entries = self.stream.read(self.consumer, self.count, block_ms, claim)
        if not entries:
            return 0
        batches: list[tuple[str, RecordBatch]] = []
        payloads: dict[str, bytes] = {}
        for _entry_id, payload in entries:
            if payload is None:
                continue  # deleted meanwhile: nothing to write
            try:
                batch_id, batch = decode_batch(payload)
            except UndecodableBatch as exc:
                self._set_aside(payload, str(exc))
                continue
            batches.append((batch_id, batch))
            payloads[batch_id] = payload
        self._write(batches, payloads)
        self.stream.ack([entry_id for entry_id, _ in entries])
        self.stats.entries += len(entries)
        return len(entries)

    def _write(self, batches: list[tuple[str, RecordBatch]], payloads: dict[str, bytes]) -> None:
        if not batches:
            return
        try:
            written = self.store.relay.write_once(batches, utcnow())
        except RowRejected:
            # Up, but refusing something: write batch by batch, and set aside the one refused.
            self.stats.failed_writes += 1
            written = 0
            for batch_id, batch in batches:
                try:
                    written += self.store.relay.write_once([(batch_id, batch)], utcnow())
                except RowRejected as exc:
                    self._set_aside(payloads[batch_id], f"the store refused it: {exc}")
        self.stats.batches_written += written
        self.stats.batches_repeated += len(batches) - written
        for _, batch in batches:
            # A batch written before (delivered again) is settled again: both are idempotent.
            if self.on_written is not None:
                self.on_written(batch)
            settle_batches(self.on_batches_ended, batch)

    def _tick(self, chore: Callable[[], object]) -> None:
        try:
            chore()
        except Exception as exc:  # a chore must not stop the ingesting
            logger.warning("celery-ops: ingester chore %s failed: %s", chore.__name__, exc)

    def _set_aside(self, payload: bytes, reason: str) -> None:
        self.stream.set_aside(payload, reason)
        self.stats.set_aside += 1
        logger.error("celery-ops: a relayed batch was set aside: %s", reason)

    def _forget_old_batch_ids(self) -> None:
        now = time.monotonic()
        if now < self._next_forget:
            return
        self._next_forget = now + 3600
        try:
            self.store.relay.forget_batches(utcnow() - KEEP_BATCH_IDS)
        except StoreError as exc:
            logger.warning("celery-ops: could not forget old relayed batch ids: %s", exc)

    def run(self, stop: threading.Event, until: float | None = None) -> None:
        """Ingest until ``stop`` is set (or ``time.monotonic()`` reaches ``until``), riding
        out outages of the broker or the store with a growing pause."""
        failures = 0
        while not stop.is_set() and (until is None or time.monotonic() < until):
            try:
                self.ingest_once()
                failures = 0
            except (StreamUnavailable, StoreError) as exc:
                failures += 1
                if failures == 1:
                    logger.warning("celery-ops: ingester waiting (%s); retrying", exc)
                stop.wait(min(10.0, 0.5 * 2 ** min(failures, 5)))


#: The lease of the ingester that runs inside a worker: one per cluster.
WORKER_LEASE = "ingest"
#: How long a lease lasts unrenewed: a holder that died is replaced within this time.
LEASE_SECONDS = 30.0


def run_under_lease(
    ingester: Ingester,
    holder: str,
    stop: threading.Event,
    while_held: Callable[[], None] = lambda: None,
    lease: str = WORKER_LEASE,
    lease_seconds: float = LEASE_SECONDS,
) -> None:
    """Ingest while this process holds ``lease``; otherwise keep no store connection and
    try again every third of the lease. ``while_held`` runs about once a second while held
    (cluster-wide chores: the lost-work reaper)."""
    relay = ingester.store.relay
    try:
        while not stop.is_set():
            try:
                held = relay.hold_lease(
                    lease, holder, utcnow(), utcnow() + timedelta(seconds=lease_seconds)
                )
            except StoreError as exc:
                logger.debug("celery-ops: lease %s not renewed: %s", lease, exc)
                held = False
            if not held:
                ingester.store.dispose()
                stop.wait(lease_seconds / 3)
                continue
            renew_at = time.monotonic() + lease_seconds / 3
            ingester.run(stop, until=renew_at)
            try:
                while_held()
            except Exception as exc:
                logger.warning("celery-ops: %s failed: %s", while_held, exc)
    finally:
        with contextlib.suppress(StoreError):  # else it expires on its own
            relay.release_lease(lease, holder)
