"""Failures grouped by task and exception type, and a retry of a whole group."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from flask import flash, redirect, request, url_for
from flask_admin import expose

from celery_ops import lifecycle as states
from celery_ops.accounts import OPERATOR
from celery_ops.actions import ActionError, Operations
from celery_ops.dashboard.auth import audit, current_account, ops
from celery_ops.dashboard.pages.common import Page, matching_task_ids
from celery_ops.dashboard.pages.executions import MATCHING_CAP
from celery_ops.store.queries import ExecutionFilter

WINDOWS = {"1h": timedelta(hours=1), "1d": timedelta(days=1), "7d": timedelta(days=7),
           "30d": timedelta(days=30)}  # fmt: skip


#: Groups are made of at most this many of the window's latest failures.
SAMPLE = 20_000


class FailuresView(Page):
    @expose("/")  # type: ignore[untyped-decorator]
    def index(self) -> Any:
        window = request.args.get("window", "7d")
        since = _since(window)
        groups = ops().store.failure_groups(since, limit=200, sample=SAMPLE)
        return self.render(
            "celery_ops/failures.html",
            groups=groups,
            sampled=sum(group["count"] for group in groups) >= SAMPLE,
            sample=SAMPLE,
            window=window if window in WINDOWS else "7d",
            windows=list(WINDOWS),
            account=current_account(),
        )

    @expose("/retry", methods=["POST"])  # type: ignore[untyped-decorator]
    def retry_group(self) -> Any:
        task_name = request.form.get("task_name") or None
        error_type = request.form.get("error_type") or None
        window = request.form.get("window", "7d")
        targets = {"task_name": task_name, "error_type": error_type, "window": window}
        self.require(OPERATOR, "retry-group", targets)
        where = ExecutionFilter(
            statuses=(states.FAILURE,),
            task_name=task_name,
            error_type=error_type,
            since=_since(window),
        )
        operations = Operations(ops())
        done: list[str] = []
        errors: list[str] = []
        for task_id in list(matching_task_ids(where, MATCHING_CAP)):
            try:
                done.append(operations.retry(task_id))
            except ActionError as exc:
                errors.append(str(exc))
        audit("retry-group", {**targets, "done": done}, "ok" if not errors else "partial",
              "; ".join(errors[:5]) or None)  # fmt: skip
        flash(f"Retried {len(done)} failed execution(s) of {task_name} ({error_type}).", "success")
        for message in errors[:3]:
            flash(message, "error")
        return redirect(url_for(".index", window=window))


def _since(window: str) -> datetime:
    return datetime.now(timezone.utc) - WINDOWS.get(window, WINDOWS["7d"])
