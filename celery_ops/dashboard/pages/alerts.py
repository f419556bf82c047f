"""Alerts: the rules of ops_alerts, every alert raised (sent, pending, given up, and what each
held back), and a test notification for admins."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import flash, redirect, request, url_for
from flask_admin import expose

from celery_ops.core.errors import OperationError
from celery_ops.dashboard.auth import door
from celery_ops.dashboard.pages.common import Page


def destination(url: str) -> str:
    """An Apprise URL without what may be secret in it (credentials, path, query)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or ''}" + (f":{parts.port}" if parts.port else "")


class AlertsView(Page):
    @expose("/")  # type: ignore[untyped-decorator]
    def index(self) -> Any:
        alerts = door().alerts
        return self.render(
            "celery_ops/alerts.html",
            rules=alerts.rules(),
            alerts=alerts.recent(200),
            destination=destination,
        )

    @expose("/test", methods=["POST"])  # type: ignore[untyped-decorator]
    def test(self) -> Any:
        rule = request.form.get("rule", "")
        try:
            door().alerts.send_test(rule)
        except OperationError as exc:
            flash(str(exc), "error")
        else:
            flash(f"A test notification of {rule} was sent.", "success")
        return redirect(url_for(".index"))
