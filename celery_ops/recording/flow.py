"""Where flow control decides: unique claims at publish, limit admissions before a run.

In direct mode both are decided in the store (:class:`StoreFlowState`), which every process
already writes to. In relay mode producers and pool processes hold no store connection, and
must not get one for this: on a Redis broker the claims, the permits and a copy of the limits
live on the broker (:class:`RedisFlowState`), each decision one Lua script (atomic on the
server, so as race-free as the store's unique index and gate locks). The ingesters keep that
state in step with the store: they free the claims and slots of what they write, and copy the
limits there every few seconds. On RabbitMQ, unique claims are taken in the store (one
connection per producer process that publishes unique tasks) and limits are not enforced.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any, Protocol

from celery_ops.core.limits import TaskLimit, parse_concurrency, parse_key, parse_rate
from celery_ops.recording.redis_client import open_redis
from celery_ops.store import RecordBatch, Store
from celery_ops.store.errors import one_line
from celery_ops.store.limits import RATE, SLOT_RETRY_SECONDS, Admission, Gate
from celery_ops.store.unique import Claim, Holder

logger = logging.getLogger("celery_ops.flow")

SOCKET_TIMEOUT_S = 2.0


class FlowUnavailable(Exception):
    """The place that keeps claims and permits cannot answer now."""


class FlowState(Protocol):
    #: Whether cluster-wide limits can be enforced with this state (not relay on RabbitMQ).
    enforces_limits: bool

    def claim(self, wanted: Claim, now: datetime, expires_at: datetime) -> Holder: ...

    def forget(self, task_name: str, key_hash: str, task_id: str) -> None: ...

    def limits(self) -> list[TaskLimit]: ...

    def admit(self, task_id: str, gates: Sequence[Gate], now: datetime) -> Admission: ...


class StoreFlowState:
    """Claims and admissions in the store (direct mode; unique claims on RabbitMQ relay)."""

    def __init__(self, store: Store, enforces_limits: bool = True) -> None:
        self.store = store
        self.enforces_limits = enforces_limits

    def claim(self, wanted: Claim, now: datetime, expires_at: datetime) -> Holder:
        return self.store.unique.claim(wanted, now, expires_at)

    def forget(self, task_name: str, key_hash: str, task_id: str) -> None:
        self.store.unique.forget(task_name, key_hash, task_id)

    def limits(self) -> list[TaskLimit]:
        return self.store.limits.all()

    def admit(self, task_id: str, gates: Sequence[Gate], now: datetime) -> Admission:
        return self.store.limits.admit(task_id, gates, now)


# A claim: the key holds the task id; a second key, by task id, says which claim it holds,
# so that an execution's start or end frees it knowing only its id.
_CLAIM = """
local holder = redis.call('GET', KEYS[1])
if holder then return holder end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('SET', KEYS[2], KEYS[1], 'PX', ARGV[2])
return ARGV[1]
"""

_RELEASE = """
for i, key in ipairs(KEYS) do
  local claim = redis.call('GET', key)
  if claim and redis.call('GET', claim) == ARGV[i] then redis.call('DEL', claim) end
  redis.call('DEL', key)
end
return #KEYS
"""

# An admission: every gate checked, then every permit added, in one script (Redis runs it
# alone). Times are the caller's, as in the store, raised to the newest start a rate gate
# counted (a caller that took the time before a slow call): starts are counted in the order
# they are let through, and the worker records the time returned as the task's start. A rate
# gate is a sorted set of starts scored by time; a slot gate a sorted set of task ids scored
# by expiry, and the last key lists the slot gates a task holds (to free them by id).
# ARGV: task id, now (µs), then kind, count, period (µs) per gate.
_ADMIT = """
local task_id, now = ARGV[1], tonumber(ARGV[2])
local gates = #KEYS - 1
for i = 1, gates do
  if ARGV[i * 3] == 'rate' then
    local newest = redis.call('ZRANGE', KEYS[i], -1, -1, 'WITHSCORES')
    if newest[2] and tonumber(newest[2]) > now then now = tonumber(newest[2]) end
  end
end
for i = 1, gates do
  local kind, count, us = ARGV[i * 3], tonumber(ARGV[i * 3 + 1]), tonumber(ARGV[i * 3 + 2])
  if kind == 'rate' then
    redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now - us)
    local held = redis.call('ZCARD', KEYS[i])
    if held >= count then
      local oldest = redis.call('ZRANGE', KEYS[i], 0, 0, 'WITHSCORES')
      return {0, tonumber(oldest[2]) + us - now, i, held}
    end
  else
    redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now)
    local held = redis.call('ZCARD', KEYS[i])
    if held >= count then return {0, -1, i, held} end
  end
end
for i = 1, gates do
  local kind, us = ARGV[i * 3], tonumber(ARGV[i * 3 + 2])
  if kind == 'rate' then
    redis.call('ZADD', KEYS[i], now, task_id .. ' ' .. string.format('%.0f', now))
  else
    redis.call('ZADD', KEYS[i], now + us, task_id)
    redis.call('SADD', KEYS[gates + 1], KEYS[i])
    redis.call('PEXPIRE', KEYS[gates + 1], math.ceil(us / 1000))
  end
  redis.call('PEXPIRE', KEYS[i], math.ceil(us / 1000))
end
return {1, now}
"""

_FREE_SLOTS = """
for i, key in ipairs(KEYS) do
  for _, gate in ipairs(redis.call('SMEMBERS', key)) do redis.call('ZREM', gate, ARGV[i]) end
  redis.call('DEL', key)
end
return #KEYS
"""


class RedisFlowState:
    """Claims, permits and a copy of the limits on the Redis broker at ``url``, under
    ``prefix`` (the relay stream's key)."""

    enforces_limits = True

    def __init__(self, url: str, prefix: str) -> None:
        try:
            self.client, self._errors = open_redis(url, SOCKET_TIMEOUT_S, SOCKET_TIMEOUT_S)
        except ImportError as exc:  # pragma: no cover - the redis extra is missing
            raise FlowUnavailable(str(exc)) from exc
        self.prefix = prefix
        self._claim = self.client.register_script(_CLAIM)
        self._release = self.client.register_script(_RELEASE)
        self._admit = self.client.register_script(_ADMIT)
        self._free_slots = self.client.register_script(_FREE_SLOTS)

    # Unique claims

    def claim(self, wanted: Claim, now: datetime, expires_at: datetime) -> Holder:
        ms = max(1, int((expires_at - now).total_seconds() * 1000))
        keys = [self._claim_key(wanted.task_name, wanted.key_hash), self._claim_of(wanted.task_id)]
        holder = self._run(self._claim, keys, [wanted.task_id, ms])
        holder = holder.decode() if isinstance(holder, bytes) else str(holder)
        return Holder(holder, holder == wanted.task_id)

    def forget(self, task_name: str, key_hash: str, task_id: str) -> None:
        self.release([task_id])

    def release(self, task_ids: Sequence[str]) -> None:
        """Free the claims these executions hold (they started or ended, as asked)."""
        ids = list(dict.fromkeys(task_ids))
        if ids:
            self._run(self._release, [self._claim_of(task_id) for task_id in ids], ids)

    # Limits

    def limits(self) -> list[TaskLimit]:
        """The limits as an ingester last copied them (none before the first copy)."""
        try:
            text = self.client.get(self._key("limits"))
        except self._errors as exc:
            raise FlowUnavailable(one_line(exc)) from exc
        try:
            rows = json.loads(text) if text else []
        except ValueError:
            rows = []
        found = []
        for row in rows if isinstance(rows, list) else []:
            limit = _limit(row)
            if limit is not None:
                found.append(limit)
        return found

    def copy_limits(self, limits: Sequence[TaskLimit]) -> None:
        """Replace the copy of the limits the pool processes read."""
        text = json.dumps([limit.as_dict() for limit in limits])
        try:
            self.client.set(self._key("limits"), text)
        except self._errors as exc:
            raise FlowUnavailable(one_line(exc)) from exc

    def admit(self, task_id: str, gates: Sequence[Gate], now: datetime) -> Admission:
        ordered = sorted(gates, key=lambda g: (g.task_name, g.key_hash, g.kind))
        keys = [self._key("limit", g.kind, g.task_name, g.key_hash) for g in ordered]
        keys.append(self._slots_of(task_id))
        arguments: list[Any] = [task_id, int(now.timestamp() * 1_000_000)]
        for gate in ordered:
            arguments += [gate.kind, gate.count, max(1, int(gate.seconds * 1_000_000))]
        answer = self._run(self._admit, keys, arguments)
        if int(answer[0]) == 1:
            at = datetime.fromtimestamp(int(answer[1]) / 1_000_000, timezone.utc)
            return Admission(True, at=at)
        wait_us, gate, held = int(answer[1]), ordered[int(answer[2]) - 1], int(answer[3])
        if gate.kind == RATE:
            reason = f"rate limit {gate.count} per {gate.seconds:g}s reached"
            return Admission(False, max(wait_us / 1_000_000, 0.001), reason)
        reason = f"concurrency limit {gate.count} reached ({held} running)"
        return Admission(False, SLOT_RETRY_SECONDS, reason)

    def free_slots(self, task_ids: Sequence[str]) -> None:
        """Give back the slots of these runs (they ended)."""
        ids = list(dict.fromkeys(task_ids))
        if ids:
            self._run(self._free_slots, [self._slots_of(task_id) for task_id in ids], ids)

    def slots_held(self, task_name: str) -> int:
        """Slots of ``task_name`` held now, every key (for the tests and the curious)."""
        pattern = self._key("limit", "slot", task_name, "*")
        try:
            return sum(int(self.client.zcard(key)) for key in self.client.scan_iter(pattern))
        except self._errors as exc:
            raise FlowUnavailable(one_line(exc)) from exc

    # What the ingesters do

    def settle(self, batch: RecordBatch) -> None:
        """Free what the executions of a batch just written gave back: their unique claims
        and their concurrency slots. Unanswered, they expire on their own."""
        try:
            self.release(batch.released)
            self.free_slots(batch.freed_slots)
        except FlowUnavailable as exc:
            logger.warning("celery-ops: could not free claims or slots on Redis (%s)", exc)

    def _run(self, script: Any, keys: list[str], arguments: list[Any]) -> Any:
        try:
            return script(keys=keys, args=arguments)
        except self._errors as exc:
            raise FlowUnavailable(one_line(exc)) from exc

    def _key(self, *parts: str) -> str:
        return ":".join((self.prefix, *parts))

    def _claim_key(self, task_name: str, key_hash: str) -> str:
        return self._key("unique", task_name, key_hash)

    def _claim_of(self, task_id: str) -> str:
        return self._key("unique-of", task_id)

    def _slots_of(self, task_id: str) -> str:
        return self._key("slots-of", task_id)


def _limit(row: Any) -> TaskLimit | None:
    """A copied limit, read leniently (a copy that makes no sense limits nothing)."""
    try:
        rate = parse_rate(row["rate"]) if row.get("rate") else None
        concurrency = parse_concurrency(row["concurrency"]) if row.get("concurrency") else None
        return TaskLimit(
            str(row["task"]),
            rate,
            parse_key(row.get("rate_key") or None) if rate else (),
            concurrency,
            parse_key(row.get("concurrency_key") or None) if concurrency else (),
        )
    except (ValueError, TypeError, KeyError, AttributeError):
        return None
