"""The relay's stream on a Redis broker: a Redis stream read by a consumer group.

Producers ``XADD``; ingesters ``XREADGROUP`` and, once the batches are committed to the store,
``XACK`` and ``XDEL`` them. An entry read by an ingester that died before acknowledging it
stays pending; another ingester claims it (``XAUTOCLAIM``) once it has been idle
``ops_relay_claim_after``, so delivery is at least once and the store's batch ids make the effect
exactly once.
"""

from __future__ import annotations

from dataclasses import dataclass

from celery_ops.recording.redis_client import open_redis
from celery_ops.recording.relay import StreamUnavailable
from celery_ops.store.errors import one_line

STREAM_KEY = "celery-ops:relay"
GROUP = "celery-ops-ingesters"
#: Redis answers within milliseconds; a broker that does not is down for the recorder.
SOCKET_TIMEOUT_S = 5.0
CONNECT_TIMEOUT_S = 2.0


@dataclass(frozen=True)
class StreamBacklog:
    """How far the ingesters are behind."""

    waiting: int  # entries in the stream (not yet acknowledged, or never read)
    pending: int  # read by an ingester, not yet acknowledged
    oldest_age_s: float | None  # age of the oldest entry, from its id's time


class RedisStream:
    """The relay stream on the Redis server at ``url`` (the app's broker)."""

    def __init__(self, url: str, key: str = STREAM_KEY, group: str = GROUP) -> None:
        try:
            self.client, self._redis_errors = open_redis(url, SOCKET_TIMEOUT_S, CONNECT_TIMEOUT_S)
        except ImportError as exc:  # pragma: no cover - the redis extra is missing
            raise StreamUnavailable(str(exc)) from exc
        self.key = key
        self.group = group
        self._group_ready = False

    def append(self, payloads: list[bytes]) -> None:
        try:
            pipe = self.client.pipeline(transaction=False)
            for payload in payloads:
                pipe.xadd(self.key, {b"b": payload})
            pipe.execute()
        except self._redis_errors as exc:
            raise StreamUnavailable(one_line(exc)) from exc

    def read(
        self, consumer: str, count: int, block_ms: int, claim_after_ms: int | None = None
    ) -> list[tuple[bytes, bytes | None]]:
        """Up to ``count`` entries for ``consumer``: with ``claim_after_ms``, first those
        another ingester left unacknowledged that long; then new ones (waiting up to
        ``block_ms`` for some). An entry deleted meanwhile comes back with None."""
        try:
            self._ensure_group()
            if claim_after_ms is not None:
                _, claimed, *_ = self.client.xautoclaim(
                    self.key, self.group, consumer, claim_after_ms, "0-0", count=count
                )
                if claimed:
                    return [(entry_id, _payload(fields)) for entry_id, fields in claimed]
            answer = self.client.xreadgroup(
                self.group, consumer, {self.key: ">"}, count=count, block=block_ms or None
            )
        except self._redis_errors as exc:
            raise StreamUnavailable(one_line(exc)) from exc
        entries: list[tuple[bytes, bytes | None]] = []
        for _key, messages in answer or []:
            entries.extend((entry_id, _payload(fields)) for entry_id, fields in messages)
        return entries

    def ack(self, entry_ids: list[bytes]) -> None:
        if not entry_ids:
            return
        try:
            pipe = self.client.pipeline(transaction=True)
            pipe.xack(self.key, self.group, *entry_ids)
            pipe.xdel(self.key, *entry_ids)
            pipe.execute()
        except self._redis_errors as exc:
            raise StreamUnavailable(one_line(exc)) from exc

    def set_aside(self, payload: bytes, reason: str) -> None:
        """Keep a batch no ingester can write in ``<key>:rejected``, with the reason, for an
        operator to look at (``XRANGE celery-ops:relay:rejected - +``)."""
        try:
            self.client.xadd(f"{self.key}:rejected", {b"b": payload, b"reason": reason})
        except self._redis_errors as exc:
            raise StreamUnavailable(one_line(exc)) from exc

    def backlog(self, now_ms: int) -> StreamBacklog:
        try:
            self._ensure_group()
            waiting = int(self.client.xlen(self.key))
            pending = int(self.client.xpending(self.key, self.group)["pending"])
            oldest = self.client.xrange(self.key, count=1)
        except self._redis_errors as exc:
            raise StreamUnavailable(one_line(exc)) from exc
        age = None
        if oldest:
            entry_ms = int(oldest[0][0].split(b"-")[0])
            age = max(0.0, (now_ms - entry_ms) / 1000)
        return StreamBacklog(waiting, pending, age)

    def _ensure_group(self) -> None:
        if self._group_ready:
            return
        import redis

        try:
            self.client.xgroup_create(self.key, self.group, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self._group_ready = True

    def close(self) -> None:
        self.client.close()


def _payload(fields: dict[bytes, bytes] | None) -> bytes | None:
    return fields.get(b"b") if fields else None
