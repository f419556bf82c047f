"""Dashboard users and the audit log: every query the dashboard's access control makes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Engine, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from celery_ops.store.models import audit_log, users


class DuplicateUser(ValueError):
    """A user with this name already exists."""


class AccountStore:
    """The users and audit tables of one database; each method is one short transaction."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # Users

    def user(self, username: str) -> dict[str, Any] | None:
        with self.engine.connect() as connection:
            row = connection.execute(select(users).where(users.c.username == username)).first()
            return dict(row._mapping) if row is not None else None

    def user_by_id(self, user_id: int) -> dict[str, Any] | None:
        with self.engine.connect() as connection:
            row = connection.execute(select(users).where(users.c.id == user_id)).first()
            return dict(row._mapping) if row is not None else None

    def users(self) -> list[dict[str, Any]]:
        with self.engine.connect() as connection:
            query = select(users).order_by(users.c.username)
            return [dict(row._mapping) for row in connection.execute(query)]

    def count_users(self) -> int:
        with self.engine.connect() as connection:
            return int(connection.execute(select(func.count()).select_from(users)).scalar_one())

    def add_user(self, username: str, password_hash: str, role: str, at: datetime) -> None:
        row = {
            "username": username,
            "password_hash": password_hash,
            "role": role,
            "active": True,
            "created_at": at,
            "updated_at": at,
        }
        try:
            with self.engine.begin() as connection:
                connection.execute(insert(users), row)
        except IntegrityError as exc:
            raise DuplicateUser(username) from exc

    def add_first_user(self, username: str, password_hash: str, role: str, at: datetime) -> bool:
        """Add a user only while there is none; False when someone else was first."""
        with self.engine.begin() as connection:
            if connection.execute(select(func.count()).select_from(users)).scalar_one():
                return False
        try:
            self.add_user(username, password_hash, role, at)
        except DuplicateUser:
            return False
        return True

    def update_user(self, username: str, values: dict[str, Any]) -> bool:
        with self.engine.begin() as connection:
            result = connection.execute(
                update(users).where(users.c.username == username).values(**values)
            )
            return bool(result.rowcount)

    # Audit log

    def audit(self, entry: dict[str, Any]) -> None:
        with self.engine.begin() as connection:
            connection.execute(insert(audit_log), entry)

    def audit_page(self, before_id: int | None = None, limit: int = 50) -> list[dict[str, Any]]:
        """Newest entries first, ``limit`` at a time before ``before_id`` (keyset paging)."""
        query = select(audit_log).order_by(audit_log.c.id.desc()).limit(limit)
        if before_id is not None:
            query = query.where(audit_log.c.id < before_id)
        with self.engine.connect() as connection:
            return [dict(row._mapping) for row in connection.execute(query)]
