"""Limits: every task type's cluster-wide rate and concurrency limits, set and removed live
(operators); workers follow within a few seconds."""

from __future__ import annotations

import json
from typing import Any

from flask import flash, redirect, request, url_for
from flask_admin import expose

from celery_ops.dashboard.auth import door
from celery_ops.dashboard.pages.common import REFUSALS, Page


class LimitsView(Page):
    @expose("/")  # type: ignore[untyped-decorator]
    def index(self) -> Any:
        return self.render("celery_ops/limits.html", limits=door().limits.all())

    @expose("/set", methods=["POST"])  # type: ignore[untyped-decorator]
    def set_limit(self) -> Any:
        task = request.form.get("task", "").strip()
        kind = request.form.get("kind", "")
        value: Any = request.form.get("value", "").strip() or None
        key = [name.strip() for name in request.form.get("key", "").split(",") if name.strip()]
        try:
            if kind == "concurrency" and value is not None:
                value = int(value) if value.isdigit() else value
            change = {kind: value, "key": key or None} if kind else {}
            door().limits.set(task, change)
        except REFUSALS as exc:
            flash(str(exc), "error")
        else:
            shown = json.dumps(value) if value is not None else "no limit"
            flash(f"{task}: {kind} is now {shown}; workers follow within seconds.", "success")
        return redirect(url_for(".index"))

    @expose("/remove", methods=["POST"])  # type: ignore[untyped-decorator]
    def remove(self) -> Any:
        task = request.form.get("task", "")
        try:
            door().limits.remove(task)
        except REFUSALS as exc:
            flash(str(exc), "error")
        else:
            flash(f"{task} is no longer limited.", "success")
        return redirect(url_for(".index"))
