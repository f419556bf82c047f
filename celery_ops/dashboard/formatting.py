"""Values as an operator reads them: times, durations, sizes, labels and JSON, one way
everywhere.

Times are rendered as ``<time>`` elements carrying the exact instant; the browser
(``static/celery_ops.js``) shows them in its own time zone with a relative time ("3 min
ago") and keeps UTC on hover. Without JavaScript the text reads in UTC, in the same format.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from markupsafe import Markup, escape

from celery_ops.core.clock import as_utc

#: What the execution page calls each column.
LABELS: Mapping[str, str] = {
    "task_id": "Task id",
    "task_name": "Task",
    "queue": "Queue",
    "priority": "Priority",
    "attempts": "Attempts",
    "worker_id": "Worker",
    "pid": "Process id",
    "published_at": "Published",
    "received_at": "Received",
    "started_at": "Started",
    "completed_at": "Completed",
    "failed_at": "Failed",
    "revoked_at": "Revoked",
    "status_at": "Last change",
    "eta": "Not before (ETA)",
    "expires": "Expires",
    "wait_time_ms": "Waited in the queue",
    "execution_time_ms": "Ran for",
    "memory_usage_mb": "Memory grown by",
    "tenant_id": "Tenant",
    "schedule_name": "Schedule",
    "parent_id": "Parent",
    "root_id": "Root of the workflow",
    "group_id": "Group",
    "retried_from": "Retry of",
    "result": "Result",
    "args": "Arguments",
    "kwargs": "Keyword arguments",
}


def label(name: str) -> str:
    """``worker_id`` -> ``Worker``; a name without a label in words, capitalised."""
    return LABELS.get(name) or name.replace("_", " ").capitalize()


def when(moment: datetime | None, empty: str = "—") -> Markup:
    """A ``<time>`` element: UTC text, the exact instant for the browser to localise."""
    if moment is None:
        return Markup(escape(empty))
    utc = as_utc(moment)
    text = utc.strftime("%Y-%m-%d %H:%M:%S UTC")
    return Markup('<time datetime="{}" title="{}">{}</time>').format(
        utc.isoformat(timespec="milliseconds"), text, text
    )


def duration(milliseconds: float | None, empty: str = "—") -> str:
    """A duration in the unit that reads best, three significant figures at most:
    ``0.42 ms``, ``312 ms``, ``2.31 s``, ``4 min 12 s``, ``3 h 05 min``, ``2 d 4 h``."""
    if milliseconds is None or not math.isfinite(milliseconds):
        return empty
    ms = max(0.0, milliseconds)
    if ms < 1000:
        return f"{_figures(ms)} ms"
    seconds = ms / 1000
    if seconds < 60:
        return f"{_figures(seconds)} s"
    if seconds < 3600:
        minutes, rest = divmod(round(seconds), 60)
        return f"{minutes} min {rest} s" if rest else f"{minutes} min"
    if seconds < 86_400:
        hours, rest = divmod(round(seconds / 60), 60)
        return f"{hours} h {rest:02d} min"
    days, rest = divmod(round(seconds / 3600), 24)
    return f"{days} d {rest} h" if rest else f"{days} d"


def seconds(value: float | None, empty: str = "—") -> str:
    """:func:`duration` of a number of seconds."""
    return empty if value is None else duration(value * 1000, empty)


def size(megabytes: float | None, empty: str = "—") -> str:
    """Memory in the unit that reads best: ``0 B``, ``312 KiB``, ``1.5 MiB``, ``2.1 GiB``."""
    if megabytes is None or not math.isfinite(megabytes):
        return empty
    size_bytes = max(0.0, megabytes) * 1024 * 1024
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size_bytes < 1024 or unit == "GiB":
            return f"{_figures(size_bytes) if unit != 'B' else round(size_bytes)} {unit}"
        size_bytes /= 1024
    raise AssertionError("unreachable")


def count(value: float | None, empty: str = "—") -> str:
    """A count for reading: ``950``, ``12,400``, ``1.2 M``."""
    if value is None or not math.isfinite(value):
        return empty
    if abs(value) >= 1_000_000:
        return f"{_figures(value / 1_000_000, 2)} M"
    if float(value).is_integer():
        return f"{int(value):,}"
    return _figures(value)


def _figures(value: float, digits: int = 3) -> str:
    """``value`` with ``digits`` significant figures, no trailing zeros, never exponents."""
    if value == 0:
        return "0"
    magnitude = math.floor(math.log10(abs(value)))
    decimals = max(0, digits - 1 - magnitude)
    text = f"{value:,.{decimals}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def pretty_json(text: str | None) -> str:
    """Stored JSON indented for reading; anything else as it is."""
    if text is None:
        return ""
    try:
        return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    except (TypeError, ValueError):
        return text


def details_text(text: str | None) -> str:
    """A timeline entry's details (JSON of an object) as words: ``attempt 2, error KeyError``;
    empty values left out."""
    if not text:
        return ""
    try:
        details = json.loads(text)
    except ValueError:
        return text
    if not isinstance(details, dict):
        return str(details)
    parts = []
    for key, value in details.items():
        if value in (None, "", False) or key == "status":
            continue
        shown = "yes" if value is True else value if isinstance(value, str) else json.dumps(value)
        parts.append(f"{key.replace('_', ' ')} {shown}")
    return ", ".join(parts)


def arguments_preview(row: Any, limit: int = 80) -> str:
    """An execution's arguments (as recorded, masked where its task masks them) on one line:
    ``1, 2, to="a@b.c"``, cut at ``limit`` characters."""
    parts = []
    args = _decoded(row.args)
    if isinstance(args, list):
        parts += [json.dumps(value, ensure_ascii=False) for value in args]
    elif args not in (None, ""):
        parts.append(str(args))
    kwargs = _decoded(row.kwargs)
    if isinstance(kwargs, dict):
        parts += [f"{key}={json.dumps(value, ensure_ascii=False)}" for key, value in kwargs.items()]
    elif kwargs not in (None, ""):
        parts.append(str(kwargs))
    text = ", ".join(parts)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _decoded(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


@dataclass(frozen=True)
class Target:
    """One thing an audit entry names, as words, and the page it links to (an endpoint and
    its arguments) when there is one."""

    label: str
    text: str
    endpoint: str | None = None
    arguments: Mapping[str, str] | None = None


#: Target keys naming a thing with a page: the endpoint and its argument.
_TARGET_PAGES = {
    "task_id": ("executions.details", "task_id"),
    "created": ("executions.details", "task_id"),
    "retried_from": ("executions.details", "task_id"),
    "queue": ("queues.details", "queue_name"),
    "worker": ("workers.details", "hostname"),
    "task": ("tasks.details", "task_name"),
}


def audit_targets(action: str, targets: Any, limit: int = 120) -> list[Target]:
    """What an audit entry acted on, readable: ``Task id 3f2a…`` linked to its page,
    ``Statuses FAILURE, LOST``; a schedule's ``name`` links to the schedule."""
    if not isinstance(targets, Mapping):
        return [Target("Target", _cut(str(targets), limit))] if targets else []
    shown = []
    for key, value in targets.items():
        if value is None or value == [] or value == {}:
            continue
        text = _cut(_words(value), limit)
        page = _TARGET_PAGES.get(key)
        if key == "name" and action.startswith("schedule-"):
            page = ("schedules.details", "schedule_name")
        if page is not None and isinstance(value, str):
            shown.append(Target(label(key), text, page[0], {page[1]: value}))
        else:
            shown.append(Target(label(key), text))
    return shown


def _words(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return ", ".join(_words(item) for item in value)
    if isinstance(value, Mapping):
        return "; ".join(f"{label(str(k))} {_words(v)}" for k, v in value.items())
    return str(value)


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def install(app: Any) -> None:
    """Make these the Jinja filters of ``app`` (a Flask app or blueprint state)."""
    filters = app.jinja_env.filters
    filters.update(
        label=label,
        when=when,
        duration=duration,
        seconds=seconds,
        size=size,
        count=count,
        pretty_json=pretty_json,
        details_text=details_text,
        arguments_preview=arguments_preview,
    )
    app.jinja_env.globals["audit_targets"] = audit_targets
