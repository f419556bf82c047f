"""The relay's side of the store: batches written exactly once, and cluster-wide leases."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Engine, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from celery_ops.store import writes
from celery_ops.store.batches import RecordBatch
from celery_ops.store.errors import translated
from celery_ops.store.models import leases, relayed_batches

#: Ids checked per statement (a parameter list far below every backend's limit).
_ID_CHUNK = 500


class RelayStore:
    """The ``celery_ops_relayed_batches`` and ``celery_ops_leases`` tables of one database."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def write_once(self, batches: Sequence[tuple[str, RecordBatch]], now: datetime) -> int:
        """Write the batches not written before, folded together, in one transaction with
        their ids; return how many were new. Two ingesters writing the same batch at once:
        the second one's transaction fails on the id (:class:`RowRejected`), and the batch is
        found written when it is retried."""
        with translated(), self.engine.begin() as connection:
            ids = [batch_id for batch_id, _ in batches]
            known: set[str] = set()
            for start in range(0, len(ids), _ID_CHUNK):
                chunk = ids[start : start + _ID_CHUNK]
                known.update(
                    connection.execute(
                        select(relayed_batches.c.batch_id).where(
                            relayed_batches.c.batch_id.in_(chunk)
                        )
                    ).scalars()
                )
            fresh: dict[str, RecordBatch] = {}
            for batch_id, batch in batches:
                if batch_id not in known and batch_id not in fresh:
                    fresh[batch_id] = batch
            if not fresh:
                return 0
            folded = RecordBatch()
            for batch in fresh.values():
                folded.absorb(batch)
            connection.execute(
                insert(relayed_batches),
                [{"batch_id": batch_id, "applied_at": now} for batch_id in fresh],
            )
            writes.write_batch(connection, folded)
            return len(fresh)

    def forget_batches(self, before: datetime) -> int:
        """Forget the ids of batches written before ``before`` (kept while a delivery of
        them could still come again)."""
        with translated(), self.engine.begin() as connection:
            result = connection.execute(
                delete(relayed_batches).where(relayed_batches.c.applied_at < before)
            )
            return int(result.rowcount or 0)

    def hold_lease(self, name: str, holder: str, now: datetime, until: datetime) -> bool:
        """Take or renew the lease ``name`` for ``holder`` until ``until``; False while
        another holder's lease has not expired."""
        with translated():
            with self.engine.begin() as connection:
                result = connection.execute(
                    update(leases)
                    .where(
                        leases.c.name == name,
                        (leases.c.holder == holder) | (leases.c.expires_at <= now),
                    )
                    .values(holder=holder, expires_at=until)
                )
                if result.rowcount:
                    return True
                exists = connection.execute(
                    select(leases.c.name).where(leases.c.name == name)
                ).first()
                if exists is not None:
                    return False
            try:
                with self.engine.begin() as connection:
                    connection.execute(
                        insert(leases).values(name=name, holder=holder, expires_at=until)
                    )
            except IntegrityError:
                return False  # another process took it first
            return True

    def lease(self, name: str) -> tuple[str, datetime] | None:
        """Who holds the lease ``name`` and until when (perhaps expired), if anyone took it."""
        with translated(), self.engine.connect() as connection:
            row = connection.execute(
                select(leases.c.holder, leases.c.expires_at).where(leases.c.name == name)
            ).first()
        return None if row is None else (row.holder, row.expires_at)

    def release_lease(self, name: str, holder: str) -> None:
        with translated(), self.engine.begin() as connection:
            connection.execute(
                delete(leases).where(leases.c.name == name, leases.c.holder == holder)
            )
