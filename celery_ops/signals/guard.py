"""Handlers observe the user's tasks; they must never fail them."""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

logger = logging.getLogger("celery_ops.signals")

F = TypeVar("F", bound=Callable[..., Any])


#: A handler that keeps failing logs its traceback at most this often (seconds).
REPEAT_LOG_INTERVAL = 60.0


def never_raises(handler: F) -> F:
    """Log and swallow any exception of ``handler`` (as dramatiq does for its middleware)."""
    last_logged = -REPEAT_LOG_INTERVAL
    suppressed = 0

    @functools.wraps(handler)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        nonlocal last_logged, suppressed
        try:
            return handler(*args, **kwargs)
        except Exception:
            now = time.monotonic()
            if now - last_logged < REPEAT_LOG_INTERVAL:
                suppressed += 1
                return None
            logger.exception(
                "celery-ops: the %s handler failed (%d more failure(s) not logged since the "
                "last report); the task is unaffected",
                handler.__name__,
                suppressed,
            )
            last_logged, suppressed = now, 0
            return None

    return guarded  # type: ignore[return-value]
