"""Dashboard users: every query sign-in and user management make."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Engine, delete, func, insert, select, update

from celery_ops.core.records import AuditEntry, User
from celery_ops.store.audit import insert_entry
from celery_ops.store.errors import Duplicate, NotFound, translated
from celery_ops.store.models import api_tokens, users


class AccountStore:
    """The users table of one database; each method is one short transaction."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def user(self, username: str) -> User | None:
        with translated(), self.engine.connect() as connection:
            row = connection.execute(select(users).where(users.c.username == username)).first()
            return User(**row._mapping) if row is not None else None

    def user_by_id(self, user_id: int) -> User | None:
        with translated(), self.engine.connect() as connection:
            row = connection.execute(select(users).where(users.c.id == user_id)).first()
            return User(**row._mapping) if row is not None else None

    def users(self) -> list[User]:
        with translated(), self.engine.connect() as connection:
            query = select(users).order_by(users.c.username)
            return [User(**row._mapping) for row in connection.execute(query)]

    def count_users(self) -> int:
        with translated(), self.engine.connect() as connection:
            return int(connection.execute(select(func.count()).select_from(users)).scalar_one())

    def add_user(
        self,
        username: str,
        password_hash: str,
        role: str,
        at: datetime,
        audit: AuditEntry | None = None,
        only_if_none: bool = False,
    ) -> bool:
        """Add a user (and its audit entry, in the same transaction); :class:`Duplicate`
        when the name is taken. With ``only_if_none``, only while there is no user at all,
        and False when someone else was first."""
        row = {
            "username": username,
            "password_hash": password_hash,
            "role": role,
            "active": True,
            "created_at": at,
            "updated_at": at,
        }
        try:
            duplicate = f"a user named {username!r} already exists"
            with translated(duplicate), self.engine.begin() as connection:
                if (
                    only_if_none
                    and connection.execute(select(func.count()).select_from(users)).scalar_one()
                ):
                    return False
                connection.execute(insert(users), row)
                if audit is not None:
                    insert_entry(connection, audit)
        except Duplicate:
            if only_if_none:
                return False  # another process created the first user at the same moment
            raise
        return True

    def update_user(
        self,
        username: str,
        values: dict[str, Any],
        audit: AuditEntry | None = None,
        end_sessions: bool = False,
    ) -> None:
        """Change a user (and write its audit entry in the same transaction); with
        ``end_sessions``, every session signed in before ends. NotFound when there is no
        such user, and then nothing is written."""
        changes: dict[str, Any] = dict(values)
        if end_sessions:
            changes["session_version"] = users.c.session_version + 1
        with translated(), self.engine.begin() as connection:
            result = connection.execute(
                update(users).where(users.c.username == username).values(**changes)
            )
            if not result.rowcount:
                raise NotFound(f"no user named {username!r}")
            if audit is not None:
                insert_entry(connection, audit)

    # Bearer tokens

    def add_token(
        self, username: str, token_hash: str, label: str, at: datetime, audit: AuditEntry
    ) -> None:
        """Give ``username`` one more token (its hash); NotFound when there is no such
        user, and then nothing is written."""
        with translated(), self.engine.begin() as connection:
            user_id = connection.execute(
                select(users.c.id).where(users.c.username == username)
            ).scalar()
            if user_id is None:
                raise NotFound(f"no user named {username!r}")
            connection.execute(
                insert(api_tokens),
                {"user_id": user_id, "token_hash": token_hash, "label": label, "created_at": at},
            )
            insert_entry(connection, audit)

    def revoke_tokens(self, username: str, audit: AuditEntry) -> int:
        """End every token of ``username``; how many there were. NotFound when there is
        no such user."""
        with translated(), self.engine.begin() as connection:
            user_id = connection.execute(
                select(users.c.id).where(users.c.username == username)
            ).scalar()
            if user_id is None:
                raise NotFound(f"no user named {username!r}")
            ended = connection.execute(
                delete(api_tokens).where(api_tokens.c.user_id == user_id)
            ).rowcount
            insert_entry(connection, audit)
            return int(ended or 0)

    def token_user(self, token_hash: str) -> User | None:
        """The user a token (by its hash) belongs to, whether active or not."""
        with translated(), self.engine.connect() as connection:
            row = connection.execute(
                select(users)
                .join(api_tokens, api_tokens.c.user_id == users.c.id)
                .where(api_tokens.c.token_hash == token_hash)
            ).first()
            return User(**row._mapping) if row is not None else None

    def token_counts(self) -> dict[str, int]:
        """How many tokens each user with one has."""
        with translated(), self.engine.connect() as connection:
            query = (
                select(users.c.username, func.count())
                .join(api_tokens, api_tokens.c.user_id == users.c.id)
                .group_by(users.c.username)
            )
            return {str(row[0]): int(row[1]) for row in connection.execute(query)}
