"""Users (admins only): who may sign in, with which role; add, change role, switch off."""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, request, url_for
from flask_admin import expose

from celery_ops.dashboard.auth import actor, door
from celery_ops.dashboard.pages.common import REFUSALS, Page
from celery_ops.operations import ADMIN, ROLES


class UsersView(Page):
    def is_visible(self) -> bool:
        return actor().may(ADMIN)

    @expose("/")  # type: ignore[untyped-decorator]
    def index(self) -> Any:
        return self.render("celery_ops/users.html", rows=door().accounts.users(), roles=ROLES)

    @expose("/add", methods=["POST"])  # type: ignore[untyped-decorator]
    def add(self) -> Any:
        username = request.form.get("username", "")
        role = request.form.get("role", "")
        try:
            door().accounts.add(username, request.form.get("password", ""), role)
        except REFUSALS as exc:
            flash(str(exc), "error")
        else:
            flash(f"Added {username} ({role}).", "success")
        return redirect(url_for(".index"))

    @expose("/<path:username>/update", methods=["POST"])  # type: ignore[untyped-decorator]
    def update(self, username: str) -> Any:
        changes: dict[str, Any] = {}
        if request.form.get("role"):
            changes["role"] = request.form["role"]
        if request.form.get("active") in ("yes", "no"):
            changes["active"] = request.form["active"] == "yes"
        try:
            door().accounts.update(username, changes)
        except REFUSALS as exc:
            flash(str(exc), "error")
        else:
            flash(f"Updated {username}.", "success")
        return redirect(url_for(".index"))
