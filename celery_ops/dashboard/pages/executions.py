"""Executions: the list with its filters, one execution in full, and the operator actions
(retry, cancel, terminate, purge) on one row, a selection, or everything matching the filter."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from flask import flash, jsonify, redirect, render_template, request, url_for
from flask_admin import expose

from celery_ops.core import lifecycle as states
from celery_ops.core.errors import InvalidInput
from celery_ops.core.filters import LIST_ORDERS, SORTED_WINDOW, ExecutionFilter
from celery_ops.dashboard.auth import actor, door
from celery_ops.dashboard.pages.common import (
    PAGE_SIZE,
    REFUSALS,
    back,
    int_arg,
    query_params,
)
from celery_ops.dashboard.pages.execution import OneExecution
from celery_ops.dashboard.pages.jobs import job_message
from celery_ops.operations import OPERATOR
from celery_ops.operations.filters import FILTER_KEYS, parse_filter
from celery_ops.operations.jobs import Accepted

#: The confirmation page counts at most this many records to purge.
COUNT_CAP = 10_000
ACTIONS = ("retry", "cancel", "terminate", "purge", "discard")


class ExecutionsView(OneExecution):
    @expose("/")  # type: ignore[untyped-decorator]
    def index(self) -> Any:
        lookup = request.args.get("q", "").strip()
        if lookup:
            # A task id typed in the search box goes straight to that execution.
            if door().executions.find(lookup) is not None:
                return redirect(url_for(".details", task_id=lookup))
            flash(f"No execution with task id {lookup}.", "warning")
        try:
            listing = _listing(request.args.getlist("ids"))
        except InvalidInput as exc:
            flash(f"This filter cannot be used: {exc}.", "error")
            listing = None
        shown = request.args.copy()
        shown.pop("q", None)
        return self.render(
            "celery_ops/executions.html",
            live_url=f"{url_for('.list_live')}?{urlencode(list(shown.items(multi=True)))}",
            statuses=states.ALL_STATUSES,
            chosen=set(request.args.getlist("status")),
            args=request.args,
            filter_keys=FILTER_KEYS,
            **(listing.context if listing else _empty_listing()),
        )

    @expose("/live")  # type: ignore[untyped-decorator]
    def list_live(self) -> Any:
        """What changed on an open list: 204 if neither a row it shows nor the rows that
        match (a new one) did, else its rows (``_executions.html``) and the next version."""
        try:
            where, _, before = _list_request()
        except InvalidInput:
            return "", 204
        shown_ids = [task_id for task_id in request.args.get("ids", "").split(",") if task_id]
        if _list_version(where, before, shown_ids) == request.args.get("version"):
            return "", 204
        listing = _listing()
        html = render_template("celery_ops/_executions.html", account=actor(), **listing.context)
        return jsonify({"version": listing.version, "html": html, "done": False})

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
            # Asked only of who may act: anyone else is refused (and audited) by the door.
            asks_first = (action == "purge" or scope == "matching") and actor().may(OPERATOR)
            if asks_first and request.form.get("confirm") != "yes":
                return self._confirm(action, selection, returning)
            if scope == "selected" and len(ids) == 1 and action not in ("purge", "discard"):
                return self._one(action, ids[0], returning)
            if action == "retry":
                accepted = executions.retry_many(selection)
            elif action == "discard":
                accepted = executions.discard_many(selection)
            elif action == "purge":
                accepted = executions.purge(selection)
            else:
                accepted = executions.cancel_many(selection, terminate=action == "terminate")
        except REFUSALS as exc:
            flash(str(exc), "error")
            return redirect(returning)
        return followed(accepted, url_for(".index") if action == "purge" else returning)

    @expose("/export", methods=["POST"])  # type: ignore[untyped-decorator]
    def export(self) -> Any:
        """Export what the list's filter matches; its progress (and download) on its page."""
        request_body = {
            "filter": query_params(request.form, FILTER_KEYS),
            "format": request.form.get("format", "csv"),
        }
        try:
            accepted = door().exports.start(request_body)
        except REFUSALS as exc:
            flash(str(exc), "error")
            return redirect(back(".index"))
        return redirect(url_for("jobs.details", job_id=accepted.job_id))

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

    def _confirm(self, action: str, selection: dict[str, Any], returning: str) -> Any:
        """Say how many executions the action would touch, and ask."""
        if "task_ids" in selection:
            if not selection["task_ids"]:
                raise InvalidInput("select at least one execution first")
            count, description = len(selection["task_ids"]), None
        else:
            where = parse_filter(selection["filter"])
            if where.is_empty and action == "purge":
                raise InvalidInput(
                    "filter the list first: purging everything at once is not offered here "
                    "(use `celery -A proj ops purge --older-than ...`)"
                )
            count = door().executions.count(where, COUNT_CAP)
            if count >= COUNT_CAP:
                count = door().executions.estimate(where, COUNT_CAP) or COUNT_CAP
            description = _describe(where) if not where.is_empty else "every execution"
        return self.render(
            "celery_ops/confirm_bulk.html",
            action=action,
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


@dataclass(frozen=True)
class Listing:
    context: dict[str, Any]
    version: str


#: Up to this many matches, a list says exactly how many; beyond, the database's estimate.
EXACT_UP_TO = 1000


def _list_request() -> tuple[ExecutionFilter, str, int | None]:
    where = parse_filter(query_params(request.args, FILTER_KEYS))
    sort = request.args.get("sort") or "newest"
    if sort not in LIST_ORDERS:
        raise InvalidInput(f"order must be one of {', '.join(LIST_ORDERS)}")
    return where, sort, int_arg("before") if sort == "newest" else None


def _listing(_: Any = None) -> Listing:
    """The list the request's filter, order and cursor ask for."""
    executions = door().executions
    where, sort, before = _list_request()
    page = executions.page(where, PAGE_SIZE, before, sort)
    next_url = None
    if page.next_cursor is not None:
        query = [
            (k, v) for k, v in request.args.items(multi=True) if k in FILTER_KEYS or k == "sort"
        ]
        next_url = (
            f"{url_for('executions.index')}?{urlencode([*query, ('before', page.next_cursor)])}"
        )
    version = _list_version(where, before, [row.task_id for row in page.items])
    context = {
        "rows": page.items,
        "next_url": next_url,
        "sort": sort,
        "total": executions.estimate(where, EXACT_UP_TO),
        "exact_up_to": EXACT_UP_TO,
        "sorted_window": SORTED_WINDOW,
        "filtered": not where.is_empty,
        "version": version,
    }
    return Listing(context, version)


def _empty_listing() -> dict[str, Any]:
    return {
        "rows": [],
        "next_url": None,
        "sort": "newest",
        "total": 0,
        "exact_up_to": EXACT_UP_TO,
        "sorted_window": SORTED_WINDOW,
        "filtered": True,
        "version": "",
    }


def _list_version(where: ExecutionFilter, before: int | None, task_ids: list[str]) -> str:
    """Changes when a row of ``task_ids`` changes, or (on the first page) a new row matches:
    index lookups only, whatever the size of the store."""
    executions = door().executions
    newest = executions.newest_id(where) if before is None else None
    seen = (newest, executions.versions(sorted(task_ids)))
    return hashlib.blake2s(repr(seen).encode(), digest_size=12).hexdigest()
