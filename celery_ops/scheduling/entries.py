"""Schedules from elsewhere: Celery's ``beat_schedule`` entries and celery-redbeat's keys."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from celery.schedules import crontab, schedule, solar

from celery_ops.scheduling.definition import SENDABLE_OPTIONS, ScheduleError, ScheduleSpec
from celery_ops.scheduling.timing import CRON, INTERVAL


def spec_from_celery_entry(name: str, entry: Any, source: str = "config") -> ScheduleSpec:
    """A ``beat_schedule`` entry (a dict, as in Celery's docs) as a :class:`ScheduleSpec`."""
    if not isinstance(entry, dict) or "task" not in entry or "schedule" not in entry:
        raise ScheduleError("an entry needs at least 'task' and 'schedule'")
    options = dict(entry.get("options") or {})
    queue = options.pop("queue", None)
    priority = options.pop("priority", None)
    unsupported = sorted(set(options) - SENDABLE_OPTIONS)
    if unsupported:
        raise ScheduleError(f"option(s) {', '.join(unsupported)} cannot be stored")
    return ScheduleSpec(
        name=name,
        task=entry["task"],
        args=list(entry.get("args") or ()),
        kwargs=dict(entry.get("kwargs") or {}),
        queue=queue,
        priority=priority,
        options=options,
        source=source,
        **_timing_of(entry["schedule"]),
    )


def cron_expression_of(value: crontab) -> str:
    """The five cron fields of a Celery ``crontab`` (its fields as the user wrote them)."""
    parts = (
        value._orig_minute,
        value._orig_hour,
        value._orig_day_of_month,
        value._orig_month_of_year,
        value._orig_day_of_week,
    )
    return " ".join(_cron_field(part) for part in parts)


def read_redbeat(redis_url: str, key_prefix: str = "redbeat:") -> Iterator[ScheduleSpec]:
    """Every entry celery-redbeat keeps under ``key_prefix`` in the Redis at ``redis_url``."""
    try:
        import redis
    except ImportError:  # an optional part: say which extra brings it
        raise ScheduleError(
            "importing from celery-redbeat needs the redis client: pip install 'celery-ops[redis]'"
        ) from None
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        for key in client.zrange(key_prefix + ":schedule", 0, -1):
            name = str(key).removeprefix(key_prefix)
            definition, meta = client.hmget(str(key), ["definition", "meta"])
            if not definition:
                continue
            yield spec_from_redbeat(name, str(definition), str(meta) if meta else None)
    finally:
        client.close()


def spec_from_redbeat(key_name: str, definition: str, meta: str | None) -> ScheduleSpec:
    """One redbeat entry (the JSON of its ``definition`` and ``meta`` hash fields)."""
    try:
        entry = json.loads(definition, object_hook=_redbeat_object)
        state = json.loads(meta, object_hook=_redbeat_object) if meta else {}
    except (TypeError, ValueError) as exc:
        raise ScheduleError(f"redbeat entry {key_name!r} is not readable: {exc}") from None
    spec = spec_from_celery_entry(entry.get("name") or key_name, entry, source="redbeat")
    last_run_at = state.get("last_run_at")
    start_at = None
    # Keep an interval's phase: its next run is where redbeat would have put it.
    if isinstance(last_run_at, datetime) and spec.interval_seconds:
        start_at = last_run_at + timedelta(seconds=spec.interval_seconds)
    return ScheduleSpec(
        **{**spec.__dict__, "enabled": bool(entry.get("enabled", True)), "start_at": start_at}
    )


# Internals


def _timing_of(value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        raise ScheduleError("the schedule must be a number of seconds, a timedelta or a crontab")
    if isinstance(value, int | float):
        return {"kind": INTERVAL, "interval_seconds": float(value)}
    if isinstance(value, timedelta):
        return {"kind": INTERVAL, "interval_seconds": value.total_seconds()}
    if isinstance(value, crontab):
        return {"kind": CRON, "cron_expression": cron_expression_of(value)}
    if isinstance(value, solar):
        raise ScheduleError("solar schedules are not supported: use a cron expression")
    if isinstance(value, schedule):
        return {"kind": INTERVAL, "interval_seconds": value.run_every.total_seconds()}
    raise ScheduleError(f"unsupported schedule type {type(value).__name__}")


def _cron_field(part: Any) -> str:
    if isinstance(part, str):
        return part.replace(" ", "")
    if isinstance(part, int):
        return str(part)
    try:
        return ",".join(str(item) for item in sorted(part))
    except TypeError:
        raise ScheduleError(f"cannot express crontab field {part!r} as cron") from None


def _redbeat_object(value: dict[str, Any]) -> Any:
    kind = value.get("__type__")
    if kind is None:
        return value
    if kind == "interval":
        return timedelta(seconds=float(value["every"]))
    if kind == "crontab":
        return crontab(
            minute=value.get("minute", "*"),
            hour=value.get("hour", "*"),
            day_of_week=value.get("day_of_week", "*"),
            day_of_month=value.get("day_of_month", "*"),
            month_of_year=value.get("month_of_year", "*"),
        )
    if kind == "datetime":
        fields = {k: value[k] for k in ("year", "month", "day", "hour", "minute", "second")}
        zone = value.get("timezone", "UTC")
        moment = datetime(**fields, microsecond=value.get("microsecond", 0))
        if isinstance(zone, int | float):
            return moment.replace(tzinfo=timezone(timedelta(seconds=zone)))
        return moment.replace(tzinfo=ZoneInfo(zone)).astimezone(timezone.utc)
    raise ScheduleError(f"redbeat schedule type {kind!r} is not supported (only interval, crontab)")
