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
from celery_ops.core.records import Execution
from celery_ops.core.waterfall import waterfall
from celery_ops.core.workflow import Workflow
from celery_ops.dashboard.auth import actor, door
from celery_ops.dashboard.pages.common import Page


class OneExecution(Page):
    """The views of one execution, for ExecutionsView (Flask-Admin's ``expose``)."""

    @expose("/view/<path:task_id>")  # type: ignore[untyped-decorator]
    def details(self, task_id: str) -> Any:
        try:
            shown = _shown_execution(task_id, with_workflow=True)
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
        shown = _shown_execution(task_id, with_workflow=request.args.get("workflow") == "1")
        if shown.version == request.args.get("version"):
            return "", 204
        html = render_template(
            "celery_ops/_execution.html",
            account=actor(),
            back=back_to_details(task_id),
            **shown.context,
        )
        return jsonify({"version": shown.version, "html": html, "done": shown.done})


@dataclass(frozen=True)
class ShownExecution:
    context: dict[str, Any]
    #: Changes when anything the page shows does.
    version: str
    #: Whether the page should keep asking for the workflow (some member is not final).
    watch_workflow: bool
    #: Whether nothing more will change (final, and its workflow too).
    done: bool


def _shown_execution(task_id: str, with_workflow: bool) -> ShownExecution:
    executions = door().executions
    row = executions.get(task_id)
    timeline = executions.timeline(task_id)
    workflow = executions.workflow(row) if with_workflow else None
    retries = executions.related(row).retries
    members = _members(workflow)
    unfinished = [m for m in members if m.status not in states.TERMINAL_STATUSES]
    version = hashlib.blake2s(
        repr(
            (
                row.status,
                row.status_at,
                row.progress_at,
                row.attempts,
                len(timeline),
                [(m.task_id, m.status, m.progress_at) for m in members],
                [(r.task_id, r.status) for r in retries],
            )
        ).encode(),
        digest_size=12,
    ).hexdigest()
    context = {
        "row": row,
        "timeline": timeline,
        "waterfall": waterfall(timeline, utcnow()),
        "workflow": workflow,
        "retries": retries,
    }
    done = row.status in states.TERMINAL_STATUSES and not unfinished
    return ShownExecution(context, version, with_workflow and bool(unfinished), done)


def _members(workflow: Workflow | None) -> list[Execution]:
    if workflow is None:
        return []
    found, stack = [], list(workflow.roots)
    while stack:
        node = stack.pop()
        found.append(node.execution)
        stack.extend(node.children)
    return found


def back_to_details(task_id: str) -> str:
    return url_for(".details", task_id=task_id)
