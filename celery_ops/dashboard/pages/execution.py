"""One execution's page: everything recorded about it, its timeline as a waterfall, the
workflow it belongs to as a tree, and the poll that keeps an open page up to date."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from flask import flash, jsonify, redirect, render_template, request, url_for
from flask_admin import expose

from celery_ops.core import lifecycle as states
from celery_ops.core.clock import utcnow
from celery_ops.core.errors import NotFound
from celery_ops.core.filters import ExecutionFilter
from celery_ops.core.waterfall import waterfall
from celery_ops.dashboard.auth import actor, door
from celery_ops.dashboard.pages.common import Page


class OneExecution(Page):
    """The views of one execution, for ExecutionsView (Flask-Admin's ``expose``)."""

    @expose("/view/<path:task_id>")  # type: ignore[untyped-decorator]
    def details(self, task_id: str) -> Any:
        try:
            shown = _shown_execution(task_id, watch_workflow=None)
        except NotFound:
            flash(f"No execution with task id {task_id}.", "warning")
            return redirect(url_for(".index"))
        return self.render(
            "celery_ops/execution.html",
            live_url=url_for(
                ".execution_live", task_id=task_id, workflow=int(shown.watch_workflow)
            ),
            back=request.full_path,
            version=shown.version,
            **shown.context,
        )

    @expose("/view/<path:task_id>/live")  # type: ignore[untyped-decorator]
    def execution_live(self, task_id: str) -> Any:
        """What changed on an open execution page: 204 if nothing did, else its live region
        (``_execution.html``) and the version to ask with next time."""
        watched = request.args.get("workflow") == "1"
        shown = _shown_execution(task_id, watch_workflow=watched)
        if shown.version == request.args.get("version"):
            return "", 204
        if not watched:  # a finished workflow is not asked for at each poll: read it now
            shown.context["workflow"] = door().executions.workflow(shown.context["row"])
        html = render_template(
            "celery_ops/_execution.html",
            account=actor(),
            back=url_for(".details", task_id=task_id),
            **shown.context,
        )
        return jsonify({"version": shown.version, "html": html, "done": shown.done})


@dataclass(frozen=True)
class ShownExecution:
    context: dict[str, Any]
    #: Changes when anything the poll watches does.
    version: str
    #: Whether the page's polls watch the workflow too (some member had not ended).
    watch_workflow: bool
    #: Whether nothing more will change (ended, and its workflow too).
    done: bool


def _shown_execution(task_id: str, watch_workflow: bool | None) -> ShownExecution:
    """What the page of ``task_id`` shows. ``watch_workflow``: whether its workflow is part
    of the version (None: read it, and watch it while a member has not ended)."""
    executions = door().executions
    row = executions.get(task_id)
    timeline = executions.timeline(task_id)
    workflow = executions.workflow(row) if watch_workflow is not False else None
    retries = executions.page(ExecutionFilter(retried_from=row.task_id), 50).items
    discard = executions.discarded(task_id) if row.status == states.FAILURE else None
    members = workflow.members() if workflow is not None else []
    unfinished = any(m.status not in states.TERMINAL_STATUSES for m in members)
    watched = unfinished if watch_workflow is None else watch_workflow
    seen = (
        row.status,
        row.status_at,
        row.progress_at,
        row.attempts,
        len(timeline),
        [(m.task_id, m.status, m.progress_at) for m in members] if watched else [],
        [(r.task_id, r.status) for r in retries],
        discard,
    )
    context = {
        "row": row,
        "timeline": timeline,
        "waterfall": waterfall(timeline, utcnow()),
        "workflow": workflow,
        "retries": retries,
        "discard": discard,
    }
    done = row.status in states.TERMINAL_STATUSES and not unfinished
    return ShownExecution(context, _digest(seen), watched, done)


def _digest(seen: Any) -> str:
    return hashlib.blake2s(repr(seen).encode(), digest_size=12).hexdigest()
