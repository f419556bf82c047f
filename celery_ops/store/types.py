"""Column types that behave the same on SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

import functools
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import BigInteger, DateTime, Dialect, Integer, Text
from sqlalchemy.dialects import mysql
from sqlalchemy.types import TypeDecorator

#: Auto-incrementing primary key: BIGINT where it matters, INTEGER on SQLite (rowid alias).
BigId = BigInteger().with_variant(Integer(), "sqlite")

#: Payload text: MariaDB's TEXT holds only 64 KiB, less than a cut payload plus its marker.
LongText = Text().with_variant(mysql.MEDIUMTEXT(), "mysql", "mariadb")


class UTCDateTime(TypeDecorator[datetime]):
    """Stored as naive UTC with microseconds, read back as an aware UTC datetime."""

    impl = DateTime
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> Any:
        if dialect.name in ("mysql", "mariadb"):
            return dialect.type_descriptor(mysql.DATETIME(fsp=6))
        return dialect.type_descriptor(DateTime())

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is not None:
            value = value.astimezone(timezone.utc).replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc)


def utc_from_timestamp(seconds: float | None) -> datetime | None:
    if seconds is None:
        return None
    return datetime.fromtimestamp(seconds, timezone.utc)


_EPOCH = datetime(1970, 1, 1)


# Cached: a batch holds each moment several times (an event's time is also its row's
# started_at or completed_at, and the row's status_at), and a hit costs a tenth of converting.
@functools.lru_cache(maxsize=256)
def naive_utc_from_timestamp(seconds: float | None) -> datetime | None:
    """A timestamp as the stores keep it: naive UTC (cheaper than an aware datetime, and
    what every backend binds without a time zone conversion)."""
    if seconds is None:
        return None
    return _EPOCH + timedelta(seconds=seconds)
