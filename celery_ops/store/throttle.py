"""Wrong passwords counted per key (a user name, a client address), so that every dashboard
process refuses the same guesser."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import Engine, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from celery_ops.store.errors import translated
from celery_ops.store.models import login_throttle


class ThrottleStore:
    """The ``celery_ops_login_throttle`` table of one database."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def locked_until(self, keys: Sequence[str], now: datetime) -> datetime | None:
        """The latest time until which one of ``keys`` is refused, if any still is."""
        query = select(func.max(login_throttle.c.locked_until)).where(
            login_throttle.c.key.in_(list(keys)), login_throttle.c.locked_until > now
        )
        with translated(), self.engine.connect() as connection:
            found: datetime | None = connection.execute(query).scalar_one_or_none()
        return found

    def failed(self, limits: dict[str, int], now: datetime, window: timedelta) -> datetime | None:
        """Count one wrong password for each key; a key reaching its limit is refused until
        ``now + window``, which is returned. Failures older than ``window`` are forgotten."""
        locked: datetime | None = None
        column = login_throttle.c
        with translated(), self.engine.begin() as connection:
            for key, limit in limits.items():
                row = connection.execute(
                    select(column.failures, column.first_failure_at)
                    .where(column.key == key)
                    .with_for_update()
                ).first()
                if row is None:
                    try:
                        with connection.begin_nested():
                            connection.execute(
                                insert(login_throttle),
                                {"key": key, "failures": 0, "first_failure_at": now},
                            )
                    except IntegrityError:
                        pass  # another process counted this key first: count on top of it
                    failures, since = 0, now
                else:
                    failures, since = row.failures, row.first_failure_at
                if since < now - window:
                    failures, since = 0, now
                failures += 1
                until = now + window if failures >= limit else None
                connection.execute(
                    update(login_throttle)
                    .where(column.key == key)
                    .values(failures=failures, first_failure_at=since, locked_until=until)
                )
                if until is not None:
                    locked = until
        return locked

    def forget(self, key: str) -> None:
        """A right password: this key's count starts again."""
        with translated(), self.engine.begin() as connection:
            connection.execute(delete(login_throttle).where(login_throttle.c.key == key))
