"""Workers: every worker the store has seen with its live figures, one worker's page, and the
actions on a worker (shutdown, pool size, autoscale, queues consumed)."""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, request, url_for
from flask_admin import expose

from celery_ops.core.errors import NotFound
from celery_ops.dashboard.auth import door
from celery_ops.dashboard.pages.common import REFUSALS, Page, back, live_page
from celery_ops.operations.control import Answers

#: Form actions, and what each says when the worker took it.
ACTIONS = {
    "shutdown": "is shutting down: it finishes its running tasks first",
    "grow": "grows its pool",
    "shrink": "shrinks its pool",
    "autoscale": "autoscales",
    "consume": "consumes the queue",
    "cancel-consume": "stops consuming the queue",
    "forget": "is forgotten",
}


class WorkersView(Page):
    @expose("/")  # type: ignore[untyped-decorator]
    def index(self) -> Any:
        return live_page(self, "celery_ops/workers.html", workers=door().workers.all())

    @expose("/view/<path:hostname>")  # type: ignore[untyped-decorator]
    def details(self, hostname: str) -> Any:
        operations = door()
        try:
            worker = operations.workers.get(hostname)
        except NotFound:
            flash(f"No worker named {hostname}.", "warning")
            return redirect(url_for(".index"))
        paused = {pause.name for pause in operations.queues.pauses()}
        return live_page(self, "celery_ops/worker.html", worker=worker, paused=paused)

    @expose("/action", methods=["POST"])  # type: ignore[untyped-decorator]
    def action(self) -> Any:
        form = request.form
        action, hostname = form.get("action", ""), form.get("worker", "")
        returning = back(".index")
        if action not in ACTIONS:
            flash("Unknown action.", "error")
            return redirect(returning)
        workers = door().workers
        try:
            if action == "forget":
                workers.forget(hostname)
                flash(f"{hostname} {ACTIONS[action]}.", "success")
                return redirect(url_for(".index"))
            answers = self._act(action, hostname, form)
        except REFUSALS as exc:
            flash(str(exc), "error")
            return redirect(returning)
        flash(_said(hostname, ACTIONS[action], answers), "success")
        return redirect(returning)

    def _act(self, action: str, hostname: str, form: Any) -> Answers:
        workers = door().workers
        if action == "shutdown":
            return workers.shutdown(hostname)
        if action in ("grow", "shrink"):
            return workers.resize_pool(hostname, {action: form.get("n", "1")})
        if action == "autoscale":
            return workers.autoscale(hostname, {"max": form.get("max"), "min": form.get("min")})
        queue = {"queue": form.get("queue", "")}
        if action == "consume":
            return workers.consume(hostname, queue)
        return workers.cancel_consume(hostname, queue)


def _said(hostname: str, done: str, answers: Answers) -> str:
    reply = answers.replies.get(hostname, {})
    said = reply.get("ok") or reply.get("error")
    return f"{hostname} {done}" + (f" (it answered: {said})." if said else ".")
