"""Relay mode, without a broker: a batch survives its encoding, the store writes a batch once
however often it is delivered, the spill directory keeps what the broker could not take, and
one process at a time holds a lease."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from celery import Celery

import celery_ops
from celery_ops.core.clock import utcnow
from celery_ops.recording.events import DefinitionReport, ExecutionEvent, WorkerReport
from celery_ops.recording.folding import fold_events
from celery_ops.recording.ingest import Ingester
from celery_ops.recording.payload import Arguments
from celery_ops.recording.relay import (
    RelaySink,
    StreamUnavailable,
    UndecodableBatch,
    decode_batch,
    encode_batch,
)
from celery_ops.recording.spill import SpillDirectory
from celery_ops.store import RecordBatch, Store

T0 = 1_760_000_000.0


def task_events(task_id: str) -> dict[str, list[ExecutionEvent]]:
    """One task's events as its three processes see them."""
    published = ExecutionEvent(
        task_id,
        "published",
        T0,
        "PENDING",
        1,
        values={"task_name": "proj.add", "queue": "celery", "published_at": T0},
        arguments=Arguments((1, "é"), {"n": None}),
        details={"queue": "celery"},
    )
    received = ExecutionEvent(
        task_id, "received", T0 + 0.1, "RECEIVED", 1, values={"worker_id": "w@h"}, worker="w@h"
    )
    started = ExecutionEvent(
        task_id, "started", T0 + 0.2, "STARTED", 1, values={"pid": 7, "attempts": 1}, worker="w@h"
    )
    failed = ExecutionEvent(
        task_id,
        "failed",
        T0 + 0.3,
        "FAILURE",
        1,
        values={"error_type": "ValueError", "error_message": "boom"},
        worker="w@h",
    )
    return {"producer": [published], "main": [received], "pool": [started, failed]}


def folded(events: list[ExecutionEvent] | list[object]) -> RecordBatch:
    return fold_events(events, 65_536, True)  # type: ignore[arg-type]


class TestTheEncoding:
    def test_a_batch_comes_back_as_it_was_sent(self) -> None:
        events: list[object] = [e for part in task_events("t1").values() for e in part]
        events += [
            WorkerReport("w@h", T0, True, {"started_at": T0, "queues": '["celery"]'}, True),
            DefinitionReport("w@h", T0, [{"name": "proj.add", "queue": None}]),
        ]
        batch = folded(events)
        batch.dropped["w@h"] = 3
        batch_id, decoded = decode_batch(encode_batch("b1", batch))
        assert batch_id == "b1"
        assert decoded == batch

    @pytest.mark.parametrize(
        "payload",
        [b"", b"not json", b"[]", b'{"v": 99, "id": "x"}', b'{"v": 1, "id": "x"}', b"\xff\xfe"],
    )
    def test_what_is_not_a_batch_is_refused_with_a_reason(self, payload: bytes) -> None:
        with pytest.raises(UndecodableBatch):
            decode_batch(payload)


class TestWritingEachBatchOnce:
    def test_batches_from_three_processes_make_the_row_one_flush_would(
        self, store: Store, tmp_path: Path
    ) -> None:
        parts = task_events("t1")
        relayed = [(name, folded(events)) for name, events in parts.items()]
        assert store.relay.write_once(relayed, utcnow()) == 3
        direct = Store(f"sqlite:///{tmp_path}/direct.sqlite3")
        direct.upgrade()
        direct.write(folded([e for events in parts.values() for e in events]))
        assert store.execution("t1") == direct.execution("t1")
        assert [e.event for e in store.timeline("t1")] == [e.event for e in direct.timeline("t1")]

    def test_a_batch_delivered_again_changes_nothing(self, store: Store) -> None:
        parts = task_events("t1")
        batches = [(name, folded(events)) for name, events in parts.items()]
        store.relay.write_once(batches, utcnow())
        before = (store.execution("t1"), store.timeline("t1"))
        # The ingester was killed after its commit: every entry comes back, with a new one.
        extra = folded([ExecutionEvent("t2", "published", T0, "PENDING", 1)])
        assert store.relay.write_once([*batches, ("extra", extra)], utcnow()) == 1
        assert (store.execution("t1"), store.timeline("t1")) == before
        assert store.execution("t1").attempts == 1  # a counter, not added twice
        assert store.execution("t2") is not None

    def test_the_same_batch_twice_in_one_delivery_is_written_once(self, store: Store) -> None:
        batch = folded(task_events("t1")["pool"])
        assert store.relay.write_once([("b", batch), ("b", batch)], utcnow()) == 1
        assert len(store.timeline("t1")) == 2

    def test_ids_of_old_batches_are_forgotten(self, store: Store) -> None:
        store.relay.write_once([("old", RecordBatch())], utcnow() - timedelta(days=3))
        store.relay.write_once([("new", RecordBatch())], utcnow())
        assert store.relay.forget_batches(utcnow() - timedelta(days=2)) == 1


class FakeIngestStream:
    """Entries in a list, acknowledged or set aside (the real streams are Redis's and
    RabbitMQ's, in test_relay_on_brokers.py)."""

    def __init__(self, payloads: list[bytes]) -> None:
        self.entries = [(str(i).encode(), p) for i, p in enumerate(payloads)]
        self.acked: list[bytes] = []
        self.aside: list[tuple[bytes, str]] = []

    def read(
        self, consumer: str, count: int, block_ms: int, claim_after_ms: int | None = None
    ) -> list[tuple[bytes, bytes | None]]:
        taken, self.entries = self.entries[:count], self.entries[count:]
        return taken  # type: ignore[return-value]

    def ack(self, entry_ids: list[bytes]) -> None:
        self.acked += entry_ids

    def set_aside(self, payload: bytes, reason: str) -> None:
        self.aside.append((payload, reason))


@pytest.mark.slow
def test_a_batch_the_store_refuses_is_set_aside_alone(
    new_database: Callable[[str], str],
) -> None:
    store = Store(new_database("postgresql"))
    store.upgrade()
    started = folded(task_events("t1")["pool"])
    refused = folded([ExecutionEvent("t1", "x", T0 + 1, None, 1, values={"priority": 2**40})])
    stream = FakeIngestStream([encode_batch("ok", started), encode_batch("bad", refused)])
    ingester = Ingester(store, stream, "i1", claim_after_ms=0)
    assert ingester.ingest_once(block_ms=0) == 2
    row = store.execution("t1")  # written with its own values only, once
    assert row is not None and row.status == "FAILURE" and row.attempts == 1
    assert row.priority is None
    assert [decode_batch(p)[0] for p, _ in stream.aside] == ["bad"]
    assert "the store refused it" in stream.aside[0][1]
    assert len(stream.acked) == 2
    store.dispose()


def test_a_busy_ingester_still_forgets_old_batch_ids(store: Store) -> None:
    store.relay.write_once([("old", RecordBatch())], utcnow() - timedelta(days=3))
    stream = FakeIngestStream([encode_batch("new", folded(task_events("t1")["pool"]))])
    Ingester(store, stream, "i1", claim_after_ms=0).ingest_once(block_ms=0)
    # "old" is gone (forgotten), "new" is known: writing both again writes only "old".
    assert store.relay.write_once([("old", RecordBatch()), ("new", RecordBatch())], utcnow()) == 1


class TestTheLease:
    def test_one_holder_at_a_time_until_it_expires(self, store: Store) -> None:
        now = utcnow()
        later = now + timedelta(seconds=30)
        assert store.relay.hold_lease("ingest", "a", now, later)
        assert not store.relay.hold_lease("ingest", "b", now, later)
        assert store.relay.hold_lease("ingest", "a", now, later)  # renewed
        assert store.relay.hold_lease("ingest", "b", later, later + timedelta(seconds=30))
        assert not store.relay.hold_lease("ingest", "a", later, later)

    def test_a_released_lease_is_free(self, store: Store) -> None:
        now = utcnow()
        store.relay.hold_lease("ingest", "a", now, now + timedelta(seconds=30))
        store.relay.release_lease("ingest", "a")
        assert store.relay.hold_lease("ingest", "b", now, now + timedelta(seconds=30))


class ListStream:
    """A stream in a list, to see what a sink appends (the real one is Redis's)."""

    def __init__(self, up: bool = True) -> None:
        self.up = up
        self.entries: list[bytes] = []

    def append(self, payloads: list[bytes]) -> None:
        if not self.up:
            raise StreamUnavailable("ConnectionError: refused")
        self.entries.extend(payloads)


class TestSpilling:
    def test_what_the_broker_cannot_take_waits_on_disk_then_goes(self, tmp_path: Path) -> None:
        stream = ListStream(up=False)
        sink = RelaySink(stream, SpillDirectory(tmp_path))
        sink.write(folded(task_events("t1")["producer"]))
        sink.write(folded(task_events("t2")["producer"]))
        assert stream.entries == [] and len(list(tmp_path.glob("*.spill"))) == 1
        stream.up = True
        sink.write(folded(task_events("t3")["producer"]))
        ids = [decode_batch(p)[1].executions[0].task_id for p in stream.entries]
        assert sorted(ids) == ["t1", "t2", "t3"]
        assert list(tmp_path.glob("*.spill")) == []

    def test_a_file_its_writer_still_holds_is_left_alone(self, tmp_path: Path) -> None:
        writer = SpillDirectory(tmp_path)
        writer.write([b"{}"])
        other = ListStream()
        assert SpillDirectory(tmp_path).hand_over(other.append) == 0
        writer.close()  # its process exited
        assert SpillDirectory(tmp_path).hand_over(other.append) == 1
        assert other.entries == [b"{}"]

    def test_a_hand_over_cut_short_keeps_the_file(self, tmp_path: Path) -> None:
        left = SpillDirectory(tmp_path)
        left.write([b"1", b"2"])
        left.close()
        with pytest.raises(StreamUnavailable):
            SpillDirectory(tmp_path).hand_over(ListStream(up=False).append)
        taker = ListStream()
        assert SpillDirectory(tmp_path).hand_over(taker.append) == 2
        assert taker.entries == [b"1", b"2"]

    def test_nothing_is_lost_when_neither_broker_nor_disk_can_take_it(self, tmp_path: Path) -> None:
        blocked = tmp_path / "file-not-dir"
        blocked.write_text("")
        sink = RelaySink(ListStream(up=False), SpillDirectory(blocked))
        with pytest.raises(OSError):
            sink.write(folded(task_events("t1")["producer"]))  # the recorder keeps its events

    def test_a_spill_file_written_long_ago_is_still_handed_over(self, tmp_path: Path) -> None:
        left = SpillDirectory(tmp_path)
        left.write([encode_batch("b", folded(task_events("t1")["producer"]))])
        left.close()
        time.sleep(0.01)
        stream = ListStream()
        RelaySink(stream, SpillDirectory(tmp_path)).hand_over_spilled()
        assert decode_batch(stream.entries[0])[0] == "b"

    def test_an_idle_process_hands_over_once_the_broker_is_back(self, tmp_path: Path) -> None:
        stream = ListStream(up=False)
        sink = RelaySink(stream, SpillDirectory(tmp_path))
        sink.write(folded(task_events("t1")["pool"]))
        sink.retry_spilled()  # still down: kept
        assert stream.entries == []
        stream.up = True
        sink._next_retry = 0.0  # the retry interval has passed
        sink.retry_spilled()  # nothing new recorded, yet the spilled batch goes
        assert len(stream.entries) == 1
        assert list(tmp_path.glob("*.spill")) == []


class TestTheModeFollowsTheBroker:
    def test_relay_on_a_broker_that_cannot_carry_it_writes_directly_and_says_so(
        self, tmp_path: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        app = Celery("sqs-like", broker="memory://")
        ops = celery_ops.init_app(
            app, database_url=f"sqlite:///{tmp_path}/ops.sqlite3", write_mode="relay"
        )
        assert ops.recorder.relay is None
        assert "needs a Redis or RabbitMQ broker" in caplog.text
        assert "writing to the store directly" in caplog.text
