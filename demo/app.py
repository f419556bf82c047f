"""The demo's Celery app, with celery-ops added: ``celery -A demo.app worker``."""

from celery import Celery

import celery_ops

app = Celery("demo")
app.config_from_object("celeryconfig")
celery_ops.init_app(app)
