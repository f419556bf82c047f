"""Message headers celery-ops reads and writes; producers may set ``tenant_id`` themselves."""

from __future__ import annotations

#: The tenant an execution belongs to, set by the user's producer.
TENANT_HEADER = "tenant_id"
#: When the producer sent the message (wait time is measured from it).
SENT_AT_HEADER = "celery_ops_sent_at"
#: The schedule that sent the message (DatabaseScheduler, `schedules run`).
SCHEDULE_HEADER = "celery_ops_schedule"
#: The execution an operator's retry re-sends.
RETRIED_FROM_HEADER = "celery_ops_retried_from"
