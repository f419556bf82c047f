"""What makes two calls of a unique task "the same": its key, from the task's options or the
call's headers, and how long and until when the key is held.

Task options (*contract*): ``ops_unique_for`` (seconds), ``ops_unique_key`` (a list of
argument names, or a callable of ``(args, kwargs)``), ``ops_unique_until`` (``"started"`` or
``"finished"``, the default). Per call, the headers ``ops_unique_key`` (text) and
``ops_unique_for`` (seconds) override the options.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from celery_ops.core.errors import InvalidInput

STARTED, FINISHED = "started", "finished"
UNTIL = (STARTED, FINISHED)
#: The longest a key may be held: ten years.
MAX_SECONDS = 10 * 366 * 86_400.0
#: The header a unique task's message carries, naming when its key is freed.
UNTIL_HEADER = "ops_unique_until"
KEY_HEADER = "ops_unique_key"
FOR_HEADER = "ops_unique_for"


@dataclass(frozen=True)
class UniqueKey:
    text: str
    hash: str
    seconds: float
    until: str


def unique_key(
    task_name: str,
    options: Any,
    headers: Mapping[str, Any],
    args: Sequence[Any] | None,
    kwargs: Mapping[str, Any] | None,
) -> UniqueKey | None:
    """The key of this call of ``task_name`` (``options``: the task, or None if it is not
    registered here); None when the task is not unique. :class:`InvalidInput` for options
    that cannot work (a key without a period, a negative period, an unknown argument name)."""
    given_for = headers.get(FOR_HEADER)
    option_for = getattr(options, "ops_unique_for", None)
    given_key = headers.get(KEY_HEADER)
    if given_for is None and option_for is None:
        if given_key is not None:
            raise InvalidInput(
                f"{task_name}: the header {KEY_HEADER} needs {FOR_HEADER} (seconds), in the "
                "headers or as the task's ops_unique_for option"
            )
        return None
    seconds = _seconds(task_name, given_for if given_for is not None else option_for)
    until = getattr(options, "ops_unique_until", None) or FINISHED
    if until not in UNTIL:
        raise InvalidInput(
            f"{task_name}: ops_unique_until is 'started' or 'finished', not {until!r}"
        )
    if given_key is not None:
        if not isinstance(given_key, str) or not given_key or "\x00" in given_key:
            raise InvalidInput(f"{task_name}: the header {KEY_HEADER} is non-empty text")
        text = given_key
    else:
        text = _key_text(task_name, options, args or (), kwargs or {})
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
    return UniqueKey(text, digest, seconds, until)


def _seconds(task_name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInput(f"{task_name}: {FOR_HEADER} is a number of seconds, not {value!r}")
    seconds = float(value)
    if not math.isfinite(seconds) or not 0 < seconds <= MAX_SECONDS:
        raise InvalidInput(
            f"{task_name}: {FOR_HEADER} is above 0 and at most ten years, not {value!r}"
        )
    return seconds


def _key_text(task_name: str, options: Any, args: Sequence[Any], kwargs: Mapping[str, Any]) -> str:
    spec = getattr(options, "ops_unique_key", None)
    if spec is None:
        chosen: Any = [list(args), dict(kwargs)]
    elif callable(spec):
        chosen = _called(task_name, spec, args, kwargs)
    elif isinstance(spec, list | tuple) and all(isinstance(name, str) for name in spec):
        chosen = named_arguments(task_name, options, list(spec), args, kwargs)
    else:
        raise InvalidInput(
            f"{task_name}: ops_unique_key is a list of argument names or a callable of "
            f"(args, kwargs), not {spec!r:.80}"
        )
    return json.dumps(chosen, sort_keys=True, default=repr, ensure_ascii=False)


def _called(
    task_name: str, spec: Callable[..., Any], args: Sequence[Any], kwargs: Mapping[str, Any]
) -> Any:
    try:
        return spec(tuple(args), dict(kwargs))
    except Exception as exc:
        raise InvalidInput(
            f"{task_name}: its ops_unique_key callable failed: {type(exc).__name__}: {exc}"
        ) from exc


def named_arguments(
    task_name: str, options: Any, names: list[str], args: Sequence[Any], kwargs: Mapping[str, Any]
) -> dict[str, Any]:
    """The values of the arguments ``names`` in a call, however they were passed (defaults
    filled in); :class:`InvalidInput` for a name the task does not take."""
    run = getattr(options, "run", None)
    try:
        signature = inspect.signature(run) if run is not None else None
    except (TypeError, ValueError):
        signature = None
    values: dict[str, Any] = dict(kwargs)
    if signature is not None:
        try:
            bound = signature.bind_partial(*args, **kwargs)
        except TypeError as exc:
            raise InvalidInput(f"{task_name}: these arguments do not fit the task: {exc}") from exc
        bound.apply_defaults()
        values = dict(bound.arguments)
        unknown = [name for name in names if name not in signature.parameters]
        if unknown:
            raise InvalidInput(
                f"{task_name}: ops_unique_key names {', '.join(unknown)}, which the task "
                "does not take"
            )
    return {name: values.get(name) for name in names}
