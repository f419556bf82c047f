"""Executions: the list with its filters, one execution in full, and the operator actions
(retry, cancel, terminate, purge) on one row, a selection, or everything matching the filter."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from flask import flash, redirect, request, url_for
from flask_admin import expose

from celery_ops.core import lifecycle as states
from celery_ops.core.errors import InvalidInput, NotFound
from celery_ops.core.filters import ExecutionFilter
from celery_ops.dashboard.auth import door
from celery_ops.dashboard.pages.common import (
    PAGE_SIZE,
    REFUSALS,
    Page,
    back,
    int_arg,
    pretty,
    query_params,
)
from celery_ops.dashboard.pages.jobs import job_message
from celery_ops.operations.filters import FILTER_KEYS, parse_filter
from celery_ops.operations.jobs import Accepted

#: The confirmation page counts at most this many records to purge.
COUNT_CAP = 10_000
ACTIONS = ("retry", "cancel", "terminate", "purge")


class ExecutionsView(Page):
    @expose("/")  # type: ignore[untyped-decorator]
    def index(self) -> Any:
        executions = door().executions
        lookup = request.args.get("q", "").strip()
        if lookup:
            # A task id typed in the search box goes straight to that execution.
            if executions.find(lookup) is not None:
                return redirect(url_for(".details", task_id=lookup))
            flash(f"No execution with task id {lookup}.", "warning")
        rows: list[Any] = []
        next_url = None
        try:
            where = parse_filter(query_params(request.args, FILTER_KEYS))
        except InvalidInput as exc:
            flash(f"This filter cannot be used: {exc}.", "error")
            where = None
        if where is not None:
            page = executions.page(where, PAGE_SIZE, int_arg("before"))
            rows = page.items
            if page.next_cursor is not None:
                query = [(k, v) for k, v in request.args.items(multi=True) if k in FILTER_KEYS]
                next_url = (
                    f"{url_for('.index')}?{urlencode([*query, ('before', page.next_cursor)])}"
                )
        return self.render(
            "celery_ops/executions.html",
            rows=rows,
            next_url=next_url,
            statuses=states.ALL_STATUSES,
            chosen=set(request.args.getlist("status")),
            args=request.args,
            filter_keys=FILTER_KEYS,
            filtered=any(request.args.get(key) for key in FILTER_KEYS),
        )

    @expose("/view/<path:task_id>")  # type: ignore[untyped-decorator]
    def details(self, task_id: str) -> Any:
        executions = door().executions
        try:
            row = executions.get(task_id)
        except NotFound:
            flash(f"No execution with task id {task_id}.", "warning")
            return redirect(url_for(".index"))
        related = executions.related(row)
        return self.render(
            "celery_ops/execution.html",
            row=row,
            timeline=executions.timeline(task_id),
            children=related.children,
            group=related.group,
            retries=related.retries,
            pretty=pretty,
        )

    @expose("/action", methods=["POST"])  # type: ignore[untyped-decorator]
    def action(self) -> Any:
        action = request.form.get("action", "")
        scope = request.form.get("scope", "selected")
        ids = request.form.getlist("ids")
        returning = back(".index")
        if action not in ACTIONS:
            flash("Unknown action.", "error")
            return redirect(returning)
        executions = door().executions
        if scope == "selected":
            selection: dict[str, Any] = {"task_ids": ids}
        else:
            selection = {"filter": query_params(request.form, FILTER_KEYS)}
        try:
            if action == "purge" and request.form.get("confirm") != "yes":
                return self._confirm_purge(selection, returning)
            if scope == "selected" and len(ids) == 1 and action != "purge":
                return self._one(action, ids[0], returning)
            if action == "retry":
                accepted = executions.retry_many(selection)
            elif action == "purge":
                accepted = executions.purge(selection)
            else:
                accepted = executions.cancel_many(selection, terminate=action == "terminate")
        except REFUSALS as exc:
            flash(str(exc), "error")
            return redirect(returning)
        return followed(accepted, url_for(".index") if action == "purge" else returning)

    def _one(self, action: str, task_id: str, returning: str) -> Any:
        executions = door().executions
        if action == "retry":
            new_id = executions.retry(task_id)
            flash("Retried 1 execution: this is the new one.", "success")
            return redirect(url_for(".details", task_id=new_id))
        done = executions.cancel(task_id, terminate=action == "terminate")
        if done.terminated:
            flash("Terminated 1 execution.", "success")
        else:
            flash("Cancelled 1 execution: it will not run.", "success")
        return redirect(returning)

    def _confirm_purge(self, selection: dict[str, Any], returning: str) -> Any:
        if "task_ids" in selection:
            if not selection["task_ids"]:
                raise InvalidInput("select at least one execution first")
            count, description = len(selection["task_ids"]), None
        else:
            where = parse_filter(selection["filter"])
            if where.is_empty:
                raise InvalidInput(
                    "filter the list first: purging everything at once is not offered here "
                    "(use `celery -A proj ops purge --older-than ...`)"
                )
            count = door().executions.count(where, COUNT_CAP)
            description = _describe(where)
        return self.render(
            "celery_ops/confirm_purge.html",
            count=count,
            cap=COUNT_CAP,
            form=request.form,
            description=description,
            back=returning,
        )


def followed(accepted: Accepted, returning: str) -> Any:
    """After starting a job: what it did if it already ended, else its progress page."""
    if accepted.finished is None:
        return redirect(url_for("jobs.details", job_id=accepted.job_id))
    message, category = job_message(accepted.finished)
    flash(message, category)
    return redirect(returning)


def _describe(where: ExecutionFilter) -> str:
    return ", ".join(f"{key} {value}" for key, value in where.described().items())
