"""Dashboard users, their roles and the audit log, independent of Flask.

Used by the dashboard (sign-in, access control) and by `celery -A proj ops users ...`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from werkzeug.security import check_password_hash, generate_password_hash

from celery_ops.store.accounts import AccountStore, DuplicateUser

#: Roles, weakest first: each may do everything the ones before it may.
VIEWER, OPERATOR, ADMIN = "viewer", "operator", "admin"
ROLES = (VIEWER, OPERATOR, ADMIN)
MIN_PASSWORD_LENGTH = 8
FIRST_ADMIN = "admin"
#: How long, in seconds, a verified password skips the slow hash check, and for how many.
VERIFIED_TTL = 60.0
VERIFIED_CACHE_SIZE = 1024

# Checked against when the user does not exist, so that a wrong name costs as long as a
# wrong password and response times do not reveal which names exist.
_DUMMY_HASH = generate_password_hash(secrets.token_urlsafe(16))


class AccountError(ValueError):
    """A user cannot be created or changed; the message says why."""


@dataclass(frozen=True)
class Account:
    """A signed-in user, as the dashboard sees them."""

    id: int
    username: str
    role: str
    active: bool = True

    def may(self, role: str) -> bool:
        """Whether this user's role includes ``role``."""
        return self.active and ROLES.index(self.role) >= ROLES.index(role)


class Accounts:
    """Users and the audit log of one store."""

    def __init__(self, store: AccountStore) -> None:
        self.store = store
        # The slow hash is checked once per password and stored hash for a short while, so
        # an API client sending HTTP Basic on every call does not pay it on every call. The
        # key holds an HMAC of the password under a key of this process, never the password;
        # a changed password (a new stored hash) misses the cache.
        self._verified: dict[tuple[str, bytes], float] = {}
        self._cache_key = secrets.token_bytes(32)

    def authenticate(self, username: str, password: str, remember: bool = False) -> Account | None:
        """The account, if the password is right. ``remember`` marks a sign-in (the last
        sign-in time is recorded) rather than an API call."""
        row = self.store.user(username) if username else None
        if row is None:
            check_password_hash(_DUMMY_HASH, password)
            return None
        if not row["active"] or not self._password_matches(row["password_hash"], password):
            return None
        if remember:
            self.store.update_user(username, {"last_login_at": _utcnow()})
        return _account(row)

    def _password_matches(self, stored: str, password: str) -> bool:
        key = (stored, hmac.new(self._cache_key, password.encode(), hashlib.sha256).digest())
        now = time.monotonic()
        if self._verified.get(key, 0.0) > now:
            return True
        if not check_password_hash(stored, password):
            return False
        if len(self._verified) >= VERIFIED_CACHE_SIZE:
            self._verified.clear()
        self._verified[key] = now + VERIFIED_TTL
        return True

    def load(self, user_id: int) -> Account | None:
        row = self.store.user_by_id(user_id)
        return _account(row) if row is not None and row["active"] else None

    def add(self, username: str, password: str, role: str) -> Account:
        username = username.strip()
        _check(username, password, role)
        try:
            self.store.add_user(username, generate_password_hash(password), role, _utcnow())
        except DuplicateUser:
            raise AccountError(f"a user named {username!r} already exists") from None
        row = self.store.user(username)
        assert row is not None
        return _account(row)

    def set_password(self, username: str, password: str) -> None:
        _check(username, password, VIEWER)
        values = {"password_hash": generate_password_hash(password), "updated_at": _utcnow()}
        if not self.store.update_user(username, values):
            raise AccountError(f"no user named {username!r}")

    def ensure_first_admin(self) -> str | None:
        """With no user at all, create ``admin`` with a random password and return it (to
        be shown once); None when users exist. Safe when several processes start at once."""
        if self.store.count_users():
            return None
        password = secrets.token_urlsafe(18)
        created = self.store.add_first_user(
            FIRST_ADMIN, generate_password_hash(password), ADMIN, _utcnow()
        )
        return password if created else None

    def audit(
        self,
        account: Account | None,
        action: str,
        targets: Any,
        outcome: str,
        detail: str | None = None,
        remote_addr: str | None = None,
    ) -> None:
        """Write one line of the audit log: who, when, what, on what, how it ended."""
        self.store.audit(
            {
                "at": _utcnow(),
                "username": account.username if account else None,
                "role": account.role if account else None,
                "action": action,
                "targets": json.dumps(targets, default=str, ensure_ascii=False),
                "outcome": outcome,
                "detail": (detail or "")[:2000] or None,
                "remote_addr": remote_addr,
            }
        )


def _check(username: str, password: str, role: str) -> None:
    if not username or len(username) > 150 or any(c.isspace() for c in username):
        raise AccountError("a user name has 1 to 150 characters and no spaces")
    if role not in ROLES:
        raise AccountError(f"unknown role {role!r}: use one of {', '.join(ROLES)}")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"a password has at least {MIN_PASSWORD_LENGTH} characters")


def _account(row: dict[str, Any]) -> Account:
    return Account(row["id"], row["username"], row["role"], bool(row["active"]))


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)
