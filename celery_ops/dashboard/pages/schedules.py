"""Schedules: list, create, edit (with a preview of the next due times in the row's time
zone), enable, disable, delete and run now, all through the schedules write path."""

from __future__ import annotations

import json
from typing import Any

from flask import flash, redirect, request, url_for
from flask_admin import expose
from flask_wtf import FlaskForm
from wtforms import BooleanField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length

from celery_ops.accounts import OPERATOR
from celery_ops.beat import Schedule, ScheduleError, ScheduleNotFound, ScheduleSpec
from celery_ops.beat.definition import parse_json_argument, parse_time
from celery_ops.beat.timing import TimingError, utcnow, zone
from celery_ops.dashboard.auth import audit, current_account, ops
from celery_ops.dashboard.pages.common import Page


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

    def changes(self) -> dict[str, Any]:
        """The definition as keyword changes for Schedules.add/update; ScheduleError if bad."""
        kind = self.kind.data
        values: dict[str, Any] = {
            "task": _clean(self.task.data),
            "timezone": _clean(self.timezone.data) or None,
            "args": parse_json_argument(self.args.data or "[]", "args", list),
            "kwargs": parse_json_argument(self.kwargs.data or "{}", "kwargs", dict),
            "options": parse_json_argument(self.options.data or "{}", "options", dict),
            "queue": _clean(self.queue.data) or None,
            "priority": _number(self.priority.data, "priority", int),
            "max_runs": _number(self.max_runs.data, "max runs", int),
            "start_at": _time(self.start_at.data, "start"),
            "end_at": _time(self.end_at.data, "end"),
            "misfire": self.misfire.data,
            "description": self.description.data or None,
            "enabled": bool(self.enabled.data),
        }
        if kind == "cron":
            values["cron"] = _clean(self.cron_expression.data)
        elif kind == "interval":
            values["every"] = _number(self.interval_seconds.data, "interval", float)
        else:
            values["at"] = _time(self.run_at.data, "run at")
        if not (values.get("cron") or values.get("every") or values.get("at")):
            raise ScheduleError(f"a {kind} schedule needs its timing filled in")
        return values


class SchedulesView(Page):
    @expose("/")  # type: ignore[untyped-decorator]
    def index(self) -> Any:
        schedules = ops().schedules
        rows = schedules.page(request.args.get("after") or None, 200)
        return self.render(
            "celery_ops/schedules.html",
            rows=rows,
            default_timezone=schedules.default_timezone,
            local=_local,
            account=current_account(),
        )

    @expose("/view/<schedule_name>")  # type: ignore[untyped-decorator]
    def details(self, schedule_name: str) -> Any:
        name = schedule_name
        schedules = ops().schedules
        try:
            schedule = schedules.get(name)
        except ScheduleNotFound as exc:
            flash(str(exc), "warning")
            return redirect(url_for(".index"))
        tz_name = schedule.timezone or schedules.default_timezone
        try:
            upcoming = [_local(t, tz_name) for t in schedules.upcoming(name, 5)]
            problem = None
        except ScheduleError as exc:
            upcoming, problem = [], str(exc)
        return self.render(
            "celery_ops/schedule.html",
            schedule=schedule,
            upcoming=upcoming,
            problem=problem,
            timezone=tz_name,
            runs=schedules.recent_runs(name, 20),
            account=current_account(),
        )

    @expose("/new", methods=["GET", "POST"])  # type: ignore[untyped-decorator]
    def create(self) -> Any:
        form = ScheduleForm()
        if request.method == "GET":
            form.timezone.data = ops().schedules.default_timezone
        return self._edit(form, None)

    @expose("/edit/<schedule_name>", methods=["GET", "POST"])  # type: ignore[untyped-decorator]
    def edit(self, schedule_name: str) -> Any:
        name = schedule_name
        form = ScheduleForm()
        if request.method == "GET":
            try:
                form.fill(ops().schedules.get(name))
            except ScheduleNotFound as exc:
                flash(str(exc), "warning")
                return redirect(url_for(".index"))
        return self._edit(form, name)

    @expose("/<schedule_name>/<command>", methods=["POST"])  # type: ignore[untyped-decorator]
    def command(self, schedule_name: str, command: str) -> Any:
        name = schedule_name
        action = f"schedule-{command}"
        self.require(OPERATOR, action, {"name": name})
        schedules = ops().schedules
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
        except (ScheduleError, ScheduleNotFound) as exc:
            audit(action, {"name": name}, "failed", str(exc))
            flash(str(exc), "error")
            return redirect(url_for(".details", schedule_name=name))
        audit(action, {"name": name}, "ok")
        if command == "delete":
            flash(f"Deleted {name}.", "success")
            return redirect(url_for(".index"))
        if command in ("enable", "disable"):
            flash(f"{command.capitalize()}d {name}.", "success")
        return redirect(url_for(".details", schedule_name=name))

    def _edit(self, form: ScheduleForm, name: str | None) -> Any:
        preview: list[str] = []
        if request.method == "POST" and form.validate_on_submit():
            action = "schedule-update" if name else "schedule-create"
            self.require(OPERATOR, action, {"name": name or form.name.data})
            try:
                changes = form.changes()
                if request.form.get("preview"):
                    preview = _preview(form.name.data, changes)
                else:
                    saved = self._save(name, _clean(form.name.data), changes)
                    audit(action, {"name": saved.name}, "ok")
                    flash(f"Saved {saved.name}.", "success")
                    return redirect(url_for(".details", schedule_name=saved.name))
            except (ScheduleError, ScheduleNotFound) as exc:
                if not request.form.get("preview"):
                    audit(action, {"name": name or form.name.data}, "failed", str(exc))
                flash(str(exc), "error")
        return self.render(
            "celery_ops/schedule_form.html",
            form=form,
            name=name,
            preview=preview,
            account=current_account(),
        )

    def _save(self, name: str | None, new_name: str, changes: dict[str, Any]) -> Schedule:
        schedules = ops().schedules
        if name is None:
            task = changes.pop("task")
            return schedules.add(new_name, task, **changes)
        if new_name != name:
            changes["name"] = new_name
        return schedules.update(name, **_switch_kind(changes))


def _switch_kind(changes: dict[str, Any]) -> dict[str, Any]:
    """Changes for an update: empty optional fields clear the value, other None are unset."""
    clearable = ("queue", "priority", "max_runs", "start_at", "end_at", "description")
    return {k: v for k, v in changes.items() if v is not None or k in clearable}


def _preview(name: str, changes: dict[str, Any]) -> list[str]:
    """The next 5 due times of a definition not saved yet, in its time zone."""
    values = dict(changes)
    kind_values: dict[str, Any] = {}
    if values.get("cron"):
        kind_values = {"kind": "cron", "cron_expression": values.pop("cron")}
    elif values.get("every"):
        kind_values = {"kind": "interval", "interval_seconds": values.pop("every")}
    else:
        kind_values = {"kind": "once", "run_at": values.pop("at")}
    spec = ScheduleSpec(name=name or "preview", **kind_values, **values).validated()
    tz_name = spec.timezone or ops().schedules.default_timezone
    return [_local(t, tz_name) for t in spec.timing(tz_name).upcoming(utcnow(), 5)]


def _local(moment: Any, tz_name: str) -> str:
    if moment is None:
        return "—"
    try:
        return str(moment.astimezone(zone(tz_name)).strftime("%Y-%m-%d %H:%M:%S %Z"))
    except TimingError:
        return str(moment.isoformat())


def _clean(value: str | None) -> str:
    return (value or "").strip()


def _text(value: Any) -> str:
    return "" if value is None else f"{value:g}" if isinstance(value, float) else str(value)


def _number(raw: str | None, what: str, kind: type) -> Any:
    text = (raw or "").strip()
    if not text:
        return None
    try:
        return kind(text)
    except ValueError:
        raise ScheduleError(f"{what} must be a number, got {text!r}") from None


def _time(raw: str | None, what: str) -> Any:
    text = (raw or "").strip()
    return parse_time(text, what) if text else None
