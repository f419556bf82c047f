"""The client of the Redis broker that relay mode's stream and flow control use: one way to
open it, one list of what its calls raise."""

from __future__ import annotations

from typing import Any

#: What a process in relay mode on a Redis broker says when redis-py is not installed.
REDIS_MISSING = "relay mode on a Redis broker needs redis-py: pip install 'celery-ops[redis]'"


def open_redis(
    url: str, timeout: float, connect_timeout: float
) -> tuple[Any, tuple[type[BaseException], ...]]:
    """A client of the Redis server at ``url``, and the errors its calls raise (a server
    gone, a timeout, a refused command). ImportError, saying what to install, without
    redis-py. Its connection pool is fork-safe: a pool process opens its own connection."""
    try:
        import redis
    except ImportError as exc:  # pragma: no cover - the redis extra is missing
        raise ImportError(REDIS_MISSING) from exc
    client = redis.Redis.from_url(
        url, socket_timeout=timeout, socket_connect_timeout=connect_timeout
    )
    return client, (redis.RedisError, OSError)
