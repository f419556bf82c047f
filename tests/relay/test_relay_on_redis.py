"""Relay mode on a real Redis broker: batches go through the stream to the store, are
delivered at least once and written once, wait on disk while the broker is down, and a real
worker's tasks are all recorded while only the lease holder touches the store."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from celery import Celery
from click.testing import CliRunner
from helpers.services import REDIS_BROKER, require
from relay.test_relayed_batches import folded, task_events

import celery_ops
from celery_ops.cli import ops as ops_command
from celery_ops.recording.ingest import Ingester
from celery_ops.recording.relay import RelaySink, encode_batch
from celery_ops.recording.spill import SpillDirectory
from celery_ops.recording.streams import RedisStream
from celery_ops.store import Store

pytestmark = pytest.mark.slow


@pytest.fixture
def stream() -> Iterator[RedisStream]:
    require("redis")
    stream = RedisStream(REDIS_BROKER, f"test-relay-{uuid.uuid4().hex[:8]}")
    yield stream
    stream.client.delete(stream.key, f"{stream.key}:rejected")
    stream.close()


def ingester(store: Store, stream: RedisStream, name: str, claim_after_ms: int = 0) -> Ingester:
    return Ingester(store, stream, name, claim_after_ms)


def drain(ingester: Ingester) -> None:
    while ingester.ingest_once(block_ms=0):
        pass


class TestThroughTheStream:
    def test_three_processes_batches_become_one_row(
        self, store: Store, stream: RedisStream, tmp_path: Path
    ) -> None:
        for events in task_events("t1").values():
            RelaySink(stream, SpillDirectory(tmp_path)).write(folded(events))
        drain(ingester(store, stream, "i1"))
        row = store.execution("t1")
        assert row is not None and row.status == "FAILURE" and row.error_type == "ValueError"
        assert row.published_at is not None and row.worker_id == "w@h"
        assert [e.event for e in store.timeline("t1")] == [
            "published",
            "received",
            "started",
            "failed",
        ]
        backlog = stream.backlog(0)
        assert (backlog.waiting, backlog.pending) == (0, 0)

    def test_an_ingester_killed_before_its_commit_loses_nothing(
        self, store: Store, stream: RedisStream, tmp_path: Path
    ) -> None:
        sink = RelaySink(stream, SpillDirectory(tmp_path))
        for events in task_events("t1").values():
            sink.write(folded(events))
        # The first ingester reads everything, then dies (no write, no acknowledgement).
        assert len(stream.read("dead", 100, 0)) == 3
        assert stream.backlog(0).pending == 3
        drain(ingester(store, stream, "alive", claim_after_ms=0))
        assert store.execution("t1").status == "FAILURE"
        assert len(store.timeline("t1")) == 4

    def test_an_ingester_killed_after_its_commit_doubles_nothing(
        self, store: Store, stream: RedisStream, tmp_path: Path
    ) -> None:
        sink = RelaySink(stream, SpillDirectory(tmp_path))
        for events in task_events("t1").values():
            sink.write(folded(events))
        first = ingester(store, stream, "dies-before-ack")
        first.stream = _NoAck(stream)  # type: ignore[assignment]
        first.ingest_once(block_ms=0)
        assert len(store.timeline("t1")) == 4 and stream.backlog(0).pending == 3
        second = ingester(store, stream, "takes-over", claim_after_ms=0)
        drain(second)
        assert second.stats.batches_repeated == 3 and second.stats.batches_written == 0
        assert len(store.timeline("t1")) == 4
        assert store.execution("t1").attempts == 1
        assert stream.backlog(0).waiting == 0

    def test_what_cannot_be_written_is_set_aside_with_its_reason(
        self, store: Store, stream: RedisStream
    ) -> None:
        stream.append([b"garbage", encode_batch("ok", folded(task_events("t1")["pool"]))])
        drain(ingester(store, stream, "i1"))
        assert store.execution("t1") is not None
        rejected = stream.client.xrange(f"{stream.key}:rejected")
        assert len(rejected) == 1
        assert rejected[0][1][b"b"] == b"garbage"
        assert b"not a celery-ops batch" in rejected[0][1][b"reason"]
        assert stream.backlog(0).waiting == 0


class _NoAck:
    """The stream as an ingester killed between its commit and its acknowledgement sees it."""

    def __init__(self, stream: RedisStream) -> None:
        self.stream = stream

    def read(self, *args: object, **kwargs: object) -> list[tuple[bytes, bytes | None]]:
        return self.stream.read(*args, **kwargs)  # type: ignore[arg-type]

    def ack(self, entry_ids: list[bytes]) -> None:
        pass

    def set_aside(self, payload: bytes, reason: str) -> None:
        self.stream.set_aside(payload, reason)


class TestWhenTheBrokerIsDown:
    def test_a_process_that_exits_leaves_its_batches_for_the_next_one(
        self, store: Store, stream: RedisStream, tmp_path: Path
    ) -> None:
        down = RedisStream("redis://127.0.0.1:1/0", stream.key)  # nothing listens there
        exiting = RelaySink(down, SpillDirectory(tmp_path))
        for task_id in ("t1", "t2"):
            exiting.write(folded(task_events(task_id)["producer"]))
        exiting.close()  # the process exits: its spill file stays
        assert len(list(tmp_path.glob("*.spill"))) == 1
        # The next process on the host, with the broker back, hands them over.
        RelaySink(stream, SpillDirectory(tmp_path)).write(folded(task_events("t3")["producer"]))
        drain(ingester(store, stream, "i1"))
        assert all(store.execution(t) is not None for t in ("t1", "t2", "t3"))
        assert list(tmp_path.glob("*.spill")) == []


def relaying_app(database_url: str, stream_key: str, spill: Path) -> Celery:
    app = Celery(f"relay-{uuid.uuid4().hex[:6]}", broker=REDIS_BROKER)
    app.conf.task_default_queue = f"nobody-{uuid.uuid4().hex[:6]}"
    celery_ops.init_app(
        app,
        database_url=database_url,
        write_mode="relay",
        relay_stream=stream_key,
        spill_dir=str(spill),
    )
    return app


class TestARelayingProducer:
    def test_its_sends_reach_the_store_only_through_an_ingester(
        self, store: Store, stream: RedisStream, tmp_path: Path
    ) -> None:
        app = relaying_app(store.url, stream.key, tmp_path)
        ops = celery_ops.get_ops(app)
        sent = [app.send_task("proj.add", (i, i)).id for i in range(20)]
        assert ops.recorder.flush(10)
        assert store.execution(sent[0]) is None  # in the stream, not in the store
        assert stream.backlog(0).waiting >= 1
        result = CliRunner().invoke(ops_command, ["ingest", "--once"], obj=_CeleryContext(app))
        assert result.exit_code == 0, result.output
        assert "ingested" in result.output
        assert all(store.execution(task_id).status == "PENDING" for task_id in sent)
        ops.recorder.close()
        app.close()

    def test_ingest_explains_itself_in_direct_mode(self, store: Store) -> None:
        app = Celery("direct", broker=REDIS_BROKER)
        celery_ops.init_app(app, database_url=store.url)
        result = CliRunner().invoke(ops_command, ["ingest", "--once"], obj=_CeleryContext(app))
        assert result.exit_code == 1
        assert "ops_write_mode is 'direct'" in result.output


class _CeleryContext:
    """What `celery -A proj` leaves in click's context: the app."""

    def __init__(self, app: Celery) -> None:
        self.app = app
