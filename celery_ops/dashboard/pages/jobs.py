"""A background job's progress (a bulk retry, cancel or purge), refreshed until it ends."""

from __future__ import annotations

from typing import Any

from flask import flash, jsonify, redirect, render_template, request, url_for
from flask_admin import expose

from celery_ops.core.errors import NotFound
from celery_ops.core.records import JobRecord
from celery_ops.dashboard.auth import door
from celery_ops.dashboard.pages.common import Page


class JobsView(Page):
    def is_visible(self) -> bool:
        return False  # reached from the page that started a job, not from the menu

    @expose("/")  # type: ignore[untyped-decorator]
    def index(self) -> Any:
        return redirect(url_for("executions.index"))

    @expose("/<job_id>")  # type: ignore[untyped-decorator]
    def details(self, job_id: str) -> Any:
        try:
            job = door().executions.job(job_id)
        except NotFound as exc:
            flash(str(exc), "warning")
            return redirect(url_for("executions.index"))
        return self.render(
            "celery_ops/job.html", job=job, running=_running(job), version=_version(job)
        )

    @expose("/<job_id>/live")  # type: ignore[untyped-decorator]
    def live(self, job_id: str) -> Any:
        """What changed on an open job page: 204 if nothing did, else its live region."""
        job = door().executions.job(job_id)
        version = _version(job)
        if version == request.args.get("version"):
            return "", 204
        html = render_template("celery_ops/_job.html", job=job, running=_running(job))
        return jsonify({"version": version, "html": html, "done": not _running(job)})


def _version(job: JobRecord) -> str:
    return f"{job.status}:{job.done}:{job.total}"


def _running(job: JobRecord) -> bool:
    return job.status in ("queued", "running")


def job_message(job: JobRecord) -> tuple[str, str]:
    """A sentence for a job that ended, and its category for flash()."""
    result = job.result or {}
    if job.status == "failed":
        return f"{_label(job.action)} failed: {result.get('error', 'unknown error')}", "error"
    counts = ", ".join(
        f"{value} {key}" for key, value in result.items() if key != "errors" and value is not None
    )
    category = "warning" if result.get("refused") else "success"
    return f"{_label(job.action)}: {counts}.", category


def _label(action: str) -> str:
    return action.replace("-many", "").replace("-", " ").capitalize()
