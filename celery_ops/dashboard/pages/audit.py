"""The audit log (admins): who did what, newest first."""

from __future__ import annotations

from typing import Any

from flask import flash, request, url_for
from flask_admin import expose

from celery_ops.core.errors import InvalidInput
from celery_ops.dashboard.auth import actor, door
from celery_ops.dashboard.pages.common import PAGE_SIZE, Page, int_arg, query_params
from celery_ops.operations import ADMIN
from celery_ops.operations.auditlog import QUERY_KEYS


class AuditView(Page):
    def is_visible(self) -> bool:
        return actor().may(ADMIN)

    @expose("/")  # type: ignore[untyped-decorator]
    def index(self) -> Any:
        filters = query_params(request.args, QUERY_KEYS)
        try:
            page = door().audit.page(filters, PAGE_SIZE, int_arg("before"))
        except InvalidInput as exc:
            flash(f"This filter cannot be used: {exc}.", "error")
            page = door().audit.page({}, PAGE_SIZE)
        next_url = (
            url_for(".index", before=page.next_cursor, **filters)
            if page.next_cursor is not None
            else None
        )
        return self.render(
            "celery_ops/audit.html",
            rows=page.entries,
            next_url=next_url,
            args=request.args,
        )
