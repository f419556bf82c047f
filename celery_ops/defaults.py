"""Every celery-ops setting, its default, and what it means: the one place they are documented.

Settings are read from ``app.conf`` (``app.conf.ops_flush_interval = 0.2``), from keyword
arguments to :func:`celery_ops.init_app`, and for the database URL also from the environment.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Setting:
    name: str
    default: Any
    doc: str


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "ops_database_url",
        "sqlite:///celery_ops.sqlite3",
        "SQLAlchemy URL of the store. Also read from CELERY_OPS_DATABASE_URL. "
        "SQLite, PostgreSQL (postgresql+psycopg://) and MariaDB/MySQL (mysql+pymysql://).",
    ),
    Setting(
        "ops_flush_interval",
        0.5,
        "Seconds between two writes of the in-process buffer to the store.",
    ),
    Setting(
        "ops_received_delay",
        1.0,
        "Seconds a worker may hold a task before it is recorded as RECEIVED by the worker's "
        "main process. A task that starts sooner is recorded as received by the process "
        "that runs it, in the same write as its start (one write less per task).",
    ),
    Setting(
        "ops_flush_batch",
        500,
        "Write as soon as this many events are buffered, without waiting for the interval.",
    ),
    Setting(
        "ops_buffer_max",
        100_000,
        "Events one process keeps while the store is unreachable. Past it, new events are "
        "dropped, counted in celery_ops_workers.events_dropped and logged as a WARNING.",
    ),
    Setting(
        "ops_max_payload_bytes",
        65_536,
        "Arguments, results and tracebacks longer than this (UTF-8 bytes) are cut and end "
        "with a visible '[celery-ops: truncated ...]' marker.",
    ),
    Setting(
        "ops_store_message_args",
        True,
        "Keep the exact arguments of each published message (never displayed) so that an "
        "operator can retry the task. Arguments larger than ops_max_payload_bytes are not kept.",
    ),
    Setting(
        "ops_worker_timeout",
        60.0,
        "Seconds without a heartbeat after which a worker is offline and the executions it "
        "had STARTED become LOST.",
    ),
    Setting(
        "ops_heartbeat_interval",
        10.0,
        "Seconds between two heartbeats of a worker's main process.",
    ),
    Setting(
        "ops_reaper_interval",
        15.0,
        "Seconds between two runs of the lost-work reaper in each process that runs it.",
    ),
    Setting(
        "ops_retention",
        {},
        'How long `celery ops retention` keeps executions, by status, e.g. {"SUCCESS": "7d", '
        '"FAILURE": "30d"}. A status not named is kept forever.',
    ),
    Setting(
        "ops_create_schema",
        True,
        "Create the tables on first start when the database has none. When False, run "
        "`celery -A proj ops db upgrade` before starting workers.",
    ),
    Setting(
        "ops_beat_poll_interval",
        1.0,
        "Longest time DatabaseScheduler sleeps between two looks at the schedules table: an "
        "edit made while it sleeps takes effect within this many seconds.",
    ),
    Setting(
        "ops_beat_batch_size",
        500,
        "Due schedules one beat claims and sends per round trip to the database.",
    ),
    Setting(
        "ops_beat_round_spacing",
        0.04,
        "Seconds between two rounds of sending when due times follow each other closely: "
        "due times this close together go out in one round, which costs a few queries "
        "whatever its size. Lower it for less lateness, raise it for less CPU per fire.",
    ),
    Setting(
        "ops_beat_claim_timeout",
        30.0,
        "Seconds after which a due time claimed by a beat that never sent it (it died "
        "between the two) is sent by another beat, under the same task id.",
    ),
    Setting(
        "ops_beat_misfire_grace",
        60.0,
        "For schedules with misfire policy 'skip': a due time later than this many seconds "
        "is not sent. Policy 'once' (the default) sends the latest missed due time once.",
    ),
    Setting(
        "ops_beat_run_history",
        "30d",
        "How long `celery ops retention` keeps the celery_ops_schedule_runs history.",
    ),
    Setting(
        "ops_dashboard_secret_key",
        None,
        "Key that signs the dashboard's session cookies and CSRF tokens. Also read from "
        "CELERY_OPS_SECRET_KEY. Set it when the dashboard runs in several processes or must "
        "keep sessions across restarts; without it each process draws a random one.",
    ),
    Setting(
        "ops_dashboard_secure_cookies",
        False,
        "Mark the dashboard's session cookie Secure (sent over HTTPS only). Turn it on "
        "whenever the dashboard is served over HTTPS, e.g. behind a TLS proxy.",
    ),
    Setting(
        "ops_shutdown_flush_timeout",
        10.0,
        "Seconds a process waits at exit for its buffered events to be written.",
    ),
)

DEFAULTS: dict[str, Any] = {setting.name: setting.default for setting in SETTINGS}

DATABASE_URL_ENV = "CELERY_OPS_DATABASE_URL"
SECRET_KEY_ENV = "CELERY_OPS_SECRET_KEY"
