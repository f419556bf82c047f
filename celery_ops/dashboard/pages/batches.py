"""Batches: each batch of tasks with its progress, counts by state, members, and cancel."""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, url_for
from flask_admin import expose

from celery_ops.core.filters import ExecutionFilter
from celery_ops.dashboard.auth import door
from celery_ops.dashboard.batches_api import MEMBERS_SHOWN, batch_state
from celery_ops.dashboard.pages.common import REFUSALS, Page


class BatchesView(Page):
    @expose("/")  # type: ignore[untyped-decorator]
    def index(self) -> Any:
        return self.render(
            "celery_ops/batches.html", batches=door().batches.page(100), state=batch_state
        )

    @expose("/view/<batch_id>")  # type: ignore[untyped-decorator]
    def details(self, batch_id: str) -> Any:
        operations = door()
        record, progress = operations.batches.get(batch_id)
        members = operations.executions.page(ExecutionFilter(batch_id=batch_id), MEMBERS_SHOWN)
        return self.render(
            "celery_ops/batch.html",
            batch=record,
            progress=progress,
            members=members.items,
            shown=MEMBERS_SHOWN,
            state=batch_state(record),
        )

    @expose("/view/<batch_id>/cancel", methods=["POST"])  # type: ignore[untyped-decorator]
    def cancel(self, batch_id: str) -> Any:
        try:
            revoked = door().batches.cancel(batch_id)
        except REFUSALS as exc:
            flash(str(exc), "error")
        else:
            flash(f"Batch cancelled: {revoked} member(s) that had not started revoked.", "success")
        return redirect(url_for(".details", batch_id=batch_id))
