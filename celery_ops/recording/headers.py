"""Message headers celery-ops reads and writes; producers may set ``tenant_id`` themselves."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: The tenant an execution belongs to, set by the user's producer.
TENANT_HEADER = "tenant_id"
#: When the producer sent the message (wait time is measured from it).
SENT_AT_HEADER = "celery_ops_sent_at"
#: The schedule that sent the message (DatabaseScheduler, `schedules run`).
SCHEDULE_HEADER = "celery_ops_schedule"
#: The execution an operator's retry re-sends.
RETRIED_FROM_HEADER = "celery_ops_retried_from"
#: The batch a task is a member of (``celery_ops.batch``).
BATCH_HEADER = "ops_batch"

#: Execution columns a task message carries in its headers: (column, header). A producer
#: records them when it sends the message, and a worker again when it receives it, for when
#: the producer's record was lost (a beat killed with events in its buffer).
MESSAGE_COLUMNS = (
    ("eta", "eta"),
    ("expires", "expires"),
    ("parent_id", "parent_id"),
    ("root_id", "root_id"),
    ("group_id", "group"),
    ("tenant_id", TENANT_HEADER),
    ("schedule_name", SCHEDULE_HEADER),
    ("batch_id", BATCH_HEADER),
)


def header_columns(
    headers: Mapping[str, Any], columns: tuple[tuple[str, str], ...] = MESSAGE_COLUMNS
) -> dict[str, Any]:
    """The ``columns`` that ``headers`` has a value for. An empty one is left out: it would
    change nothing, and the event carrying it stays buffered until the next flush."""
    return {
        column: value for column, header in columns if (value := headers.get(header)) is not None
    }
