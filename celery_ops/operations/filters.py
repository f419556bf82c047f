"""The execution filter, read from a query string or a JSON object by one function, with the
same names and rules for the pages, the API, the CLI and the assistant interface."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from celery_ops.core.clock import parse_instant
from celery_ops.core.errors import InvalidInput
from celery_ops.core.filters import MIN_SEARCH_CHARS, ExecutionFilter
from celery_ops.core.lifecycle import ALL_STATUSES

#: Query parameter -> ExecutionFilter field, for the conditions that name one value.
NAMED = {
    "task": "task_name",
    "queue": "queue",
    "worker": "worker_id",
    "schedule": "schedule_name",
    "tenant": "tenant_id",
    "error_type": "error_type",
    "parent": "parent_id",
    "group": "group_id",
    "retried_from": "retried_from",
    "batch": "batch_id",
}
#: Another name accepted for a parameter (the dashboard's pages once said ``text``).
ALIASES = {"text": "search"}
#: Every parameter a filter understands.
FILTER_KEYS = frozenset({"status", "since", "until", "search", "dead", *NAMED, *ALIASES})
#: How a query string or a JSON body says yes or no.
YES, NO = frozenset({"1", "true", "yes", "on"}), frozenset({"0", "false", "no", "off", ""})
MAX_VALUE_CHARS = 255


def parse_filter(params: Mapping[str, Any], other_keys: Collection[str] = ()) -> ExecutionFilter:
    """The filter ``params`` describe, or :class:`InvalidInput` naming what is wrong.

    ``params`` maps a parameter to a value or a list of values (a query string read with
    every value, or a JSON object); empty values are ignored. A key that is neither a filter
    parameter nor one of ``other_keys`` (a page's own, such as ``cursor``) is refused: a
    misspelt condition must never widen a purge to everything.
    """
    unknown = sorted(set(params) - FILTER_KEYS - set(other_keys))
    if unknown:
        known = ", ".join(sorted(FILTER_KEYS - set(ALIASES)))
        raise InvalidInput(f"unknown filter {', '.join(unknown)}: use {known}")
    values: dict[str, Any] = {}
    statuses = [status.upper() for status in _all(params, "status")]
    wrong = sorted(set(statuses) - set(ALL_STATUSES))
    if wrong:
        raise InvalidInput(
            f"unknown status {', '.join(wrong)}: use one of {', '.join(ALL_STATUSES)}"
        )
    values["statuses"] = tuple(dict.fromkeys(statuses))
    for key, field_name in NAMED.items():
        values[field_name] = _one(params, key)
    for key in ("since", "until"):
        text = _one(params, key)
        if text is not None:
            try:
                values[key] = parse_instant(text, key)
            except ValueError as exc:
                raise InvalidInput(str(exc)) from None
    search = _one(params, "search")
    for alias, key in ALIASES.items():
        search = search or (_one(params, alias) if key == "search" else None)
    if search is not None and len(search) < MIN_SEARCH_CHARS:
        raise InvalidInput(f"search needs at least {MIN_SEARCH_CHARS} characters")
    values["search"] = search
    values["dead"] = _yes(params.get("dead"), "dead")
    return ExecutionFilter(**values)


def _yes(raw: Any, key: str) -> bool | None:
    """True for a yes (``true``, ``1``; JSON ``true``), None for a no or nothing."""
    if raw is None or raw is False:
        return None
    if raw is True:
        return True
    if isinstance(raw, list | tuple) and len(raw) == 1:
        raw = raw[0]
    text = str(raw).strip().lower() if isinstance(raw, str) else None
    if text in YES:
        return True
    if text in NO:
        return None
    raise InvalidInput(f"{key} is true or false, not {raw!r:.40}")


def _all(params: Mapping[str, Any], key: str) -> list[str]:
    raw = params.get(key)
    if raw is None:
        return []
    items = raw if isinstance(raw, list | tuple) else [raw]
    found = []
    for item in items:
        if not isinstance(item, str):
            raise InvalidInput(f"{key} must be text, got {item!r:.40}")
        text = item.strip()
        if "\x00" in text:
            raise InvalidInput(f"{key} contains a NUL character")
        if len(text) > MAX_VALUE_CHARS:
            raise InvalidInput(f"{key} is longer than {MAX_VALUE_CHARS} characters")
        if text:
            found.append(text)
    return found


def _one(params: Mapping[str, Any], key: str) -> str | None:
    found = _all(params, key)
    if len(found) > 1:
        raise InvalidInput(f"{key} takes one value, got {len(found)}")
    return found[0] if found else None
