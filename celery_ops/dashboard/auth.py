"""Who is asking: sign-in with a session for the pages, HTTP Basic for the API, and roles.

Every page but /login and static files needs a signed-in user; every state-changing request
also needs the right role and, with a session, a CSRF token. The role is always checked on
the server, whatever the request carries.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar, cast

from flask import (
    Blueprint,
    Flask,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import LoginManager, current_user, login_user, logout_user
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

from celery_ops.accounts import Account, Accounts
from celery_ops.extension import CeleryOps

F = TypeVar("F", bound=Callable[..., Any])

sign_in = Blueprint("celery_ops_auth", __name__, template_folder="templates")


class SessionUser:
    """An :class:`Account` as Flask-Login wants it."""

    is_authenticated = True
    is_anonymous = False

    def __init__(self, account: Account) -> None:
        self.account = account

    @property
    def is_active(self) -> bool:
        return self.account.active

    def get_id(self) -> str:
        return str(self.account.id)


class LoginForm(FlaskForm):  # type: ignore[misc]
    username = StringField("Username", validators=[DataRequired(), Length(max=150)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=1024)])


def ops() -> CeleryOps:
    return cast(CeleryOps, current_app.extensions["celery_ops"])


def accounts() -> Accounts:
    return cast(Accounts, current_app.extensions["celery_ops_accounts"])


def current_account() -> Account | None:
    """The user of this request: from HTTP Basic (API) or the session (pages)."""
    if "celery_ops_account" in g:
        return cast("Account | None", g.celery_ops_account)
    account: Account | None = None
    if request.authorization and request.authorization.type == "basic":
        username = request.authorization.username or ""
        password = request.authorization.password or ""
        account = accounts().authenticate(username, password)
        g.celery_ops_basic = True
    elif current_user.is_authenticated:
        account = current_user.account
    g.celery_ops_account = account
    return account


def used_basic_auth() -> bool:
    return bool(g.get("celery_ops_basic"))


def remote_addr() -> str | None:
    return request.remote_addr


def audit(action: str, targets: Any, outcome: str, detail: str | None = None) -> None:
    accounts().audit(current_account(), action, targets, outcome, detail, remote_addr())


def install(app: Flask) -> None:
    """Flask-Login on ``app``, the sign-in pages, and the session cookie's flags."""
    manager = LoginManager()
    manager.login_view = "celery_ops_auth.login"
    manager.init_app(app)

    @manager.user_loader  # type: ignore[untyped-decorator]
    def load_user(user_id: str) -> SessionUser | None:
        try:
            account = accounts().load(int(user_id))
        except ValueError:
            return None
        return SessionUser(account) if account is not None else None

    app.register_blueprint(sign_in)


@sign_in.route("/login", methods=["GET", "POST"])
def login() -> Any:
    form = LoginForm()
    if form.validate_on_submit():
        account = accounts().authenticate(
            form.username.data or "", form.password.data or "", remember=True
        )
        g.celery_ops_account = account
        if account is None:
            accounts().audit(None, "login", [form.username.data], "denied", None, remote_addr())
            flash("Wrong user name or password.", "error")
            return render_template("celery_ops/login.html", form=form), 401
        login_user(SessionUser(account))
        accounts().audit(account, "login", [account.username], "ok", None, remote_addr())
        return redirect(_safe_next(request.args.get("next")))
    status = 400 if request.method == "POST" else 200
    return render_template("celery_ops/login.html", form=form), status


@sign_in.route("/logout", methods=["POST"])
def logout() -> Response:
    account = current_account()
    if account is not None:
        accounts().audit(account, "logout", [account.username], "ok", None, remote_addr())
    logout_user()
    return redirect(url_for("celery_ops_auth.login"))


def page_requires(role: str) -> Callable[[F], F]:
    """For HTML views: sign in first, then the role (403 otherwise)."""

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            account = current_account()
            if account is None:
                return redirect(url_for("celery_ops_auth.login", next=request.full_path))
            if not account.may(role):
                return render_template("celery_ops/forbidden.html", role=role), 403
            return view(*args, **kwargs)

        return cast(F, guarded)

    return decorate


def _safe_next(target: str | None) -> str:
    # Only a path on this site: an absolute URL here would be an open redirect.
    if target and target.startswith("/") and not target.startswith("//"):
        return target
    return url_for("admin.index")
