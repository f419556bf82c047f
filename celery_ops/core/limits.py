"""Cluster-wide limits of a task type: a rate ("10/s") and a number running at once, each
over the whole cluster or per key (argument values such as a tenant or an account).

Settings (*contract*): ``ops_rate_limits = {"proj.send_email": "100/m", "proj.call_api":
{"rate": "10/s", "key": ["account_id"]}}`` and ``ops_concurrency_limits = {"proj.report": 2,
"proj.sync": {"limit": 1, "key": ["tenant_id"]}}``. They seed the store; a live edit (the
dashboard, ``PUT /api/limits/<task>``) wins over them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from celery_ops.core.errors import InvalidInput

_RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d*(?:\.\d+)?)\s*([smhd])\s*$")
_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86_400.0}
#: A limit's highest count: a rate of more than a million per period is no limit.
MAX_COUNT = 1_000_000
MAX_CONCURRENCY = 100_000
MAX_KEY_NAMES = 10


@dataclass(frozen=True)
class Rate:
    """``count`` starts per ``per_seconds``, as written (``"100/m"``, ``"5/10s"``)."""

    count: int
    per_seconds: float
    text: str


@dataclass(frozen=True)
class TaskLimit:
    """What limits one task type; a part left None does not limit."""

    task_name: str
    rate: Rate | None = None
    rate_key: tuple[str, ...] = ()
    concurrency: int | None = None
    concurrency_key: tuple[str, ...] = ()

    @property
    def limits(self) -> bool:
        return self.rate is not None or self.concurrency is not None

    def as_dict(self) -> dict[str, Any]:
        return {
            "task": self.task_name,
            "rate": self.rate.text if self.rate else None,
            "rate_key": list(self.rate_key),
            "concurrency": self.concurrency,
            "concurrency_key": list(self.concurrency_key),
        }


def parse_rate(value: Any) -> Rate:
    """``"100/m"``, ``"10/s"``, ``"5/10s"``: a count, a slash, an optional number and a unit."""
    match = _RATE.match(value) if isinstance(value, str) else None
    if match is None:
        raise InvalidInput(
            f"a rate is a count per period such as 10/s, 100/m, 5/10s or 1000/h, not {value!r:.40}"
        )
    count, amount, unit = int(match.group(1)), match.group(2), match.group(3)
    seconds = (float(amount) if amount else 1.0) * _UNITS[unit]
    if not 0 < count <= MAX_COUNT or not math.isfinite(seconds) or not 0 < seconds <= 86_400:
        raise InvalidInput(
            f"a rate counts 1 to {MAX_COUNT:,} starts over at most a day (e.g. 10/s), "
            f"not {value!r:.40}"
        )
    return Rate(count, seconds, f"{count}/{amount}{unit}" if amount else f"{count}/{unit}")


def parse_concurrency(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_CONCURRENCY:
        raise InvalidInput(
            f"a concurrency limit is a whole number from 1 to {MAX_CONCURRENCY:,}, "
            f"not {value!r:.40}"
        )
    return int(value)


def parse_key(value: Any) -> tuple[str, ...]:
    """A limit's key: argument names whose values make separate limits."""
    if value is None:
        return ()
    if (
        not isinstance(value, list | tuple)
        or len(value) > MAX_KEY_NAMES
        or not all(isinstance(name, str) and name.isidentifier() for name in value)
    ):
        raise InvalidInput(
            f"a limit's key is a list of at most {MAX_KEY_NAMES} argument names, "
            f'e.g. ["tenant_id"], not {value!r:.60}'
        )
    return tuple(value)


def configured_limits(
    rate_limits: Mapping[str, Any], concurrency_limits: Mapping[str, Any]
) -> dict[str, TaskLimit]:
    """The limits ``ops_rate_limits`` and ``ops_concurrency_limits`` describe, by task."""
    found: dict[str, TaskLimit] = {}
    for name, spec in rate_limits.items():
        where = f"ops_rate_limits[{name!r}]"
        if isinstance(spec, Mapping):
            _only(spec, {"rate", "key"}, where)
            rate, key = _within(where, parse_rate, spec.get("rate")), spec.get("key")
        else:
            rate, key = _within(where, parse_rate, spec), None
        limit = found.get(name, TaskLimit(name))
        found[name] = replace(limit, rate=rate, rate_key=_within(where, parse_key, key))
    for name, spec in concurrency_limits.items():
        where = f"ops_concurrency_limits[{name!r}]"
        if isinstance(spec, Mapping):
            _only(spec, {"limit", "key"}, where)
            count, key = _within(where, parse_concurrency, spec.get("limit")), spec.get("key")
        else:
            count, key = _within(where, parse_concurrency, spec), None
        limit = found.get(name, TaskLimit(name))
        found[name] = replace(
            limit, concurrency=count, concurrency_key=_within(where, parse_key, key)
        )
    return found


def _within(where: str, parse: Any, value: Any) -> Any:
    try:
        return parse(value)
    except InvalidInput as exc:
        raise InvalidInput(f"{where}: {exc}") from None


def _only(spec: Mapping[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(spec) - allowed)
    if unknown:
        raise InvalidInput(f"{where}: unknown key(s) {', '.join(unknown)}")
