"""Dashboard users: signing in, and (admins) adding and changing users.

Sign-ins are audited: a wrong name or password as ``denied`` (without the password), a
sign-in through the login form as ``ok``. A correct HTTP Basic call is not (every API call
would be one); a wrong one is.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import re
import secrets
import threading
import time
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from celery_ops.core.errors import Conflict, InvalidInput, Throttled
from celery_ops.core.records import User
from celery_ops.operations.actors import ADMIN, ROLES, Actor
from celery_ops.operations.audit import DENIED, OK
from celery_ops.operations.errors import from_store, store_errors
from celery_ops.operations.passwords import hash_password, verify_password
from celery_ops.operations.requests import UserChanges, parse
from celery_ops.operations.services import OperationGroup
from celery_ops.store import Duplicate, NotFound, StoreError

MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 1024
FIRST_ADMIN = "admin"
#: How long, in seconds, a verified password skips the slow hash check, and for how many.
VERIFIED_TTL = 60.0
VERIFIED_CACHE_SIZE = 1024


@functools.cache
def _dummy_hash() -> str:
    """Checked against when the user does not exist, so that a wrong name costs as long as a
    wrong password and response times do not reveal which names exist. Made on first use:
    at import it cost every worker, producer and command about 0.1 s of CPU at start."""
    return hash_password(secrets.token_urlsafe(16))


class AccountError(InvalidInput):
    """A user cannot be created or changed; the message says why."""


class VerifiedPasswords:
    """Passwords checked recently, so that an API client sending HTTP Basic on every call
    does not pay the slow hash on every call. Keys hold an HMAC of the password under a key
    of this process, never the password; a changed password (a new stored hash) misses."""

    def __init__(self) -> None:
        self._until: dict[tuple[str, bytes], float] = {}
        self._key = secrets.token_bytes(32)
        self._lock = threading.Lock()

    def check(self, stored: str, password: str) -> bool:
        key = (stored, hmac.new(self._key, password.encode(), hashlib.sha256).digest())
        now = time.monotonic()
        if self._until.get(key, 0.0) > now:
            return True
        if not verify_password(stored, password):
            return False
        with self._lock:
            if len(self._until) >= VERIFIED_CACHE_SIZE:
                self._until.clear()
            self._until[key] = now + VERIFIED_TTL
        return True


class AccountOperations(OperationGroup):
    """Users of the dashboard and the API."""

    # Signing in (anyone)

    def monitor(self, token: str) -> Actor | None:
        """The monitor's actor when ``token`` is ``ops_metrics_token`` (never without one)."""
        expected = self._services.config.metrics_token
        if not expected or not hmac.compare_digest(token.encode(), expected.encode()):
            return None
        return Actor.monitor(self.actor.remote_addr)

    def bearer(self, token: str) -> Actor | None:
        """Who holds ``token``: the monitor (``ops_metrics_token``) or the dashboard user
        it was made for (``ops users token``); None, audited as denied, for any other token
        or a switched-off user."""
        monitor = self.monitor(token)
        if monitor is not None:
            return monitor
        user = None
        if token.startswith(TOKEN_PREFIX) and len(token) <= MAX_TOKEN_LENGTH:
            with store_errors():
                user = self._services.store.accounts.token_user(token_hash(token))
        if user is not None and user.active:
            return Actor.user(user, self.actor.remote_addr)
        audit = self._services.audit
        detail = "user is switched off" if user is not None else "unknown bearer token"
        targets = {"username": user.username if user is not None else None, "via": "bearer"}
        audit.write(audit.entry(self.actor, "login", targets, DENIED, detail))
        return None

    def authenticate(self, username: str, password: str, via: str = "form") -> User | None:
        """The user, if the password is right; None otherwise (audited as denied).

        ``via`` is ``form`` for the login page (a success is audited and sets the last
        sign-in time) or ``basic`` for an API call with HTTP Basic. After too many wrong
        passwords for the name or from the address, :class:`Throttled` (audited too).
        """
        store = self._services.store.accounts
        config = self._services.config
        now = self._services.clock.now()
        targets = {"username": str(username)[:150], "via": via}
        limits = {f"user:{targets['username']}": config.login_max_failures}
        if self.actor.remote_addr:
            limits[f"address:{self.actor.remote_addr}"] = config.login_max_failures_per_address
        audit = self._services.audit
        with store_errors():
            locked = self._services.store.throttle.locked_until(list(limits), now)
        if locked is not None:
            detail = f"too many wrong passwords: refused until {locked:%H:%M:%S} UTC"
            audit.write(audit.entry(self.actor, "login", targets, DENIED, detail))
            wait = max(1, int((locked - now).total_seconds()) + 1)
            raise Throttled(f"{detail}, in {wait} s", wait)
        user = None
        if username and len(password) <= MAX_PASSWORD_LENGTH:
            with store_errors():
                user = store.user(username)
        if user is None:
            verify_password(_dummy_hash(), password)
        valid = user is not None and user.active and _verified.check(user.password_hash, password)
        if not valid or user is None:
            detail = (
                "wrong user name or password"
                if user is None or user.active
                else "user is switched off"
            )
            with store_errors():
                window = timedelta(seconds=config.login_lockout)
                self._services.store.throttle.failed(limits, now, window)
            audit.write(audit.entry(self.actor, "login", targets, DENIED, detail))
            return None
        with store_errors():
            self._services.store.throttle.forget(f"user:{targets['username']}")
        if via == "form":
            actor = Actor.user(user, self.actor.remote_addr)
            entry = audit.entry(actor, "login", targets, OK)
            with store_errors():
                store.update_user(user.username, {"last_login_at": audit.clock.now()}, entry)
        return user

    def logout(self) -> None:
        """The actor signs out: every session of theirs ends, not only this one (audited)."""
        audit = self._services.audit
        entry = audit.entry(self.actor, "logout", {"username": self.actor.name}, OK)
        try:
            self._services.store.accounts.update_user(self.actor.name, {}, entry, end_sessions=True)
        except NotFound:  # not a user (any more): nothing to end
            audit.write(entry)
        except StoreError as exc:
            raise from_store(exc) from exc

    def load(self, user_id: int, session_version: int) -> User | None:
        """The user of a session, if still active and the session was not ended since."""
        with store_errors():
            user = self._services.store.accounts.user_by_id(user_id)
        if user is None or not user.active or user.session_version != session_version:
            return None
        return user

    # Managing users (admin)

    def users(self) -> list[User]:
        self._require(ADMIN)
        with store_errors():
            return self._services.store.accounts.users()

    def add(self, username: str, password: str, role: str) -> User:
        """Create a user (viewer: read; operator: also act; admin: also manage users)."""
        username = (username or "").strip()
        targets = {"username": username[:150], "role": role}
        with self._operation("user-add", targets, ADMIN) as audited:
            _check(username, password, role)
            try:
                audited.commit(
                    lambda entry: self._services.store.accounts.add_user(
                        username, hash_password(password), role, self._services.clock.now(), entry
                    )
                )
            except Duplicate:
                raise AccountError(f"a user named {username!r} already exists") from None
        return self._user(username)

    def set_password(self, username: str, password: str) -> None:
        with self._operation("user-password", {"username": username}, ADMIN) as audited:
            _check_password(password)
            values = {
                "password_hash": hash_password(password),
                "updated_at": self._services.clock.now(),
            }
            self._update(username, values, audited.commit)

    def update(self, username: str, changes: Mapping[str, Any]) -> User:
        """Change a user's ``role`` and whether they are ``active``; not one's own."""
        targets = {
            "username": username,
            **{k: changes.get(k) for k in ("role", "active") if k in changes},
        }
        with self._operation("user-update", targets, ADMIN) as audited:
            if username == self.actor.name:
                raise Conflict("change your own account from another admin's session")
            given = parse(UserChanges, changes).model_dump(exclude_none=True)
            if not given:
                raise AccountError("nothing to change: give a role or whether the user is active")
            given["updated_at"] = self._services.clock.now()
            self._update(username, given, audited.commit)
        return self._user(username)

    def ensure_first_admin(self) -> str | None:
        """With no user at all, create ``admin`` with a random password and return it (to
        be shown once); None when users exist. Safe when several processes start at once."""
        store = self._services.store.accounts
        with store_errors():
            if store.count_users():
                return None
        password = secrets.token_urlsafe(18)
        targets = {"username": FIRST_ADMIN, "role": ADMIN}
        with self._operation("user-add", targets, ADMIN) as audited:
            created = audited.commit(
                lambda entry: store.add_user(
                    FIRST_ADMIN,
                    hash_password(password),
                    ADMIN,
                    self._services.clock.now(),
                    entry,
                    only_if_none=True,
                )
            )
            if not created:
                audited.nothing_happened()  # another process was first
        return password if created else None

    def create_token(self, username: str, label: str = "") -> str:
        """A new bearer token for ``username``, for the JSON API and ``ops mcp --http``:
        returned once, stored only as a hash. A user may hold several (one per client)."""
        label = (label or "").strip()
        targets = {"username": username, "label": label[:150]}
        with self._operation("user-token", targets, ADMIN) as audited:
            if len(label) > 150 or "\x00" in label:
                raise AccountError("a token's label has at most 150 characters and no NUL")
            token = TOKEN_PREFIX + secrets.token_urlsafe(32)
            now = self._services.clock.now()
            accounts = self._services.store.accounts
            try:
                audited.commit(
                    lambda entry: accounts.add_token(username, token_hash(token), label, now, entry)
                )
            except NotFound:
                raise AccountError(f"no user named {username!r}") from None
        return token

    def revoke_tokens(self, username: str) -> int:
        """End every bearer token of ``username``; how many there were."""
        with self._operation("user-revoke-token", {"username": username}, ADMIN) as audited:
            accounts = self._services.store.accounts
            try:
                ended = audited.commit(lambda entry: accounts.revoke_tokens(username, entry))
            except NotFound:
                raise AccountError(f"no user named {username!r}") from None
        return ended

    def token_counts(self) -> dict[str, int]:
        """How many bearer tokens each user holds (admin)."""
        self._require(ADMIN)
        with store_errors():
            return self._services.store.accounts.token_counts()

    def named(self, username: str) -> User:
        """A user by name, to act as them (``ops mcp --user``); admin, as the CLI is."""
        self._require(ADMIN)
        return self._user(username)

    def _update(self, username: str, values: dict[str, Any], commit: Any) -> None:
        """Change a user; every session of theirs ends (a new password, role or switch)."""
        accounts = self._services.store.accounts
        try:
            commit(lambda entry: accounts.update_user(username, values, entry, end_sessions=True))
        except NotFound:
            raise AccountError(f"no user named {username!r}") from None

    def _user(self, username: str) -> User:
        with store_errors():
            user = self._services.store.accounts.user(username)
        if user is None:
            raise AccountError(f"no user named {username!r}")
        return user


_verified = VerifiedPasswords()

#: What every token starts with, so that a leaked one is recognisable (secret scanners).
TOKEN_PREFIX = "cops_"
MAX_TOKEN_LENGTH = 200


def token_hash(token: str) -> str:
    """What the store keeps of a token: 256 random bits need no slow hash."""
    return hashlib.sha256(token.encode()).hexdigest()


#: What a new user's name may be: no colon (celery-ops's own actors have one), nothing a
#: path or a link would have to escape.
USER_NAME = re.compile(r"[A-Za-z0-9._@-]{1,150}")


def _check(username: str, password: str, role: str) -> None:
    if not isinstance(username, str) or not USER_NAME.fullmatch(username):
        raise AccountError(
            "a user name has 1 to 150 letters, digits and . _ @ - (no spaces and no colon: "
            "names with a colon belong to celery-ops's own actors, such as cli:...)"
        )
    if role not in ROLES:
        raise AccountError(f"unknown role {role!r}: use one of {', '.join(ROLES)}")
    _check_password(password)


def _check_password(password: str) -> None:
    if not isinstance(password, str) or len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"a password has at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH or "\x00" in password:
        raise AccountError(
            f"a password has at most {MAX_PASSWORD_LENGTH} characters and no NUL character"
        )
