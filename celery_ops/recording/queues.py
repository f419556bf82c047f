"""The relay's stream on an AMQP broker (RabbitMQ): a durable queue of persistent messages.

Producers publish with publisher confirms, so a batch counts as handed over only once the
broker has it. Ingesters take messages with ``basic.get`` and acknowledge them after the
commit; a message an ingester took and never acknowledged (it died, its connection closed)
goes back to the queue at once and is delivered to another ingester, so delivery is at least
once and the store's batch ids make the effect exactly once.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from typing import Any

import kombu

from celery_ops.recording.relay import StreamUnavailable
from celery_ops.recording.streams import StreamBacklog
from celery_ops.store.errors import one_line

#: kombu's type hints are partial: its objects are Any here.
_kombu: Any = kombu

#: A broker that does not answer within this is down for the recorder.
CONNECT_TIMEOUT_S = 2.0


class BrokerQueueStream:
    """The relay queue named ``name`` on the broker at ``url``."""

    def __init__(self, url: str, name: str) -> None:
        self.url = url
        self.name = name
        self._queue = _kombu.Queue(name, _kombu.Exchange(""), routing_key=name, durable=True)
        self._rejected = _kombu.Queue(
            f"{name}.rejected", _kombu.Exchange(""), routing_key=f"{name}.rejected", durable=True
        )
        self._connection: Any = None
        self._pid = os.getpid()
        self._lock = threading.Lock()
        #: Messages taken and not yet acknowledged, by delivery tag.
        self._taken: dict[bytes, Any] = {}

    # The connection: one per process (never shared across a fork), made on first use.

    def _connected(self) -> Any:
        if self._connection is not None and self._pid == os.getpid():
            return self._connection
        self._pid, self._taken = os.getpid(), {}
        connection = _kombu.Connection(
            self.url,
            connect_timeout=CONNECT_TIMEOUT_S,
            transport_options={"confirm_publish": True},
        )
        connection.ensure_connection(max_retries=1, timeout=CONNECT_TIMEOUT_S)
        self._queue(connection.default_channel).declare()
        self._connection = connection
        return connection

    def _reset(self) -> None:
        connection, self._connection, self._taken = self._connection, None, {}
        if connection is not None:
            with contextlib.suppress(Exception):  # closing a connection already broken
                connection.release()

    def _run(self, action: Any) -> Any:
        with self._lock:
            try:
                return action(self._connected())
            except StreamUnavailable:
                raise
            except Exception as exc:  # kombu's and the transport's errors alike
                self._reset()
                raise StreamUnavailable(one_line(exc)) from exc

    # The Stream protocol

    def append(self, payloads: list[bytes]) -> None:
        def publish(connection: Any) -> None:
            producer = connection.Producer(serializer=None)
            for payload in payloads:
                producer.publish(
                    payload,
                    routing_key=self.name,
                    content_type="application/octet-stream",
                    content_encoding="binary",
                    delivery_mode=2,
                    retry=False,
                )

        self._run(publish)

    def read(
        self, consumer: str, count: int, block_ms: int, claim_after_ms: int | None = None
    ) -> list[tuple[bytes, bytes | None]]:
        """Up to ``count`` messages; waits up to ``block_ms`` for the first. (The broker
        itself gives back what a dead ingester took: ``claim_after_ms`` is not needed.)"""
        deadline = time.monotonic() + block_ms / 1000

        def take(connection: Any) -> list[tuple[bytes, bytes | None]]:
            queue = self._queue(connection.default_channel)
            entries: list[tuple[bytes, bytes | None]] = []
            while len(entries) < count:
                message = queue.get(no_ack=False, accept=None)
                if message is None:
                    break
                tag = str(message.delivery_tag).encode()
                self._taken[tag] = message
                body = message.body
                entries.append((tag, body.encode() if isinstance(body, str) else body))
            return entries

        while True:
            entries: list[tuple[bytes, bytes | None]] = self._run(take)
            if entries or time.monotonic() >= deadline:
                return entries
            time.sleep(min(0.1, max(0.0, deadline - time.monotonic())))

    def ack(self, entry_ids: list[bytes]) -> None:
        def acknowledge(_connection: Any) -> None:
            for tag in entry_ids:
                message = self._taken.pop(tag, None)
                if message is not None:
                    message.ack()

        self._run(acknowledge)

    def set_aside(self, payload: bytes, reason: str) -> None:
        def publish(connection: Any) -> None:
            self._rejected(connection.default_channel).declare()
            connection.Producer(serializer=None).publish(
                payload,
                routing_key=self._rejected.name,
                content_type="application/octet-stream",
                content_encoding="binary",
                headers={"reason": reason},
                delivery_mode=2,
                retry=False,
            )

        self._run(publish)

    def backlog(self, now_ms: int) -> StreamBacklog:
        def depth(connection: Any) -> int:
            declared = self._queue(connection.default_channel).queue_declare(passive=True)
            return int(declared.message_count)

        waiting = self._run(depth)
        return StreamBacklog(waiting=waiting, pending=len(self._taken), oldest_age_s=None)

    def close(self) -> None:
        with self._lock:
            self._reset()
