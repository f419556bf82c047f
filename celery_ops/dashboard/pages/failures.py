"""Failures grouped by task and exception type, and a retry of a whole group."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import flash, redirect, request, url_for
from flask_admin import expose

from celery_ops.dashboard.auth import door
from celery_ops.dashboard.pages.common import REFUSALS, Page
from celery_ops.dashboard.pages.executions import followed

WINDOWS = {"1h": timedelta(hours=1), "1d": timedelta(days=1), "7d": timedelta(days=7),
           "30d": timedelta(days=30)}  # fmt: skip

#: Groups are made of at most this many of the window's latest failures.
SAMPLE = 20_000


class FailuresView(Page):
    @expose("/")  # type: ignore[untyped-decorator]
    def index(self) -> Any:
        window = request.args.get("window", "7d")
        window = window if window in WINDOWS else "7d"
        operations = door()
        since = operations.services.clock.now() - WINDOWS[window]
        groups = operations.executions.failure_groups(since, limit=200, sample=SAMPLE)
        return self.render(
            "celery_ops/failures.html",
            groups=groups,
            sampled=sum(group.count for group in groups) >= SAMPLE,
            sample=SAMPLE,
            window=window,
            windows=list(WINDOWS),
        )

    @expose("/retry", methods=["POST"])  # type: ignore[untyped-decorator]
    def retry_group(self) -> Any:
        window = request.form.get("window", "7d")
        operations = door()
        since = operations.services.clock.now() - WINDOWS.get(window, WINDOWS["7d"])
        group = {
            "status": "FAILURE",
            "task": request.form.get("task_name", ""),
            "error_type": request.form.get("error_type", ""),
            "since": since.isoformat(),
        }
        returning = url_for(".index", window=window)
        try:
            accepted = operations.executions.retry_many({"filter": group})
        except REFUSALS as exc:
            flash(str(exc), "error")
            return redirect(returning)
        return followed(accepted, returning)
