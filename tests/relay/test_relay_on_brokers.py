"""Relay mode on real brokers (a Redis stream, a RabbitMQ queue): batches go through the
stream to the store, are delivered at least once and written once, and wait on disk while the
broker is down."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from celery import Celery
from click.testing import CliRunner
from helpers.services import RABBITMQ_BROKER, REDIS_BROKER, require
from relay.test_relayed_batches import folded, task_events

import celery_ops
from celery_ops.cli import ops as ops_command
from celery_ops.operations import Actor
from celery_ops.recording.ingest import Ingester
from celery_ops.recording.queues import BrokerQueueStream
from celery_ops.recording.relay import RelaySink, encode_batch
from celery_ops.recording.spill import SpillDirectory
from celery_ops.recording.streams import RedisStream
from celery_ops.store import Store

pytestmark = pytest.mark.slow

Stream = RedisStream | BrokerQueueStream


class Broker:
    """One relay stream on one kind of broker, as several processes reach it."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.url = REDIS_BROKER if kind == "redis" else RABBITMQ_BROKER
        self.down_url = "redis://127.0.0.1:1/0" if kind == "redis" else "amqp://127.0.0.1:1//"
        self.key = f"test-relay-{uuid.uuid4().hex[:8]}"
        self.opened: list[Stream] = []

    def stream(self, url: str | None = None) -> Stream:
        """The stream as a new process connects to it."""
        kind = RedisStream if self.kind == "redis" else BrokerQueueStream
        stream = kind(url or self.url, self.key)
        self.opened.append(stream)
        return stream

    def die(self, stream: Stream) -> None:
        """The process holding ``stream`` dies: RabbitMQ gives back what it took at once; a
        Redis entry waits to be claimed (the ingesters here claim after 0 ms)."""
        stream.close()

    def waiting(self) -> int:
        return self.stream().backlog(0).waiting

    def rejected(self) -> list[tuple[bytes, str]]:
        if self.kind == "redis":
            client: Any = RedisStream(self.url, self.key).client
            entries = client.xrange(f"{self.key}:rejected")
            return [(f[b"b"], f[b"reason"].decode()) for _, f in entries]
        import kombu

        found = []
        with kombu.Connection(self.url) as connection:
            queue = kombu.Queue(f"{self.key}.rejected")(connection.default_channel)
            while (message := queue.get(no_ack=True, accept=None)) is not None:
                found.append((message.body, message.headers["reason"]))
        return found

    def remove(self) -> None:
        for stream in self.opened:
            stream.close()
        if self.kind == "redis":
            RedisStream(self.url, self.key).client.delete(self.key, f"{self.key}:rejected")
            return
        import kombu

        with kombu.Connection(self.url) as connection:
            for name in (self.key, f"{self.key}.rejected"):
                kombu.Queue(name)(connection.default_channel).delete()


@pytest.fixture(params=["redis", "rabbitmq"])
def broker(request: pytest.FixtureRequest) -> Iterator[Broker]:
    require(request.param)
    broker = Broker(request.param)
    yield broker
    broker.remove()


def ingester(store: Store, stream: Stream, name: str) -> Ingester:
    return Ingester(store, stream, name, claim_after_ms=0)


def drain(ingester: Ingester) -> None:
    while ingester.ingest_once(block_ms=0):
        pass


class TestThroughTheStream:
    def test_three_processes_batches_become_one_row(
        self, store: Store, broker: Broker, tmp_path: Path
    ) -> None:
        for events in task_events("t1").values():
            RelaySink(broker.stream(), SpillDirectory(tmp_path)).write(folded(events))
        drain(ingester(store, broker.stream(), "i1"))
        row = store.execution("t1")
        assert row is not None and row.status == "FAILURE" and row.error_type == "ValueError"
        assert row.published_at is not None and row.worker_id == "w@h"
        assert [e.event for e in store.timeline("t1")] == [
            "published",
            "received",
            "started",
            "failed",
        ]
        assert broker.waiting() == 0

    def test_an_ingester_killed_before_its_commit_loses_nothing(
        self, store: Store, broker: Broker, tmp_path: Path
    ) -> None:
        sink = RelaySink(broker.stream(), SpillDirectory(tmp_path))
        for events in task_events("t1").values():
            sink.write(folded(events))
        # The first ingester reads everything, then dies (no write, no acknowledgement).
        dead = broker.stream()
        assert len(dead.read("dead", 100, 0)) == 3
        broker.die(dead)
        drain(ingester(store, broker.stream(), "alive"))
        row = store.execution("t1")
        assert row is not None and row.status == "FAILURE"
        assert len(store.timeline("t1")) == 4

    def test_an_ingester_killed_after_its_commit_doubles_nothing(
        self, store: Store, broker: Broker, tmp_path: Path
    ) -> None:
        sink = RelaySink(broker.stream(), SpillDirectory(tmp_path))
        for events in task_events("t1").values():
            sink.write(folded(events))
        dying = broker.stream()
        first = Ingester(store, _NoAck(dying), "dies-before-ack", claim_after_ms=0)
        first.ingest_once(block_ms=0)
        assert len(store.timeline("t1")) == 4
        broker.die(dying)
        second = ingester(store, broker.stream(), "takes-over")
        drain(second)
        assert second.stats.batches_repeated == 3 and second.stats.batches_written == 0
        assert len(store.timeline("t1")) == 4
        row = store.execution("t1")
        assert row is not None and row.attempts == 1
        assert broker.waiting() == 0

    def test_what_cannot_be_written_is_set_aside_with_its_reason(
        self, store: Store, broker: Broker
    ) -> None:
        good = encode_batch("ok", folded(task_events("t1")["pool"]))
        broker.stream().append([b"garbage", good])
        drain(ingester(store, broker.stream(), "i1"))
        assert store.execution("t1") is not None
        rejected = broker.rejected()
        assert len(rejected) == 1
        payload, reason = rejected[0]
        assert payload == b"garbage" and "not a celery-ops batch" in reason
        assert broker.waiting() == 0


class _NoAck:
    """The stream as an ingester killed between its commit and its acknowledgement sees it."""

    def __init__(self, stream: Stream) -> None:
        self.stream = stream

    def read(
        self, consumer: str, count: int, block_ms: int, claim_after_ms: int | None = None
    ) -> list[tuple[bytes, bytes | None]]:
        return self.stream.read(consumer, count, block_ms, claim_after_ms)

    def ack(self, entry_ids: list[bytes]) -> None:
        pass

    def set_aside(self, payload: bytes, reason: str) -> None:
        self.stream.set_aside(payload, reason)


class TestWhenTheBrokerIsDown:
    def test_a_process_that_exits_leaves_its_batches_for_the_next_one(
        self, store: Store, broker: Broker, tmp_path: Path
    ) -> None:
        exiting = RelaySink(broker.stream(broker.down_url), SpillDirectory(tmp_path))
        for task_id in ("t1", "t2"):
            exiting.write(folded(task_events(task_id)["producer"]))
        exiting.close()  # the process exits: its spill file stays
        assert len(list(tmp_path.glob("*.spill"))) == 1
        # The next process on the host, with the broker back, hands them over.
        following = RelaySink(broker.stream(), SpillDirectory(tmp_path))
        following.write(folded(task_events("t3")["producer"]))
        drain(ingester(store, broker.stream(), "i1"))
        assert all(store.execution(t) is not None for t in ("t1", "t2", "t3"))
        assert list(tmp_path.glob("*.spill")) == []


def relaying_app(database_url: str, broker: Broker, spill: Path) -> Celery:
    app = Celery(f"relay-{uuid.uuid4().hex[:6]}", broker=broker.url)
    app.conf.task_default_queue = f"nobody-{uuid.uuid4().hex[:6]}"
    celery_ops.init_app(
        app,
        database_url=database_url,
        write_mode="relay",
        relay_stream=broker.key,
        spill_dir=str(spill),
    )
    return app


class TestARelayingProducer:
    def test_its_sends_reach_the_store_only_through_an_ingester(
        self, store: Store, broker: Broker, tmp_path: Path
    ) -> None:
        app = relaying_app(store.url, broker, tmp_path)
        ops = celery_ops.get_ops(app)
        sent = [app.send_task("proj.add", (i, i)).id for i in range(20)]
        assert ops.recorder.flush(10)
        assert store.execution(sent[0]) is None  # in the stream, not in the store
        status = ops.operations(Actor.cli()).maintenance.relay_status()
        assert status.mode == "relay" and status.waiting and status.waiting >= 1
        assert status.problem is None
        result = CliRunner().invoke(ops_command, ["ingest", "--once"], obj=_CeleryContext(app))
        assert result.exit_code == 0, result.output
        assert "ingested" in result.output
        shown = CliRunner().invoke(ops_command, ["relay"], obj=_CeleryContext(app))
        assert shown.exit_code == 0, shown.output
        assert "write mode: relay" in shown.output
        assert "stream: 0 batch(es) waiting" in shown.output
        for task_id in sent:
            row = store.execution(task_id)
            assert row is not None and row.status == "PENDING"
        ops.recorder.close()
        app.close()
        if broker.kind == "rabbitmq":
            # The task messages themselves: nobody consumes their queue.
            import kombu

            with kombu.Connection(broker.url) as connection:
                name = app.conf.task_default_queue
                kombu.Queue(name)(connection.default_channel).delete()

    def test_ingest_explains_itself_in_direct_mode(self, store: Store) -> None:
        app = Celery("direct", broker=REDIS_BROKER)
        celery_ops.init_app(app, database_url=store.url)
        result = CliRunner().invoke(ops_command, ["ingest", "--once"], obj=_CeleryContext(app))
        assert result.exit_code == 1
        assert "ops_write_mode is 'direct'" in result.output
        shown = CliRunner().invoke(ops_command, ["relay"], obj=_CeleryContext(app))
        assert shown.exit_code == 0 and "write mode: direct" in shown.output


class _CeleryContext:
    """What `celery -A proj` leaves in click's context: the app."""

    def __init__(self, app: Celery) -> None:
        self.app = app
