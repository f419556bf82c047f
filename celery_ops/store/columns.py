"""What the columns of ``celery_ops_executions`` accept, and how a recorded value is made to
fit: times as naive UTC, numbers as the table declares them, names of at most 255 characters,
long text cut at the payload limit, and never a NUL byte or a lone surrogate (PostgreSQL and
MariaDB refuse both).

The recorder calls :func:`execution_values` on its flusher thread as it folds events, so that
the write itself only binds values.
"""

from __future__ import annotations

import functools
from typing import Any

from celery_ops.core.clock import storage_from_timestamp, to_instant, to_storage
from celery_ops.store.models import executions

_MARKER = " … [celery-ops: truncated, {total} bytes in all, first {kept} kept]"

TIME_COLUMNS = frozenset(
    {
        "published_at",
        "received_at",
        "started_at",
        "completed_at",
        "failed_at",
        "revoked_at",
        "eta",
        "expires",
        "progress_at",
    }
)
#: Long text; every other text column is a name, VARCHAR(255) on every backend.
TEXT_COLUMNS = frozenset({"error_message", "exception_trace"})
#: Numbers, as the table declares them, whatever type a message header gave them.
NUMBER_COLUMNS: dict[str, type[int] | type[float]] = {
    column.name: column.type.python_type
    for column in executions.columns
    if column.type.python_type in (int, float)
}
#: Names that recur from task to task (a process runs a few tasks, from a few queues, on one
#: worker): each is checked once, through :func:`recurring_name`.
RECURRING_NAME_COLUMNS = frozenset({"task_name", "queue", "worker_id"})


def execution_values(values: dict[str, Any], limit: int) -> dict[str, Any]:
    """Recorded values made to fit their columns; a value that cannot fit (an ``eta`` header
    that is not a time) is left out rather than costing the rest of its event."""
    fitted: dict[str, Any] = {}
    for column, value in values.items():
        if value is None:
            continue  # an absent value changes nothing under any rule (core.lifecycle)
        if column in TIME_COLUMNS:
            value = stored_time(value)
        elif column in NUMBER_COLUMNS:
            value = _number(value, NUMBER_COLUMNS[column])
        else:
            # One type per column: a batch's values of a column travel as one array.
            text = value if isinstance(value, str) else str(value)
            if column in TEXT_COLUMNS:
                value = clean_text(text, limit)
            elif column in RECURRING_NAME_COLUMNS:
                value = recurring_name(text)
            else:
                value = clean_name(text)
        if value is not None:
            fitted[column] = value
    return fitted


def stored_time(value: Any) -> Any:
    """A point in time as the store keeps it (naive UTC); None if it cannot be read."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return storage_from_timestamp(float(value))
    try:
        moment = to_instant(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return None if moment is None else to_storage(moment)


def _number(value: Any, kind: type[int] | type[float]) -> int | float | None:
    """``value`` as ``kind``; a header that is not a number leaves the column empty."""
    if type(value) is kind:
        return value
    try:
        return kind(value)
    except (TypeError, ValueError, OverflowError):
        return None


def truncate(text: str, limit: int) -> str:
    """Cut ``text`` to at most ``limit`` UTF-8 bytes and say so visibly."""
    encoded = text.encode("utf-8", errors="surrogatepass")
    if len(encoded) <= limit:
        return text
    kept = encoded[:limit].decode("utf-8", errors="ignore")
    return kept + _MARKER.format(total=len(encoded), kept=len(kept.encode("utf-8")))


def clean_name(text: str, max_chars: int = 255) -> str:
    """Storable text for a VARCHAR column: no NUL, at most ``max_chars`` characters."""
    text = scrub(text)
    return text if len(text) <= max_chars else text[: max_chars - 1] + "…"


@functools.lru_cache(maxsize=1024)
def recurring_name(name: str) -> str:
    """:func:`clean_name` of a name seen over and over, checked once."""
    return clean_name(name)


def clean_text(text: str, limit: int) -> str:
    """Storable long text: no NUL, at most ``limit`` bytes plus the truncation marker."""
    return truncate(scrub(text), limit)


def scrub(text: str) -> str:
    """``text`` without what PostgreSQL and MariaDB text columns refuse: NUL bytes become
    ``\\u0000``, lone surrogates backslash escapes."""
    if "\x00" in text:
        text = text.replace("\x00", "\\u0000")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", errors="backslashreplace").decode("utf-8")
    return text
