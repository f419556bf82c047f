"""Queues: every known queue with its depth, consumers, latency and pause, one queue's page,
and pausing, resuming and purging a queue."""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, request, url_for
from flask_admin import expose

from celery_ops.core.errors import NotFound
from celery_ops.dashboard.auth import door
from celery_ops.dashboard.pages.common import REFUSALS, Page, back, live_page
from celery_ops.dashboard.pages.executions import followed

ACTIONS = ("pause", "resume", "purge")


class QueuesView(Page):
    @expose("/")  # type: ignore[untyped-decorator]
    def index(self) -> Any:
        return live_page(self, "celery_ops/queues.html", queues=door().queues.all())

    # Not `name`: Flask-Admin's views take that argument themselves.
    @expose("/view/<path:queue_name>")  # type: ignore[untyped-decorator]
    def details(self, queue_name: str) -> Any:
        try:
            queue = door().queues.get(queue_name)
        except NotFound:
            flash(f"No queue named {queue_name}.", "warning")
            return redirect(url_for(".index"))
        return live_page(self, "celery_ops/queue.html", queue=queue)

    @expose("/action", methods=["POST"])  # type: ignore[untyped-decorator]
    def action(self) -> Any:
        action, name = request.form.get("action", ""), request.form.get("queue", "")
        returning = back(".index")
        if action not in ACTIONS:
            flash("Unknown action.", "error")
            return redirect(returning)
        queues = door().queues
        try:
            if action == "purge" and request.form.get("confirm") != "yes":
                return self.render(
                    "celery_ops/confirm_queue_purge.html", queue=queues.get(name), back=returning
                )
            if action == "purge":
                return followed(queues.purge(name), returning)
            change = queues.pause(name) if action == "pause" else queues.resume(name)
        except REFUSALS as exc:
            flash(str(exc), "error")
            return redirect(returning)
        told = len(change.answers.replies) if change.answers else 0
        if change.broker_error:
            flash(
                f"Queue {name} {action}d and remembered, but the workers could not be told now "
                f"({change.broker_error}); each applies it at its next heartbeat.",
                "warning",
            )
        else:
            flash(f"Queue {name} {action}d; {told} worker(s) told.", "success")
        return redirect(returning)
