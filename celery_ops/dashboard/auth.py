"""Who is asking: sign-in with a session for the pages, HTTP Basic or a bearer token for
the API.

Every page but /login and static files needs a signed-in user; what each user may do is
decided by the operations layer from their role, whatever the request carries. State
changes made with a session also need a CSRF token (Flask-WTF).
"""

from __future__ import annotations

from typing import Any, cast
from urllib.parse import urlsplit

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

from celery_ops.core.errors import Throttled
from celery_ops.core.records import User
from celery_ops.extension import CeleryOps
from celery_ops.operations import Actor, Operations

sign_in = Blueprint("celery_ops_auth", __name__)


class SessionUser:
    """A :class:`User` as Flask-Login wants it."""

    is_authenticated = True
    is_anonymous = False

    def __init__(self, user: User) -> None:
        self.user = user

    @property
    def is_active(self) -> bool:
        return self.user.active

    def get_id(self) -> str:
        # The session version rides along: raising it (sign-out, a new password, a role
        # change) makes every cookie signed in before it name no user.
        return f"{self.user.id}:{self.user.session_version}"


class LoginForm(FlaskForm):  # type: ignore[misc]
    username = StringField("Username", validators=[DataRequired(), Length(max=150)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=1024)])


def ops() -> CeleryOps:
    return cast(CeleryOps, current_app.extensions["celery_ops"])


def actor() -> Actor:
    """Who makes this request: the HTTP Basic user or bearer token's holder (API), the
    session's user (pages), or anonymous. A wrong password or token is audited by the
    operations layer."""
    if "celery_ops_actor" in g:
        return cast(Actor, g.celery_ops_actor)
    anonymous = Actor.anonymous(request.remote_addr)
    found = anonymous
    authorization = request.authorization
    if authorization is not None and authorization.type in ("basic", "bearer"):
        # Credentials a browser never adds by itself to a request another site makes.
        g.celery_ops_basic = True
        accounts = door_for(anonymous).accounts
        if authorization.type == "bearer":
            found = accounts.bearer(authorization.token or "") or anonymous
        else:
            username = authorization.username or ""
            password = authorization.password or ""
            user = accounts.authenticate(username, password, via="basic")
            if user is not None:
                found = Actor.user(user, request.remote_addr)
    elif current_user.is_authenticated:
        found = Actor.user(current_user.user, request.remote_addr)
    g.celery_ops_actor = found
    return found


def signed_in() -> bool:
    return actor().is_user


def used_basic_auth() -> bool:
    return bool(g.get("celery_ops_basic"))


def door() -> Operations:
    """The operations layer, for whoever makes this request."""
    return door_for(actor())


def door_for(who: Actor) -> Operations:
    return ops().operations(who)


def install(app: Flask) -> None:
    """Flask-Login on ``app`` and the sign-in pages."""
    manager = LoginManager()
    manager.login_view = "celery_ops_auth.login"
    manager.init_app(app)

    @manager.user_loader  # type: ignore[untyped-decorator]
    def load_user(session_id: str) -> SessionUser | None:
        user_id, _, version = session_id.partition(":")
        if not (user_id.isdigit() and version.isdigit()) or len(session_id) > 40:
            return None  # a cookie from before sessions had versions, or a forged one
        user = door_for(Actor.anonymous()).accounts.load(int(user_id), int(version))
        return SessionUser(user) if user is not None else None

    app.register_blueprint(sign_in)


@sign_in.route("/login", methods=["GET", "POST"])
def login() -> Any:
    form = LoginForm()
    if form.validate_on_submit():
        anonymous = Actor.anonymous(request.remote_addr)
        try:
            user = door_for(anonymous).accounts.authenticate(
                form.username.data or "", form.password.data or "", via="form"
            )
        except Throttled as exc:
            flash(f"Too many wrong passwords: try again in {exc.retry_after} s.", "error")
            page = render_template("celery_ops/login.html", form=form)
            return page, 429, {"Retry-After": str(exc.retry_after)}
        if user is None:
            flash("Wrong user name or password.", "error")
            return render_template("celery_ops/login.html", form=form), 401
        login_user(SessionUser(user))
        g.celery_ops_actor = Actor.user(user, request.remote_addr)
        return redirect(safe_next(request.args.get("next")))
    status = 400 if request.method == "POST" else 200
    return render_template("celery_ops/login.html", form=form), status


@sign_in.route("/logout", methods=["POST"])
def logout() -> Response:
    if signed_in():
        door().accounts.logout()
    logout_user()
    return redirect(url_for("celery_ops_auth.login"))


def safe_next(target: str | None, fallback: str | None = None) -> str:
    """A path on this site to go to, never another site (an open redirect), after the
    normalisation a browser applies: tabs, newlines and other control characters dropped,
    backslashes read as slashes."""
    if target:
        cleaned = "".join(c for c in target if c.isprintable() and not c.isspace())
        cleaned = cleaned.replace("\\", "/")
        parsed = urlsplit(cleaned)
        if (
            cleaned.startswith("/")
            and not cleaned.startswith("//")
            and not parsed.scheme
            and not parsed.netloc
        ):
            return cleaned
    return fallback or url_for("admin.index")
