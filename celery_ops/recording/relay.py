"""Relay mode's sending side: a process's folded batch, as bytes, onto the stream.

In relay mode a process does not write to the store. Its flusher folds events as in direct
mode, then :class:`RelaySink` encodes the batch (with an id of its own, so that the store can
write it once however often it is delivered) and appends it to the stream on the broker; when
the broker cannot take it either, to a spill file on the local disk, which the next process
on the host hands over (:mod:`celery_ops.recording.spill`). Ingesters
(:mod:`celery_ops.recording.ingest`) write what the stream holds.

The encoding is JSON, with times tagged: a stream readable by whoever can reach the broker
must never be unpickled.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from datetime import datetime
from typing import Any, Protocol

from celery_ops.core.lifecycle import ExecutionPatch
from celery_ops.recording.spill import SpillDirectory
from celery_ops.store import RecordBatch, WorkerState

logger = logging.getLogger("celery_ops.relay")

#: The version of the encoding; an ingester refuses (and keeps aside) a version it does not know.
ENCODING_VERSION = 1
_TIME = "$t"
#: How often a process with spilled batches tries the broker again when it has nothing new.
SPILL_RETRY_S = 2.0


class StreamUnavailable(Exception):
    """The stream cannot take or give batches now (the broker is down or refusing)."""


class Stream(Protocol):
    """Where relayed batches wait for an ingester: a Redis stream, or a broker queue."""

    def append(self, payloads: list[bytes]) -> None: ...


class UndecodableBatch(ValueError):
    """A payload on the stream that is not a batch of this encoding."""


def new_batch_id() -> str:
    return uuid.uuid4().hex


def encode_batch(batch_id: str, batch: RecordBatch) -> bytes:
    document = {
        "v": ENCODING_VERSION,
        "id": batch_id,
        "executions": [
            [p.task_id, p.status, p.progress, p.status_at, p.values] for p in batch.executions
        ],
        "timeline": batch.timeline,
        "workers": [[w.hostname, w.at, w.online, w.values, w.just_started] for w in batch.workers],
        "definitions": [list(entry) for entry in batch.definitions],
        "dropped": batch.dropped,
        "released": batch.released,
        "freed_slots": batch.freed_slots,
        "batches_ended": batch.batches_ended,
    }
    return _encoder.encode(document).encode("utf-8")


def decode_batch(payload: bytes) -> tuple[str, RecordBatch]:
    """The id and the batch of ``payload``; :class:`UndecodableBatch` if it is not one."""
    try:
        document = json.loads(payload, object_hook=_tagged)
        if document.get("v") != ENCODING_VERSION:
            raise UndecodableBatch(f"unknown encoding version {document.get('v')!r}")
        batch = RecordBatch(
            executions=[ExecutionPatch(*row) for row in document["executions"]],
            timeline=list(document["timeline"]),
            workers=[WorkerState(*row) for row in document["workers"]],
            definitions=[(host, at, reported) for host, at, reported in document["definitions"]],
            dropped={str(host): int(count) for host, count in document["dropped"].items()},
            # Absent from batches written before unique tasks existed.
            released=[str(task_id) for task_id in document.get("released", ())],
            freed_slots=[str(task_id) for task_id in document.get("freed_slots", ())],
            batches_ended=[str(batch) for batch in document.get("batches_ended", ())],
        )
        return str(document["id"]), batch
    except UndecodableBatch:
        raise
    except Exception as exc:  # any shape of garbage
        raise UndecodableBatch(f"not a celery-ops batch: {type(exc).__name__}: {exc}") from None


class _Encoder(json.JSONEncoder):
    def default(self, o: Any) -> Any:
        if isinstance(o, datetime):
            return {_TIME: o.isoformat()}
        return str(o)  # what direct mode would store as text anyway


_encoder = _Encoder(ensure_ascii=False, separators=(",", ":"))


def _tagged(document: dict[str, Any]) -> Any:
    if len(document) == 1 and _TIME in document:
        return datetime.fromisoformat(document[_TIME])
    return document


class RelaySink:
    """What a process's flusher writes to in relay mode: the stream, else the spill directory.

    :meth:`write` raises only when neither could take the batch; the recorder then keeps its
    events in memory and tries again, as it does when the store is down in direct mode.
    """

    def __init__(self, stream: Stream, spill: SpillDirectory) -> None:
        self.stream = stream
        self.spill = spill
        self._broker_down = False
        self._next_retry = 0.0

    def write(self, batch: RecordBatch) -> None:
        payload = encode_batch(new_batch_id(), batch)
        try:
            self.stream.append([payload])
        except StreamUnavailable as exc:
            self.spill.write([payload])
            if not self._broker_down:
                self._broker_down = True
                logger.warning(
                    "celery-ops: the relay stream cannot take batches (%s); keeping them in %s "
                    "until it can",
                    exc,
                    self.spill.path,
                )
            return
        if self._broker_down or self.spill.has_waiting():
            # The broker is back: hand over what this process, or one that exited, left.
            self._broker_down = False
            self.hand_over_spilled()

    def retry_spilled(self) -> None:
        """While this process has batches on disk, try to hand them over every few seconds,
        even if it records nothing new (an idle pool process after an outage)."""
        if not self._broker_down or time.monotonic() < self._next_retry:
            return
        self._next_retry = time.monotonic() + SPILL_RETRY_S
        try:
            moved = self.spill.hand_over(self.stream.append)
        except (StreamUnavailable, OSError):
            return
        self._broker_down = False
        if moved:
            logger.warning("celery-ops: %d spilled batch(es) handed to the relay stream", moved)

    def hand_over_spilled(self) -> int:
        """Hand what the spill directory holds to the stream; the number of batches moved."""
        try:
            moved = self.spill.hand_over(self.stream.append)
        except StreamUnavailable:
            return 0
        if moved:
            logger.warning("celery-ops: %d spilled batch(es) handed to the relay stream", moved)
        return moved

    def close(self) -> None:
        self.spill.close()
