"""The audit log: who did what, newest first."""

from __future__ import annotations

from typing import Any

from flask import request, url_for
from flask_admin import expose

from celery_ops.dashboard.auth import current_account, ops
from celery_ops.dashboard.pages.common import PAGE_SIZE, Page, int_arg


class AuditView(Page):
    @expose("/")  # type: ignore[untyped-decorator]
    def index(self) -> Any:
        before = int_arg("before")
        rows = ops().store.accounts.audit_page(before, PAGE_SIZE + 1)
        page, more = rows[:PAGE_SIZE], len(rows) > PAGE_SIZE
        next_url = url_for(".index", before=page[-1]["id"]) if more and page else None
        return self.render(
            "celery_ops/audit.html",
            rows=page,
            next_url=next_url,
            account=current_account(),
            args=request.args,
        )
