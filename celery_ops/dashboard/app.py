"""`create_app`: the dashboard as a WSGI app, secure by default."""

from __future__ import annotations

import logging
import secrets
from typing import Any

from flask import Flask, Response, redirect, url_for
from flask_admin import Admin
from flask_admin.theme import Bootstrap4Theme
from flask_wtf.csrf import CSRFProtect
from werkzeug.routing import PathConverter

from celery_ops.dashboard import (
    auth,
    batches_api,  # noqa: F401 - registers its routes on `api`
    cluster_api,  # noqa: F401 - registers its routes on `api`
    errors,
    exports_api,  # noqa: F401 - registers its routes on `api`
    formatting,
    limits_api,  # noqa: F401 - registers its routes on `api`
    metrics_api,  # noqa: F401 - registers its routes on `api`
)
from celery_ops.dashboard.api import api
from celery_ops.dashboard.assets import assets
from celery_ops.dashboard.encoding import StandardJSONProvider
from celery_ops.dashboard.monitoring import monitoring
from celery_ops.dashboard.pages import HomeView, add_views
from celery_ops.dashboard.protection import protect
from celery_ops.extension import CeleryOps, init_app
from celery_ops.operations import Actor

logger = logging.getLogger("celery_ops.dashboard")

#: Who creates the first admin, in the audit log.
DASHBOARD = Actor.system("dashboard")


class AnyCharacterPath(PathConverter):
    """Werkzeug's ``path``, but matching a name with a line break too (its ``.`` does not):
    such a name then reaches the operation, which says what is wrong with it (422), rather
    than matching no route at all (404)."""

    regex = "[^/](?s:.)*?"


def create_app(celery_app: Any, **config: Any) -> Flask:
    """The dashboard of ``celery_app``. ``config`` entries override Flask settings, e.g.
    ``create_app(app, SECRET_KEY=...)``.

    With no user in the store yet, the first call creates ``admin`` with a random password
    and prints it once: the dashboard never runs without authentication.
    """
    ops = init_app(celery_app)
    ops.operations(DASHBOARD).maintenance.ensure_schema()
    app = Flask("celery_ops.dashboard")
    app.url_map.converters["path"] = AnyCharacterPath
    app.json = StandardJSONProvider(app)
    secret = ops.config.dashboard_secret_key
    if not secret and "SECRET_KEY" not in config:
        logger.warning(
            "celery-ops: no ops_dashboard_secret_key (or CELERY_OPS_SECRET_KEY) set: using a "
            "random key, so sessions end when this process restarts and are not shared "
            "between processes"
        )
    app.config.update(
        SECRET_KEY=secret or secrets.token_urlsafe(32),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=ops.config.dashboard_secure_cookies,
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SAMESITE="Lax",
        REMEMBER_COOKIE_SECURE=ops.config.dashboard_secure_cookies,
        WTF_CSRF_TIME_LIMIT=int(ops.config.dashboard_csrf_time_limit),
        MAX_CONTENT_LENGTH=1024 * 1024,
    )
    app.config.update(config)
    protect(app, ops.config)
    _attach(app, ops)
    errors.install_pages(app)
    app.after_request(_with_language)
    # Asked for by browsers and tools that do not read the page's <link rel="icon">.
    app.add_url_rule(
        "/favicon.ico",
        "favicon",
        lambda: redirect(url_for("celery_ops_assets.static", filename="favicon.svg"), 301),
    )
    CSRFProtect(app).exempt(api)
    auth.install(app)
    app.register_blueprint(api)
    app.register_blueprint(monitoring)
    admin = Admin(
        app,
        name="celery-ops",
        theme=Bootstrap4Theme(swatch="default"),
        index_view=HomeView(name="Home", url="/"),
    )
    add_views(admin)
    _announce_first_admin(ops)
    ops.start_reaper()
    ops.start_monitoring()
    return app


def register_views(admin: Admin, celery_app: Any) -> None:
    """Add the celery-ops pages to an existing Flask-Admin of your own Flask app.

    Sign-in stays celery-ops's own (its users and roles); the app must have a SECRET_KEY
    and CSRF protection (Flask-WTF's CSRFProtect) like any app taking form posts.
    """
    ops = init_app(celery_app)
    ops.operations(DASHBOARD).maintenance.ensure_schema()
    assert admin.app is not None, "create the Admin with your Flask app first"
    _attach(admin.app, ops)
    auth.install(admin.app)
    add_views(admin)


def _attach(app: Flask, ops: CeleryOps) -> None:
    app.extensions["celery_ops"] = ops
    app.register_blueprint(assets)
    formatting.install(app)

    errors.install_refusals(app)


def _with_language(response: Response) -> Response:
    """Flask-Admin's layout opens ``<html>`` without a language; screen readers need one."""
    if response.mimetype == "text/html" and not response.direct_passthrough:
        body = response.get_data()
        if b"<html>" in body[:300]:
            response.set_data(body.replace(b"<html>", b'<html lang="en">', 1))
    return response


def _announce_first_admin(ops: CeleryOps) -> None:
    password = ops.operations(DASHBOARD).accounts.ensure_first_admin()
    if password:
        # On the console, once: it is stored only as a hash.
        print(
            "\ncelery-ops dashboard: no user existed, so one was created.\n"
            f"    user: admin\n    password: {password}\n"
            "Sign in and keep it safe, or create your own users with\n"
            "    celery -A proj ops users add NAME --role admin --password-stdin\n",
            flush=True,
        )
