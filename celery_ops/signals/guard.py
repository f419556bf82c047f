"""Handlers observe the user's tasks; they must never fail them."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any, TypeVar

logger = logging.getLogger("celery_ops.signals")

F = TypeVar("F", bound=Callable[..., Any])


def never_raises(handler: F) -> F:
    """Log and swallow any exception of ``handler`` (as dramatiq does for its middleware)."""

    @functools.wraps(handler)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        try:
            return handler(*args, **kwargs)
        except Exception:
            logger.exception(
                "celery-ops: the %s handler failed; the task is unaffected", handler.__name__
            )
            return None

    return guarded  # type: ignore[return-value]
