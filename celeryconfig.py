"""Celery settings of the demo app (``celery -A demo.app``), read by ``demo/app.py``.

Both URLs can be overridden from the environment:

    CELERY_BROKER_URL=redis://127.0.0.1:6380/0 bash scripts/demo.sh
    CELERY_OPS_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1/test bash scripts/demo.sh
"""

import os

broker_url = os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/0")
broker_connection_retry_on_startup = True

# The demo keeps no result backend: celery-ops is the record of what happened.
imports = ("demo.tasks",)

timezone = "UTC"
enable_utc = True

task_serializer = "json"
accept_content = ["json"]

# celery-ops. app.conf wins over the CELERY_OPS_DATABASE_URL variable, so the demo reads the
# variable itself to keep it usable as an override.
ops_database_url = os.environ.get(
    "CELERY_OPS_DATABASE_URL", "sqlite:///demo-data/celery_ops.sqlite3"
)
ops_retention = {"SUCCESS": "7d", "FAILURE": "30d"}
