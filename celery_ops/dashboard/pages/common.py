"""What every page shares: sign-in, role checks for actions, parsing of filters."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from flask import abort, redirect, render_template, request, url_for
from flask_admin import BaseView

from celery_ops.beat.definition import ScheduleError, parse_time
from celery_ops.dashboard.auth import audit, current_account, ops
from celery_ops.store.queries import ExecutionFilter

#: Rows per page of every list.
PAGE_SIZE = 50


class SignedIn:
    """Mixin for Flask-Admin views: visible only to signed-in users."""

    def is_accessible(self) -> bool:
        return current_account() is not None

    def inaccessible_callback(self, name: str, **kwargs: Any) -> Any:
        return redirect(url_for("celery_ops_auth.login", next=request.full_path))


class Page(SignedIn, BaseView):  # type: ignore[misc]
    """A dashboard page."""

    def require(self, role: str, action: str, targets: Any) -> None:
        """Stop here with 403 (and an audit line) unless the user holds ``role``."""
        account = current_account()
        if account is None or not account.may(role):
            audit(action, targets, "denied", f"needs role {role}")
            abort(403)


def forbidden_page(_error: Any) -> Any:
    return render_template("celery_ops/forbidden.html"), 403


def time_arg(name: str, args: Any = None) -> datetime | None:
    """An ISO 8601 time from the query string (or ``args``); None when absent or invalid."""
    raw = str((args if args is not None else request.args).get(name, "")).strip()
    if not raw:
        return None
    try:
        return parse_time(raw, name)
    except ScheduleError:
        return None


def int_arg(name: str) -> int | None:
    raw = request.args.get(name, "")
    return int(raw) if raw.isdigit() else None


def pretty(text: str | None) -> str:
    """Stored JSON indented for reading; anything else as it is."""
    if text is None:
        return ""
    try:
        return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    except (TypeError, ValueError):
        return text


def matching_task_ids(where: ExecutionFilter, cap: int) -> Iterator[str]:
    """Task ids of the executions matching ``where``, newest first, at most ``cap``."""
    before: int | None = None
    seen = 0
    while seen < cap:
        rows = ops().store.executions(where, min(500, cap - seen), before)
        if not rows:
            return
        for row in rows:
            yield row["task_id"]
        seen += len(rows)
        before = rows[-1]["id"]
