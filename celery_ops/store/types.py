"""Column types that behave the same on SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, Dialect, Integer, LargeBinary, Text
from sqlalchemy.dialects import mysql
from sqlalchemy.types import TypeDecorator

from celery_ops.core.clock import from_storage, to_storage

#: Auto-incrementing primary key: BIGINT where it matters, INTEGER on SQLite (rowid alias).
BigId = BigInteger().with_variant(Integer(), "sqlite")

#: Payload text: MariaDB's TEXT holds only 64 KiB, less than a cut payload plus its marker.
LongText = Text().with_variant(mysql.MEDIUMTEXT(), "mysql", "mariadb")
#: Bytes up to 16 MiB on MariaDB/MySQL (a plain BLOB holds 64 KiB).
Blob = LargeBinary().with_variant(mysql.MEDIUMBLOB(), "mysql", "mariadb")


class UTCDateTime(TypeDecorator[datetime]):
    """Stored as naive UTC with microseconds, read back as an aware UTC datetime."""

    impl = DateTime
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> Any:
        if dialect.name in ("mysql", "mariadb"):
            return dialect.type_descriptor(mysql.DATETIME(fsp=6))
        return dialect.type_descriptor(DateTime())

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else to_storage(value)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else from_storage(value)
