"""Background jobs: a row per long operation, so that any dashboard process can show how far
it got."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, RowMapping, insert, select, update

from celery_ops.core.records import JobRecord
from celery_ops.store.errors import translated
from celery_ops.store.models import jobs

#: Statuses of a job that has not ended.
UNFINISHED = ("queued", "running")


class JobStore:
    """The ``celery_ops_jobs`` table of one database."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def create(self, job: JobRecord) -> None:
        row = {
            "id": job.id,
            "action": job.action,
            "actor": job.actor[:255],
            "status": job.status,
            "done": job.done,
            "total": job.total,
            "result": None,
            "audit_id": job.audit_id,
            "created_at": job.created_at,
            "updated_at": job.updated_at or job.created_at,
        }
        with translated(), self.engine.begin() as connection:
            connection.execute(insert(jobs), row)

    def progress(
        self, job_id: str, done: int, total: int | None, status: str, at: datetime
    ) -> None:
        values: dict[str, Any] = {"done": done, "status": status, "updated_at": at}
        if total is not None:
            values["total"] = total
        with translated(), self.engine.begin() as connection:
            connection.execute(update(jobs).where(jobs.c.id == job_id).values(values))

    def finish(self, job_id: str, status: str, done: int, result: Any, at: datetime) -> None:
        values = {
            "status": status,
            "done": done,
            "result": json.dumps(result, default=str, ensure_ascii=False),
            "updated_at": at,
        }
        with translated(), self.engine.begin() as connection:
            connection.execute(update(jobs).where(jobs.c.id == job_id).values(values))

    def get(self, job_id: str) -> JobRecord | None:
        with translated(), self.engine.connect() as connection:
            row = connection.execute(select(jobs).where(jobs.c.id == job_id)).first()
        return _job(row._mapping) if row is not None else None

    def stalled(self, not_updated_since: datetime) -> list[JobRecord]:
        """Unfinished jobs nobody reported on since then: their process died."""
        query = select(jobs).where(
            jobs.c.status.in_(UNFINISHED), jobs.c.updated_at < not_updated_since
        )
        with translated(), self.engine.connect() as connection:
            return [_job(row._mapping) for row in connection.execute(query)]


def _job(row: RowMapping) -> JobRecord:
    values = dict(row)
    text = values.pop("result")
    values["result"] = json.loads(text) if text else None
    return JobRecord(**values)
