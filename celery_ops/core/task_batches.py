"""What a batch's members say of it: how far it got and which of its callbacks are due.

- ``on_failure``: at the first member that failed for good (FAILURE comes after its retries);
- ``on_success``: when every member succeeded (one that failed and then succeeded on a retry,
  the same task id, counts once, as a success);
- ``on_finish``: when every member reached a final state.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from celery_ops.core.lifecycle import FAILURE, IGNORED, LOST, SUCCESS, TERMINAL_STATUSES

SUCCESS_CALLBACK, FAILURE_CALLBACK, FINISH_CALLBACK = "success", "failure", "finish"
CALLBACKS = (SUCCESS_CALLBACK, FAILURE_CALLBACK, FINISH_CALLBACK)
#: A member in one of these will not change any more (LOST: its worker died with it).
ENDED = TERMINAL_STATUSES | {LOST, IGNORED}


@dataclass(frozen=True)
class BatchProgress:
    total: int
    #: Members recorded so far, by status.
    counts: Mapping[str, int] = field(default_factory=dict)

    @property
    def ended(self) -> int:
        return sum(n for status, n in self.counts.items() if status in ENDED)

    @property
    def failed(self) -> int:
        return self.counts.get(FAILURE, 0)

    @property
    def succeeded(self) -> int:
        return self.counts.get(SUCCESS, 0)

    @property
    def finished(self) -> bool:
        return self.total > 0 and self.ended >= self.total

    @property
    def fraction(self) -> float:
        return min(1.0, self.ended / self.total) if self.total else 1.0

    def due(self) -> list[str]:
        """The callbacks this progress calls for (whether sent already is the store's)."""
        found = []
        if self.failed:
            found.append(FAILURE_CALLBACK)
        if self.total and self.succeeded >= self.total:
            found.append(SUCCESS_CALLBACK)
        if self.finished:
            found.append(FINISH_CALLBACK)
        return found

    def as_dict(self) -> dict[str, object]:
        return {
            "total": self.total,
            "ended": self.ended,
            "succeeded": self.succeeded,
            "failed": self.failed,
            "counts": dict(self.counts),
            "fraction": round(self.fraction, 4),
        }
