"""The one door: every operation of celery-ops, whoever asks (a page, the API, the command
line, the assistant interface, the product itself).

``Operations(services, actor)`` is the door opened for one actor; each of its parts checks
the actor's role, validates what it is given, acts, and writes exactly one audit row for
every state change. Front ends only parse and render.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from celery_ops.core.lazy import lazy_exports

if TYPE_CHECKING:
    from celery_ops.core.errors import (
        Conflict,
        Denied,
        InvalidInput,
        NotFound,
        OperationError,
        Unavailable,
        UnknownTask,
    )
    from celery_ops.operations.accounts import AccountError
    from celery_ops.operations.actors import ADMIN, OPERATOR, ROLES, VIEWER, Actor
    from celery_ops.operations.door import Operations
    from celery_ops.operations.services import Services

__all__ = [
    "ADMIN",
    "OPERATOR",
    "ROLES",
    "VIEWER",
    "AccountError",
    "Actor",
    "Conflict",
    "Denied",
    "InvalidInput",
    "NotFound",
    "OperationError",
    "Operations",
    "Services",
    "Unavailable",
    "UnknownTask",
]

# Loaded on first use: a producer's process needs an Actor (the recorder names who acts) but
# not the operations themselves, which cost every process ~0.17 s and ~11,000 objects.
_LAZY = {
    **dict.fromkeys(
        (
            "Conflict",
            "Denied",
            "InvalidInput",
            "NotFound",
            "OperationError",
            "Unavailable",
            "UnknownTask",
        ),
        "celery_ops.core.errors",
    ),
    "AccountError": "celery_ops.operations.accounts",
    **dict.fromkeys(
        ("ADMIN", "OPERATOR", "ROLES", "VIEWER", "Actor"), "celery_ops.operations.actors"
    ),
    "Operations": "celery_ops.operations.door",
    "Services": "celery_ops.operations.services",
}


__getattr__ = lazy_exports(__name__, _LAZY)
