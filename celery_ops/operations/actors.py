"""Who asks for an operation, and what their role lets them do.

An actor's name is what the audit log's ``actor`` column holds: a dashboard user's name, or
one of the product's own actors, whose names all contain a colon (user names never do, so no
one can sign in as one of them):

- ``cli:<os user>@<host>``: ``celery -A proj ops ...`` (including ``ops retention`` from cron);
- ``python:<os user>@<host>``: the user's own code, through ``celery_ops.init_app(app)``;
- ``mcp:<user>`` and ``mcp:<os user>@<host>``: the assistant interface (``ops mcp``);
- ``system:<component>``: work the product starts by itself (``system:reaper``);
- ``anonymous:``: someone not signed in (a failed sign-in).
"""

from __future__ import annotations

import getpass
import socket
from dataclasses import dataclass

from celery_ops.core.records import User

#: Roles, weakest first: each may do everything the ones before it may.
VIEWER, OPERATOR, ADMIN = "viewer", "operator", "admin"
ROLES = (VIEWER, OPERATOR, ADMIN)
#: The actor of a monitor holding ``ops_metrics_token``.
MONITOR = "monitor:token"


@dataclass(frozen=True)
class Actor:
    """Who is asking: a name for the audit log and a role (None: no role at all)."""

    name: str
    role: str | None
    remote_addr: str | None = None

    def may(self, role: str) -> bool:
        """Whether this actor's role includes ``role``."""
        return self.role is not None and ROLES.index(self.role) >= ROLES.index(role)

    @property
    def is_user(self) -> bool:
        """Whether this is a dashboard user (not one of the product's own actors)."""
        return ":" not in self.name

    @classmethod
    def user(cls, user: User, remote_addr: str | None = None) -> Actor:
        """A signed-in dashboard or API user, with their role."""
        return cls(user.username, user.role if user.active else None, remote_addr)

    @classmethod
    def anonymous(cls, remote_addr: str | None = None) -> Actor:
        return cls("anonymous:", None, remote_addr)

    @classmethod
    def cli(cls) -> Actor:
        """The command line: it trusts the machine it runs on, as a database client does."""
        return cls(f"cli:{_local_user()}", ADMIN)

    @classmethod
    def code(cls) -> Actor:
        """The user's own code calling the Python API."""
        return cls(f"python:{_local_user()}", ADMIN)

    @classmethod
    def monitor(cls, remote_addr: str | None = None) -> Actor:
        """A monitor holding ``ops_metrics_token``: it reads metrics and health, nothing more."""
        return cls(MONITOR, VIEWER, remote_addr)

    @classmethod
    def assistant(cls, user: User | None = None, remote_addr: str | None = None) -> Actor:
        """The assistant interface acting for a dashboard user (their role), or, without
        one, for whoever runs it on this machine, as a viewer."""
        if user is None:
            return cls(f"mcp:{_local_user()}", VIEWER)
        return cls(f"mcp:{user.username}", user.role if user.active else None, remote_addr)

    @classmethod
    def system(cls, component: str) -> Actor:
        """Work celery-ops starts by itself."""
        return cls(f"system:{component}", ADMIN)


def _local_user() -> str:
    try:
        user = getpass.getuser()
    except Exception:  # no name for this uid (a container): say so rather than fail
        user = "unknown"
    return f"{user}@{socket.gethostname()}"
