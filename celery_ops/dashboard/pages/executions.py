"""Executions: the list with its filters, one execution in full, and the operator actions
(retry, cancel, purge) on one row, a selection, or everything matching the filter."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from flask import flash, redirect, request, url_for
from flask_admin import expose

from celery_ops import lifecycle as states
from celery_ops.accounts import OPERATOR
from celery_ops.actions import ActionError, Operations
from celery_ops.dashboard.auth import audit, current_account, ops
from celery_ops.dashboard.pages.common import (
    PAGE_SIZE,
    Page,
    int_arg,
    matching_task_ids,
    pretty,
    time_arg,
)
from celery_ops.store.queries import MIN_SEARCH_CHARS, ExecutionFilter

#: "Everything matching the filter" stops at this many executions for retry and cancel.
MATCHING_CAP = 10_000
FILTER_ARGS = (
    "status", "task", "queue", "worker", "schedule", "tenant", "since", "until", "text",
)  # fmt: skip


def current_filter(args: Any) -> ExecutionFilter:
    """The filter of the list page, from its query string (or the hidden fields of a form)."""
    statuses = tuple(s for s in args.getlist("status") if s in states.ALL_STATUSES)
    return ExecutionFilter(
        statuses=statuses,
        task_name=args.get("task") or None,
        queue=args.get("queue") or None,
        worker_id=args.get("worker") or None,
        schedule_name=args.get("schedule") or None,
        tenant_id=args.get("tenant") or None,
        since=time_arg("since", args),
        until=time_arg("until", args),
        text=_search_text(args.get("text")),
    )


class ExecutionsView(Page):
    @expose("/")  # type: ignore[untyped-decorator]
    def index(self) -> Any:
        lookup = request.args.get("q", "").strip()
        if lookup:
            # A task id typed in the search box goes straight to that execution.
            if ops().store.execution(lookup) is not None:
                return redirect(url_for(".details", task_id=lookup))
            flash(f"No execution with task id {lookup}.", "warning")
        where = current_filter(request.args)
        before = int_arg("before")
        rows = ops().store.executions(where, PAGE_SIZE + 1, before)
        page, more = rows[:PAGE_SIZE], len(rows) > PAGE_SIZE
        filters = {k: v for k, v in request.args.items(multi=True) if k in FILTER_ARGS and v}
        next_url = None
        if more and page:
            query = [(k, v) for k, v in request.args.items(multi=True) if k in FILTER_ARGS]
            next_url = url_for(".index") + "?" + urlencode([*query, ("before", page[-1]["id"])])
        return self.render(
            "celery_ops/executions.html",
            rows=page,
            next_url=next_url,
            statuses=states.ALL_STATUSES,
            chosen=set(where.statuses),
            args=request.args,
            filter_query=urlencode(list(request.args.items(multi=True))),
            filtered=bool(filters),
            account=current_account(),
        )

    @expose("/view/<task_id>")  # type: ignore[untyped-decorator]
    def details(self, task_id: str) -> Any:
        store = ops().store
        row = store.execution(task_id)
        if row is None:
            flash(f"No execution with task id {task_id}.", "warning")
            return redirect(url_for(".index"))
        children = store.executions(ExecutionFilter(parent_id=task_id), limit=PAGE_SIZE)
        group = (
            store.executions(ExecutionFilter(group_id=row["group_id"]), limit=PAGE_SIZE)
            if row.get("group_id")
            else []
        )
        retries = store.executions(ExecutionFilter(retried_from=task_id), limit=PAGE_SIZE)
        return self.render(
            "celery_ops/execution.html",
            row=row,
            timeline=store.timeline(task_id),
            children=children,
            group=[member for member in group if member["task_id"] != task_id],
            retries=retries,
            pretty=pretty,
            account=current_account(),
        )

    @expose("/action", methods=["POST"])  # type: ignore[untyped-decorator]
    def action(self) -> Any:
        action = request.form.get("action", "")
        scope = request.form.get("scope", "selected")
        where = current_filter(request.form)
        ids = request.form.getlist("ids")
        targets: dict[str, Any] = {"scope": scope}
        targets.update({"task_ids": ids} if scope == "selected" else {"filter": _describe(where)})
        self.require(OPERATOR, action or "action", targets)
        back = request.form.get("back") or url_for(".index")
        if action not in ("retry", "cancel", "terminate", "purge"):
            flash("Unknown action.", "error")
            return redirect(back)
        if scope == "selected" and not ids:
            flash("Select at least one execution first.", "warning")
            return redirect(back)
        if action == "purge":
            return self._purge(scope, where, ids, targets, back)
        return self._apply(action, scope, where, ids, targets, back)

    def _apply(
        self,
        action: str,
        scope: str,
        where: ExecutionFilter,
        ids: list[str],
        targets: dict[str, Any],
        back: str,
    ) -> Any:
        operations = Operations(ops())
        chosen = ids if scope == "selected" else list(matching_task_ids(where, MATCHING_CAP))
        done: list[str] = []
        errors: list[str] = []
        for task_id in chosen:
            try:
                if action == "retry":
                    done.append(operations.retry(task_id))
                else:
                    operations.cancel(task_id, terminate=action == "terminate")
                    done.append(task_id)
            except ActionError as exc:
                errors.append(str(exc))
        outcome = "ok" if not errors else ("failed" if not done else "partial")
        audit(action, {**targets, "done": done}, outcome, "; ".join(errors[:5]) or None)
        verb = {"retry": "Retried", "cancel": "Cancelled", "terminate": "Terminated"}[action]
        if done:
            flash(f"{verb} {len(done)} execution(s).", "success")
        for message in errors[:5]:
            flash(message, "error")
        if len(errors) > 5:
            flash(f"…and {len(errors) - 5} more refused.", "error")
        if action == "retry" and len(done) == 1:
            return redirect(url_for(".details", task_id=done[0]))
        return redirect(back)

    def _purge(
        self,
        scope: str,
        where: ExecutionFilter,
        ids: list[str],
        targets: dict[str, Any],
        back: str,
    ) -> Any:
        store = ops().store
        if request.form.get("confirm") != "yes":
            count = len(ids) if scope == "selected" else store.count_executions(where, MATCHING_CAP)
            return self.render(
                "celery_ops/confirm_purge.html",
                count=count,
                cap=MATCHING_CAP,
                form=request.form,
                description=_describe(where) if scope != "selected" else None,
            )
        if scope == "selected":
            deleted = store.purge_matching(task_ids=ids)
        else:
            deleted = store.purge_matching(where)
        audit("purge", targets, "ok", f"deleted {deleted}")
        flash(f"Deleted {deleted} execution record(s) and their timelines.", "success")
        return redirect(url_for(".index"))


def _search_text(raw: str | None) -> str | None:
    text = (raw or "").strip()
    if not text:
        return None
    if len(text) < MIN_SEARCH_CHARS:
        flash(f"Search needs at least {MIN_SEARCH_CHARS} characters.", "warning")
        return None
    return text


def _describe(where: ExecutionFilter) -> dict[str, Any]:
    return {key: value for key, value in where.__dict__.items() if value not in (None, ())}
