"""Celery settings of the demo app (``celery -A demo.app``), read by ``demo/app.py``.

Both URLs can be overridden from the environment:

    CELERY_BROKER_URL=redis://127.0.0.1:6380/0 bash scripts/demo.sh
    CELERY_OPS_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1/test bash scripts/demo.sh
"""

import os

from celery.schedules import crontab

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

# Synced into celery_ops_schedules when beat starts (DatabaseScheduler, see the Procfile); add
# more live with `celery -A demo.app ops schedules add` without restarting beat.
beat_schedule = {
    "heartbeat-every-10s": {"task": "demo.tasks.add", "schedule": 10.0, "args": (1, 1)},
    "fan-out-every-minute": {
        "task": "demo.tasks.fan_out",
        "schedule": crontab(minute="*"),
        "args": (3,),
    },
    "nightly-report": {
        "task": "demo.tasks.slow",
        "schedule": crontab(minute="30", hour="2"),
        "args": (1.0,),
    },
}
