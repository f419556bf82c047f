"""Sending a notification: Apprise (webhooks, e-mail, Slack, Teams and many more) behind the
one method the alerts need. Apprise is the ``celery-ops[alerts]`` extra, loaded on first use."""

from __future__ import annotations

from typing import Protocol

from celery_ops.core.errors import Unavailable


class Notifier(Protocol):
    def send(self, url: str, title: str, body: str) -> str | None:
        """Send to one destination; None when it took it, else what went wrong."""


class AppriseNotifier:
    def send(self, url: str, title: str, body: str) -> str | None:
        try:
            import apprise
        except ModuleNotFoundError:
            raise Unavailable("alerts need Apprise: pip install 'celery-ops[alerts]'") from None
        destination = apprise.Apprise()
        if not destination.add(url):
            return f"Apprise cannot read the URL {_scheme(url)}://... (check its scheme)"
        if destination.notify(title=title, body=body):
            return None
        return f"{_scheme(url)}://... did not take the notification (Apprise's log says why)"


def _scheme(url: str) -> str:
    return url.split("://", 1)[0]
