"""Schedules: list, create, edit (with a preview of the next due times in the row's time
zone), enable, disable, delete and run now, all through the operations layer."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import flash, redirect, request, url_for
from flask_admin import expose
from flask_wtf import FlaskForm
from wtforms import BooleanField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length

from celery_ops.dashboard.auth import door
from celery_ops.dashboard.pages.common import REFUSALS, Page
from celery_ops.scheduling.definition import Schedule

#: The form's name for each kind's timing field, and the schedule field it sets.
TIMING_FIELDS = {"cron": "cron_expression", "interval": "interval_seconds", "once": "run_at"}
TIMING_CHANGES = {"cron": "cron", "interval": "every", "once": "at"}


class ScheduleForm(FlaskForm):  # type: ignore[misc]
    name = StringField("Name", validators=[DataRequired(), Length(max=255)])
    task = StringField("Task", validators=[DataRequired(), Length(max=255)])
    kind = SelectField("Kind", choices=["cron", "interval", "once"])
    cron_expression = StringField("Cron expression")
    timezone = StringField("Time zone")
    interval_seconds = StringField("Every (seconds)")
    run_at = StringField("Run at (ISO 8601)")
    args = TextAreaField("Args (JSON list)", default="[]")
    kwargs = TextAreaField("Kwargs (JSON object)", default="{}")
    options = TextAreaField("Other apply_async options (JSON object)", default="{}")
    queue = StringField("Queue")
    priority = StringField("Priority")
    max_runs = StringField("Max runs")
    start_at = StringField("Start (ISO 8601)")
    end_at = StringField("End (ISO 8601)")
    misfire = SelectField(
        "Missed runs (once: fire the latest once; skip)", choices=["once", "skip"]
    )
    description = TextAreaField("Description")
    enabled = BooleanField("Enabled", default=True)

    def fill(self, schedule: Schedule) -> None:
        for field in ("name", "task", "kind", "cron_expression", "timezone", "queue",
                      "misfire", "description"):  # fmt: skip
            getattr(self, field).data = getattr(schedule, field) or ""
        self.interval_seconds.data = _text(schedule.interval_seconds)
        self.priority.data = _text(schedule.priority)
        self.max_runs.data = _text(schedule.max_runs)
        for field in ("run_at", "start_at", "end_at"):
            value = getattr(schedule, field)
            getattr(self, field).data = value.isoformat() if value else ""
        self.args.data = json.dumps(schedule.args, ensure_ascii=False)
        self.kwargs.data = json.dumps(schedule.kwargs, ensure_ascii=False)
        self.options.data = json.dumps(schedule.options, ensure_ascii=False)
        self.enabled.data = schedule.enabled

    def definition(self) -> dict[str, Any]:
        """The whole definition as the form has it (text), for the operations layer to read:
        an empty field clears its value."""
        kind = self.kind.data
        values: dict[str, Any] = {
            "task": self.task.data,
            "timezone": self.timezone.data,
            "args": self.args.data or "[]",
            "kwargs": self.kwargs.data or "{}",
            "options": self.options.data or "{}",
            "queue": self.queue.data,
            "priority": self.priority.data,
            "max_runs": self.max_runs.data,
            "start_at": self.start_at.data,
            "end_at": self.end_at.data,
            "misfire": self.misfire.data,
            "description": self.description.data,
            "enabled": bool(self.enabled.data),
        }
        timing = getattr(self, TIMING_FIELDS.get(kind, "cron_expression")).data
        values[TIMING_CHANGES.get(kind, "cron")] = timing if (timing or "").strip() else None
        return values


class SchedulesView(Page):
    @expose("/")  # type: ignore[untyped-decorator]
    def index(self) -> Any:
        schedules = door().schedules
        return self.render(
            "celery_ops/schedules.html",
            rows=schedules.page(request.args.get("after") or None, 200),
            default_timezone=schedules.default_timezone,
            local=_local,
        )

    @expose("/view/<path:schedule_name>")  # type: ignore[untyped-decorator]
    def details(self, schedule_name: str) -> Any:
        schedules = door().schedules
        try:
            schedule = schedules.get(schedule_name)
        except REFUSALS as exc:
            flash(str(exc), "warning")
            return redirect(url_for(".index"))
        tz_name = schedule.timezone or schedules.default_timezone
        try:
            upcoming = [_local(t, tz_name) for t in schedules.upcoming(schedule_name, 5)]
            problem = None
        except REFUSALS as exc:
            upcoming, problem = [], str(exc)
        return self.render(
            "celery_ops/schedule.html",
            schedule=schedule,
            upcoming=upcoming,
            problem=problem,
            timezone=tz_name,
            runs=schedules.recent_runs(schedule_name, 20),
        )

    @expose("/new", methods=["GET", "POST"])  # type: ignore[untyped-decorator]
    def create(self) -> Any:
        form = ScheduleForm()
        if request.method == "GET":
            form.timezone.data = door().schedules.default_timezone
        return self._edit(form, None)

    @expose("/edit/<path:schedule_name>", methods=["GET", "POST"])  # type: ignore[untyped-decorator]
    def edit(self, schedule_name: str) -> Any:
        form = ScheduleForm()
        if request.method == "GET":
            try:
                form.fill(door().schedules.get(schedule_name))
            except REFUSALS as exc:
                flash(str(exc), "warning")
                return redirect(url_for(".index"))
        return self._edit(form, schedule_name)

    @expose("/<path:schedule_name>/<command>", methods=["POST"])  # type: ignore[untyped-decorator]
    def command(self, schedule_name: str, command: str) -> Any:
        name = schedule_name
        schedules = door().schedules
        try:
            if command == "enable":
                schedules.enable(name)
            elif command == "disable":
                schedules.disable(name)
            elif command == "delete":
                schedules.remove(name)
            elif command == "run":
                task_id = schedules.run_now(name)
                flash(f"Sent {name} now: task id {task_id}.", "success")
            else:
                flash("Unknown command.", "error")
                return redirect(url_for(".index"))
        except REFUSALS as exc:
            flash(str(exc), "error")
            return redirect(url_for(".details", schedule_name=name))
        if command == "delete":
            flash(f"Deleted {name}.", "success")
            return redirect(url_for(".index"))
        if command in ("enable", "disable"):
            flash(f"{command.capitalize()}d {name}.", "success")
        return redirect(url_for(".details", schedule_name=name))

    def _edit(self, form: ScheduleForm, name: str | None) -> Any:
        preview: list[str] = []
        if request.method == "POST" and form.validate_on_submit():
            schedules = door().schedules
            new_name = (form.name.data or "").strip()
            definition = form.definition()
            try:
                if request.form.get("preview"):
                    timezone = definition.get("timezone") or schedules.default_timezone
                    times = schedules.preview(new_name, definition)
                    preview = [_local(t, timezone) for t in times]
                else:
                    if name is None:
                        task = definition.pop("task")
                        saved = schedules.add(new_name, task, **definition)
                    else:
                        if new_name != name:
                            definition["name"] = new_name
                        saved = schedules.update(name, **definition)
                    flash(f"Saved {saved.name}.", "success")
                    return redirect(url_for(".details", schedule_name=saved.name))
            except REFUSALS as exc:
                flash(str(exc), "error")
        return self.render("celery_ops/schedule_form.html", form=form, name=name, preview=preview)


def _local(moment: datetime | None, tz_name: str) -> str:
    if moment is None:
        return "—"
    try:
        return moment.astimezone(ZoneInfo(tz_name)).strftime("%Y-%m-%d %H:%M:%S %Z")
    except (ZoneInfoNotFoundError, ValueError):
        return moment.isoformat()


def _text(value: Any) -> str:
    return "" if value is None else f"{value:g}" if isinstance(value, float) else str(value)
