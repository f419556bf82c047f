"""The workers' remote control, as the operations use it: one broadcast gathering what each
worker reports, and commands whose every answer is kept.

The one place operations send remote-control messages; the broker's failures leave it as
:class:`~celery_ops.core.errors.Unavailable`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from celery_ops.operations.broker import is_connection_error
from celery_ops.operations.errors import broker_unavailable

#: The standard inspect commands asked of a worker that does not know ``ops_report`` (one
#: whose app does not load celery-ops), and the key of each in the report.
FALLBACK_PARTS = {
    "stats": "stats",
    "active": "active",
    "reserved": "reserved",
    "scheduled": "scheduled",
    "registered": "registered",
    "active_queues": "active_queues",
    "conf": "conf",
}


@dataclass(frozen=True)
class Answers:
    """What each worker answered a command: ``{"ok": ...}`` or ``{"error": ...}``, and the
    workers asked by name that did not answer within the timeout."""

    command: str
    replies: dict[str, dict[str, Any]] = field(default_factory=dict)
    silent: list[str] = field(default_factory=list)

    @property
    def refused(self) -> list[str]:
        return sorted(host for host, reply in self.replies.items() if "error" in reply)

    @property
    def accepted(self) -> list[str]:
        return sorted(host for host, reply in self.replies.items() if "error" not in reply)

    def as_dict(self) -> dict[str, Any]:
        return {"command": self.command, "replies": self.replies, "no_reply": self.silent}


class WorkerControl:
    """Remote control of the workers of one Celery app."""

    def __init__(self, app: Any, timeout: float) -> None:
        self.app = app
        self.timeout = timeout

    def reports(self, destination: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Each answering worker's report (``celery_ops.signals.control.ops_report``), in one
        broadcast that ends once every worker of ``destination`` answered (or at the timeout);
        workers that do not know that command are asked the standard way."""
        replies = self._broadcast("ops_report", {}, destination)
        found: dict[str, dict[str, Any]] = {}
        old = []
        for hostname, reply in replies.items():
            if isinstance(reply, dict) and "error" not in reply:
                found[hostname] = reply
            else:
                old.append(hostname)
        if old:
            found.update(self._standard_reports(old))
        return found

    def command(self, name: str, arguments: dict[str, Any], destination: Sequence[str]) -> Answers:
        """Send ``name`` to the workers of ``destination`` and keep every answer, until all
        answered or the timeout."""
        replies = self._broadcast(name, arguments, destination)
        answers = {host: _answer(reply) for host, reply in replies.items()}
        silent = sorted(set(destination) - set(answers))
        return Answers(name, answers, silent)

    def shutdown(self, hostname: str) -> Answers:
        """Warm shutdown of one worker. A worker leaving does not answer, so this asks it to
        answer a ping first: the answer says it heard the command that followed."""
        pinged = self.command("ping", {}, [hostname])
        if pinged.accepted:
            self._send("shutdown", {}, [hostname])
            return Answers("shutdown", {hostname: {"ok": "shutting down (warm)"}})
        return Answers("shutdown", {}, [hostname])

    def _standard_reports(self, hosts: list[str]) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {host: {} for host in hosts}
        for key, command in FALLBACK_PARTS.items():
            for host, reply in self._broadcast(command, {}, hosts).items():
                found.setdefault(host, {})[key] = reply
        return found

    def _broadcast(
        self, command: str, arguments: dict[str, Any], destination: Sequence[str]
    ) -> dict[str, Any]:
        # Always addressed by name: workers of other apps sharing the broker stay out of it,
        # and the wait ends as soon as every worker addressed answered.
        if not destination:
            return {}
        try:
            replies = self.app.control.broadcast(
                command,
                arguments=arguments,
                destination=list(destination),
                reply=True,
                timeout=self.timeout,
                limit=len(destination),
            )
        except Exception as exc:
            if is_connection_error(exc):
                raise broker_unavailable(exc) from exc
            raise
        merged: dict[str, Any] = {}
        for reply in replies or ():
            merged.update(reply)
        return merged

    def _send(self, command: str, arguments: dict[str, Any], destination: list[str]) -> None:
        try:
            self.app.control.broadcast(command, arguments=arguments, destination=destination)
        except Exception as exc:
            if is_connection_error(exc):
                raise broker_unavailable(exc) from exc
            raise


def _answer(reply: Any) -> dict[str, Any]:
    if isinstance(reply, dict) and ("ok" in reply or "error" in reply):
        return reply
    return {"ok": reply}
