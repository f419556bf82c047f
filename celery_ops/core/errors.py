"""What an operation can refuse, whoever asked: each error's ``str()`` is a sentence for the
person who asked, saying what went wrong and what to do. Front ends map each kind to their
own form (an HTTP status, an exit code, a flashed message)."""

from __future__ import annotations


class OperationError(Exception):
    """An operation refused or failed."""


class InvalidInput(OperationError, ValueError):
    """A value the operation cannot use (malformed, out of range, unknown)."""


class UnknownTask(InvalidInput):
    """The task name is registered neither in this app nor on any worker."""


class NotFound(OperationError, LookupError):
    """No execution, schedule, user, queue or job by that name."""


class Conflict(OperationError):
    """The thing is in a state where this operation makes no sense."""


class Denied(OperationError):
    """The actor's role does not allow this operation."""


class Throttled(OperationError):
    """Too many wrong passwords: refused for a while, whatever is sent."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Unavailable(OperationError):
    """The store or the broker cannot be reached; trying again later may work."""
