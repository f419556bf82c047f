"""The dashboard's own templates and static files, for the app of `create_app` and for a
Flask-Admin of the user's own app alike."""

from __future__ import annotations

from flask import Blueprint

assets = Blueprint(
    "celery_ops_assets",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/celery-ops/static",
)
