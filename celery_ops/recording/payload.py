"""Turn task arguments, results and errors into bounded text for the store.

Runs on the flusher thread, never on the task's own path. Two forms of the arguments are kept:
the *shown* form (the producer's ``argsrepr``/``kwargsrepr`` when it masked them, else JSON) is
the only one ever displayed; the *message* form is the exact JSON of what was sent, kept so an
operator can retry the task.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from celery.utils.saferepr import saferepr
from kombu.utils.json import dumps as kombu_dumps

from celery_ops.store.columns import scrub, truncate

# Celery's default argsrepr/kwargsrepr: what a producer sets when the user gave none.
DEFAULT_REPR_MAXSIZE = 1024


@dataclass(slots=True, frozen=True)
class Arguments:
    """The arguments of one message, as captured by a signal handler (not yet rendered)."""

    args: Any
    kwargs: Any
    argsrepr: str | None = None
    kwargsrepr: str | None = None


def to_json(value: Any) -> str | None:
    """JSON text of ``value`` as Celery's own serializer writes it, or None if it is not JSON."""
    if value is None:
        return "null"  # most results: the encoder costs more than the rest of their fold
    if not value and type(value) in (list, dict):
        return "[]" if type(value) is list else "{}"  # no arguments, no keyword arguments
    try:
        text: str = kombu_dumps(value, ensure_ascii=False)  # type: ignore[no-untyped-call]
    except (TypeError, ValueError, OverflowError):
        return None
    return text


def render_value(value: Any, limit: int) -> str:
    """JSON when possible, else the repr; always bounded. Used for results."""
    text = to_json(value)
    if text is None:
        text = _safe_repr(value)
    return truncate(scrub(text), limit)


#: A call without arguments, in both forms (most periodic tasks, many queued ones).
_NO_ARGUMENTS = {"args": "[]", "kwargs": "{}"}
_NO_ARGUMENTS_KEPT = {**_NO_ARGUMENTS, "message_args": "[]", "message_kwargs": "{}"}


def render_arguments(arguments: Arguments, limit: int, keep_message: bool) -> dict[str, Any]:
    """Column values for both forms of a message's arguments."""
    if limit >= 2 and _without_arguments(arguments):
        return dict(_NO_ARGUMENTS_KEPT if keep_message else _NO_ARGUMENTS)
    args_json = to_json(list(arguments.args or ()))
    kwargs_json = to_json(dict(arguments.kwargs or {}))
    columns: dict[str, Any] = {
        "args": _shown(arguments.args, arguments.argsrepr, args_json, limit),
        "kwargs": _shown(arguments.kwargs, arguments.kwargsrepr, kwargs_json, limit),
    }
    if keep_message:
        fits = (
            args_json is not None
            and kwargs_json is not None
            and len(args_json.encode("utf-8", errors="surrogatepass")) <= limit
            and len(kwargs_json.encode("utf-8", errors="surrogatepass")) <= limit
        )
        if fits:
            columns["message_args"] = scrub(args_json or "[]")
            columns["message_kwargs"] = scrub(kwargs_json or "{}")
    return columns


def _without_arguments(arguments: Arguments) -> bool:
    """No arguments, shown as Celery shows none (a masked empty call takes the long way)."""
    return (
        arguments.argsrepr in (None, "()", "[]")
        and arguments.kwargsrepr in (None, "{}")
        and not arguments.args
        and not arguments.kwargs
        and type(arguments.args) in _EMPTY_ARGS_TYPES
        and type(arguments.kwargs) in _EMPTY_KWARGS_TYPES
    )


_EMPTY_ARGS_TYPES = (tuple, list, type(None))
_EMPTY_KWARGS_TYPES = (dict, type(None))


def _shown(value: Any, masked: str | None, as_json: str | None, limit: int) -> str:
    # A producer that did not set argsrepr still sends Celery's default saferepr of the
    # arguments; only a value that differs from it was set (masked) on purpose.
    if masked is not None and not _is_default_repr(masked, value):
        return truncate(scrub(str(masked)), limit)
    if as_json is None:
        as_json = _safe_repr(value)
    return truncate(scrub(as_json), limit)


def _is_default_repr(shown: str, value: Any) -> bool:
    # saferepr() equals repr() for anything short; repr() is an order of magnitude cheaper.
    if len(shown) < DEFAULT_REPR_MAXSIZE // 2 and _safe_repr(value) == shown:
        return True
    # The worker sees JSON-decoded arguments: the tuple the producer repr'd is a list now.
    if isinstance(value, list | tuple):
        return shown in (
            saferepr(tuple(value), DEFAULT_REPR_MAXSIZE),
            saferepr(list(value), DEFAULT_REPR_MAXSIZE),
        )
    return bool(shown == saferepr(value, DEFAULT_REPR_MAXSIZE))


def _safe_repr(value: Any) -> str:
    try:
        return repr(value)
    except Exception as exc:  # a broken __repr__ must not lose the record
        return f"<unrepresentable {type(value).__name__}: {exc!r}>"


def text_or_none(value: Any) -> str | None:
    """A header or signal argument as text; an absent one stays absent."""
    return None if value is None else str(value)


def describe_exception(exc: BaseException | None) -> tuple[str | None, str | None]:
    """Type name and message of an exception, never raising."""
    if exc is None:
        return None, None
    try:
        message = str(exc)
    except Exception:
        message = _safe_repr(exc)
    return type(exc).__name__, message
