"""Human durations such as ``90s``, ``15m``, ``7d`` or ``2w``, as seconds.

Text always carries its unit: a bare ``7`` could mean seconds or days, and guessing wrong
deletes what was meant to be kept. A number (not text) is seconds, for the settings and
fields whose name says so.
"""

from __future__ import annotations

import math
import re

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")

#: The longest duration celery-ops reads: beyond it, dates overflow.
MAX_SECONDS = 100 * 366 * 86_400.0


def parse_duration(value: str | float | int, numbers_are_seconds: bool = True) -> float:
    """The number of seconds ``value`` stands for: text with a unit (``7d``), or a number
    of seconds where ``numbers_are_seconds`` allows it. ValueError says what is expected."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        if not numbers_are_seconds:
            raise ValueError(
                f"{value!r} is not a duration: give it with its unit, e.g. 7d, 12h or 90s"
            )
        seconds = float(value)
    else:
        match = _DURATION.match(str(value).lower())
        if not match:
            raise ValueError(
                f"{value!r} is not a duration: use a number followed by its unit, s, m, h, d "
                "or w (e.g. 90s, 15m, 7d)"
            )
        seconds = float(match.group(1)) * _UNITS[match.group(2)]
    if not math.isfinite(seconds) or not 0 < seconds <= MAX_SECONDS:
        raise ValueError(f"{value!r}: a duration must be above zero and at most 100 years")
    return seconds


def format_duration(seconds: float) -> str:
    """The largest whole unit that fits, e.g. 2592000 -> '30d'."""
    for unit, size in sorted(_UNITS.items(), key=lambda item: -item[1]):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"
