"""How the events of one task execution fold into its row, without ever moving it backwards.

Events reach the store from several processes (producer, worker main process, pool child) and
each process writes in batches, so they arrive out of order. Every event that sets a status
carries a *progress* number, ``attempt * 10 + rank``; a row takes the status of an event only
when the event's progress is not lower than the row's. The same rule is applied twice: in
Python when a batch folds its own events (:func:`merge_patches`), and in SQL when the batch is
upserted (``celery_ops.store.writes``), both driven by :data:`COLUMN_POLICIES`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any

PENDING = "PENDING"
RECEIVED = "RECEIVED"
STARTED = "STARTED"
RETRY = "RETRY"
SUCCESS = "SUCCESS"
FAILURE = "FAILURE"
REVOKED = "REVOKED"
REJECTED = "REJECTED"
IGNORED = "IGNORED"
LOST = "LOST"

ALL_STATUSES = (
    PENDING,
    RECEIVED,
    STARTED,
    RETRY,
    SUCCESS,
    FAILURE,
    REVOKED,
    REJECTED,
    IGNORED,
    LOST,
)
TERMINAL_STATUSES = frozenset({SUCCESS, FAILURE, REVOKED, REJECTED})

# LOST ranks just above PENDING: the reaper only marks rows of dead workers, from which no
# later event can come, so any event that does arrive afterwards (a redelivery under
# acks_late, or a worker that was only cut off from the database) is newer and wins.
_RANKS = {
    PENDING: 0,
    LOST: 1,
    RECEIVED: 2,
    STARTED: 3,
    RETRY: 4,
    # A task raising Ignore ends its run without an outcome; Task.replace() raises it after
    # sending the replacement under the same task id, whose outcome (rank 5) must then win.
    IGNORED: 4,
    SUCCESS: 5,
    FAILURE: 5,
    REVOKED: 5,
    REJECTED: 5,
}

#: The attempt given to an event that ends an execution when the process reporting it cannot
#: tell which attempt it was (a worker's main process reporting a hard time limit or a killed
#: child). Such an event is final, so it outranks every attempt.
FINAL_ATTEMPT = 9_999

#: Progress of an event that sets no status: it only fills columns that are still empty.
NO_PROGRESS = -1

#: Statuses of work a dead worker held, and what the reaper subtracts from their progress
#: when it turns them into LOST.
REAPABLE = {status: _RANKS[status] - _RANKS[LOST] for status in (RECEIVED, STARTED)}


def progress(status: str | None, attempt: int) -> int:
    """Order of an event within the life of one task id."""
    if status is None:
        return NO_PROGRESS
    return attempt * 10 + _RANKS[status]


#: The progress of the event whose error the row shows: an error outranks another only if
#: its event does, so a retry's error written late never hides a later one.
ERROR_PROGRESS = "error_progress"
#: The columns that describe an error, kept together under Policy.LATEST_ERROR.
ERROR_COLUMNS = ("error_type", "error_message", "exception_trace")

#: When the progress a row shows was reported (what the task said of how far it got, e.g.
#: 40 of 100: ``celery_ops.report_progress``); the report with the latest time wins.
PROGRESS_AT = "progress_at"
#: The columns of a progress report, kept together under Policy.LATEST_PROGRESS.
PROGRESS_COLUMNS = ("progress_current", "progress_total", "progress_note")


class Policy(Enum):
    FIRST = "first"  # the first known value stays (what was sent does not change)
    EARLIEST = "earliest"  # the earliest time any event reports, whatever order they come in
    GREATEST = "greatest"  # the largest value any event reports
    #: the error of the furthest event that reports one (by ERROR_PROGRESS), whatever the order
    LATEST_ERROR = "latest error"
    #: the progress report with the latest PROGRESS_AT, whatever the order they come in
    LATEST_PROGRESS = "latest progress"
    LATEST = "latest"  # the value of the newest status-setting event; older ones only fill gaps
    SUM = "sum"  # counters: every event adds to it


COLUMN_POLICIES: dict[str, Policy] = {
    "task_name": Policy.FIRST,
    "queue": Policy.FIRST,
    "args": Policy.FIRST,
    "kwargs": Policy.FIRST,
    "message_args": Policy.FIRST,
    "message_kwargs": Policy.FIRST,
    "priority": Policy.FIRST,
    "expires": Policy.FIRST,
    "published_at": Policy.EARLIEST,
    "received_at": Policy.EARLIEST,
    "parent_id": Policy.FIRST,
    "root_id": Policy.FIRST,
    "group_id": Policy.FIRST,
    "schedule_name": Policy.FIRST,
    "retried_from": Policy.FIRST,
    "tenant_id": Policy.FIRST,
    "batch_id": Policy.FIRST,
    "eta": Policy.LATEST,
    "started_at": Policy.LATEST,
    "completed_at": Policy.LATEST,
    "failed_at": Policy.LATEST,
    "revoked_at": Policy.LATEST,
    "execution_time_ms": Policy.LATEST,
    "wait_time_ms": Policy.LATEST,
    "worker_id": Policy.LATEST,
    "pid": Policy.LATEST,
    "result": Policy.LATEST,
    "error_type": Policy.LATEST_ERROR,
    "error_message": Policy.LATEST_ERROR,
    "exception_trace": Policy.LATEST_ERROR,
    # After the error columns: MariaDB's upsert assigns left to right, and they compare with
    # the value before this write.
    ERROR_PROGRESS: Policy.GREATEST,
    "memory_usage_mb": Policy.LATEST,
    "attempts": Policy.SUM,
    **dict.fromkeys(PROGRESS_COLUMNS, Policy.LATEST_PROGRESS),
    # After the progress columns, for the same reason as ERROR_PROGRESS.
    PROGRESS_AT: Policy.GREATEST,
}

#: The column that orders the reports of each "latest by" policy.
RANKED_BY = {Policy.LATEST_ERROR: ERROR_PROGRESS, Policy.LATEST_PROGRESS: PROGRESS_AT}


@dataclass(slots=True)
class ExecutionPatch:
    """What a batch knows about one task id, ready to be upserted.

    ``status_at`` is naive UTC, as the stores keep it. ``values`` holds no None: an absent
    value changes nothing under any rule, so it is left out.
    """

    task_id: str
    status: str | None
    progress: int
    status_at: datetime | None
    values: dict[str, Any] = field(default_factory=dict)

    def supersedes(self, other_progress: int) -> bool:
        """Whether this patch's status replaces a row whose progress is ``other_progress``."""
        if self.progress > other_progress:
            return True
        return self.progress == other_progress and self.status not in TERMINAL_STATUSES


def outranks(rank: str, new: dict[str, Any], current: dict[str, Any]) -> bool:
    """Whether the columns ``new`` has under the policy ranked by ``rank`` (``RANKED_BY``)
    replace those of ``current``: its report ranks higher."""
    incoming = new.get(rank)
    if incoming is None:
        return False
    known = current.get(rank)
    return known is None or incoming > known


def merge_patches(current: ExecutionPatch, new: ExecutionPatch) -> None:
    """Fold ``new`` into ``current`` in place, with the same rules the store's upsert uses."""
    applies = new.supersedes(current.progress)
    # Two booleans, not a dict by policy: this runs for every event of every task.
    error_applies = outranks(ERROR_PROGRESS, new.values, current.values)
    progress_applies = outranks(PROGRESS_AT, new.values, current.values)
    for column, value in new.values.items():
        policy = COLUMN_POLICIES[column]
        if policy is Policy.SUM:
            current.values[column] = current.values.get(column, 0) + value
        elif value is None:
            continue
        elif policy is Policy.EARLIEST or policy is Policy.GREATEST:
            known = current.values.get(column)
            pick = min if policy is Policy.EARLIEST else max
            current.values[column] = value if known is None else pick(known, value)
        elif policy is Policy.LATEST_ERROR:
            if error_applies:
                current.values[column] = value
        elif policy is Policy.LATEST_PROGRESS:
            if progress_applies:
                current.values[column] = value
        elif current.values.get(column) is None or (policy is Policy.LATEST and applies):
            current.values[column] = value
    if applies and new.status is not None:
        current.status = new.status
        current.progress = new.progress
        current.status_at = new.status_at
