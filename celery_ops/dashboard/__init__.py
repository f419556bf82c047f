"""The operations dashboard: Flask-Admin pages and a JSON API over the celery-ops store.

``create_app(celery_app)`` builds a WSGI app (``celery -A proj ops dashboard`` serves it with
waitress); ``register_views(admin, celery_app)`` adds the pages to your own Flask-Admin.
"""

from celery_ops.dashboard.app import create_app, register_views

__all__ = ["create_app", "register_views"]
