"""What the assistant interface answers, kept small: a model reads every byte of it.

An answer is compact JSON under a byte budget (24 KiB unless configured). Long texts
(arguments, results, messages) are cut to a preview with a marker that says how much was
left out and how to ask for it; tracebacks keep their last frames; lists stop where the
budget ends and say so, with the cursor to go on from there.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from celery_ops.core import standard_json
from celery_ops.core.clock import parse_instant
from celery_ops.core.durations import parse_duration
from celery_ops.core.errors import InvalidInput

#: Bytes of JSON an answer may hold.
BUDGET = 24 * 1024
#: Characters of an argument, result or message shown before it is cut.
PREVIEW_CHARS = 512
#: Frames of a traceback kept unless the whole one is asked for.
TRACEBACK_FRAMES = 5
#: Characters of a traceback at most, even when the whole one is asked for.
TRACEBACK_CHARS = 12_000


def encode(value: Any) -> str:
    """Compact JSON (no NaN, times as ISO 8601 text)."""
    return standard_json.dumps(value, default=_default, ensure_ascii=False, separators=(",", ":"))


def preview(text: str | None, limit: int = PREVIEW_CHARS, hint: str = "") -> str | None:
    """``text`` up to ``limit`` characters, with a marker saying how much was cut."""
    if text is None or len(text) <= limit:
        return text
    cut = len(text) - limit
    return f"{text[:limit]}… [{cut} more characters cut{'; ' + hint if hint else ''}]"


def last_frames(trace: str | None, frames: int = TRACEBACK_FRAMES) -> str | None:
    """A Python traceback with its last ``frames`` frames (where the error is) and the
    exception line; what was left out is marked. At most :data:`TRACEBACK_CHARS`."""
    if not trace:
        return trace
    lines = trace.rstrip("\n").split("\n")
    starts = [i for i, line in enumerate(lines) if line.startswith('  File "')]
    if frames > 0 and len(starts) > frames:
        dropped = len(starts) - frames
        marker = f"  … [{dropped} earlier frames cut; ask with full_traceback=true]"
        lines = [*lines[: starts[0]], marker, *lines[starts[-frames] :]]
    return tail("\n".join(lines), TRACEBACK_CHARS)


def tail(text: str, limit: int) -> str:
    """The end of ``text`` (where a traceback says what went wrong), marked when cut."""
    if len(text) <= limit:
        return text
    return f"[… {len(text) - limit} earlier characters cut]\n{text[-limit:]}"


def fit(
    answer: dict[str, Any],
    key: str,
    items: Sequence[Any],
    budget: int = BUDGET,
    left_out: Callable[[int], str] | None = None,
) -> int:
    """Put as many of ``items`` under ``answer[key]`` as the budget holds; how many.

    When some do not fit, ``answer["cut"]`` says how many were left out (``left_out``
    words how to get them)."""
    answer[key] = []
    reserve = 200  # the "cut" note, if one is needed
    used = len(encode(answer).encode()) + reserve
    kept: list[Any] = []
    for item in items:
        size = len(encode(item).encode()) + 1
        if used + size > budget:
            break
        kept.append(item)
        used += size
    answer[key] = kept
    if len(kept) < len(items):
        missing = len(items) - len(kept)
        answer["cut"] = (
            left_out(missing)
            if left_out
            else f"{missing} more left out to keep the answer under {budget // 1024} KiB"
        )
    return len(kept)


def bounded(answer: Any, budget: int = BUDGET) -> str:
    """``answer`` as JSON of at most ``budget`` bytes: when it is larger, its texts are cut
    shorter and shorter until it fits (every tool shapes its answers so that this is rare)."""
    text = encode(answer)
    for limit in (2048, 512, 128, 32):
        if len(text.encode()) <= budget:
            return text
        text = encode(_cut_texts(answer, limit))
    if len(text.encode()) <= budget:
        return text
    return encode({"error": f"the answer did not fit in {budget} bytes; ask for less"})


def moment(text: str | None, now: datetime, what: str) -> datetime | None:
    """A time given as ISO 8601 or as a duration back from now (``30m``, ``24h``, ``7d``)."""
    if text is None or not str(text).strip():
        return None
    given = str(text).strip()
    try:
        return now - timedelta(seconds=parse_duration(given, numbers_are_seconds=False))
    except (ValueError, OverflowError):
        pass
    try:
        return parse_instant(given, what)
    except ValueError as exc:
        raise InvalidInput(f"{exc}, or a duration back from now such as 24h or 7d") from None


def _cut_texts(value: Any, limit: int) -> Any:
    if isinstance(value, str):
        return preview(value, limit)
    if isinstance(value, dict):
        return {key: _cut_texts(item, limit) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_cut_texts(item, limit) for item in value]
    return value


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)
