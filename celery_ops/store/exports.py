"""Export files kept in the store: written piece by piece by the job that makes them, read
back piece by piece by whichever dashboard process serves the download."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from sqlalchemy import Engine, delete, func, insert, select

from celery_ops.store.errors import translated
from celery_ops.store.models import export_parts


class ExportStore:
    """The ``celery_ops_export_parts`` table of one database."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def add_part(self, job_id: str, seq: int, data: bytes, at: datetime) -> None:
        row = {"job_id": job_id, "seq": seq, "data": data, "created_at": at}
        with translated(), self.engine.begin() as connection:
            connection.execute(insert(export_parts), row)

    def parts(self, job_id: str) -> Iterator[bytes]:
        """The pieces of an export in order, one read at a time (never the whole file)."""
        seq = -1
        while True:
            query = (
                select(export_parts.c.seq, export_parts.c.data)
                .where(export_parts.c.job_id == job_id, export_parts.c.seq > seq)
                .order_by(export_parts.c.seq)
                .limit(1)
            )
            with translated(), self.engine.connect() as connection:
                row = connection.execute(query).first()
            if row is None:
                return
            seq = row.seq
            yield bytes(row.data)

    def size(self, job_id: str) -> int:
        """Stored (compressed) bytes of an export."""
        query = select(func.coalesce(func.sum(func.length(export_parts.c.data)), 0)).where(
            export_parts.c.job_id == job_id
        )
        with translated(), self.engine.connect() as connection:
            return int(connection.execute(query).scalar_one())

    def forget(self, job_id: str) -> None:
        with translated(), self.engine.begin() as connection:
            connection.execute(delete(export_parts).where(export_parts.c.job_id == job_id))

    def forget_before(self, at: datetime) -> int:
        """Delete the pieces of exports made before ``at``; how many pieces went."""
        with translated(), self.engine.begin() as connection:
            result = connection.execute(delete(export_parts).where(export_parts.c.created_at < at))
            return int(result.rowcount or 0)
