"""Users (admins only): who may sign in, with which role; add, change role, switch off."""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, request, url_for
from flask_admin import expose

from celery_ops.accounts import ADMIN, ROLES, AccountError
from celery_ops.dashboard.auth import accounts, audit, current_account
from celery_ops.dashboard.pages.common import Page


class UsersView(Page):
    def is_visible(self) -> bool:
        account = current_account()
        return account is not None and account.may(ADMIN)

    @expose("/")  # type: ignore[untyped-decorator]
    def index(self) -> Any:
        self.require(ADMIN, "users-view", {})
        return self.render(
            "celery_ops/users.html",
            rows=accounts().store.users(),
            roles=ROLES,
            account=current_account(),
        )

    @expose("/add", methods=["POST"])  # type: ignore[untyped-decorator]
    def add(self) -> Any:
        username = request.form.get("username", "").strip()
        role = request.form.get("role", "")
        self.require(ADMIN, "user-add", {"username": username, "role": role})
        try:
            accounts().add(username, request.form.get("password", ""), role)
        except AccountError as exc:
            audit("user-add", {"username": username, "role": role}, "failed", str(exc))
            flash(str(exc), "error")
        else:
            audit("user-add", {"username": username, "role": role}, "ok")
            flash(f"Added {username} ({role}).", "success")
        return redirect(url_for(".index"))

    @expose("/<username>/update", methods=["POST"])  # type: ignore[untyped-decorator]
    def update(self, username: str) -> Any:
        role = request.form.get("role")
        active = request.form.get("active")
        targets = {"username": username, "role": role, "active": active}
        self.require(ADMIN, "user-update", targets)
        me = current_account()
        if me is not None and me.username == username:
            flash("Change your own account from another admin's session.", "error")
            return redirect(url_for(".index"))
        values: dict[str, Any] = {}
        if role in ROLES:
            values["role"] = role
        if active in ("yes", "no"):
            values["active"] = active == "yes"
        if not values or not accounts().store.update_user(username, values):
            audit("user-update", targets, "failed", "nothing to change or no such user")
            flash("Nothing changed.", "warning")
        else:
            audit("user-update", targets, "ok")
            flash(f"Updated {username}.", "success")
        return redirect(url_for(".index"))
