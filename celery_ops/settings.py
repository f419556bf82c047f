"""Every celery-ops setting in one table: its name, default, parser, environment variable and
meaning. :class:`OpsConfig` is that table; docs/configuration.md's table is generated from it
(``python -m celery_ops.settings``) and a test keeps the two equal.

A setting is read, first found wins, from a keyword of :func:`celery_ops.init_app`, the app's
configuration (``app.conf.ops_flush_interval = 0.2``), its environment variable if it has one,
and its default.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from celery_ops.core.alerts import AlertRule, parse_rules
from celery_ops.core.durations import parse_duration
from celery_ops.core.limits import TaskLimit, configured_limits

PREFIX = "ops_"


class ConfigurationError(ValueError):
    """A setting has a value celery-ops cannot use; the message names the setting."""


# Parsers: each takes what a user wrote (a Python value, or text from a config file or the
# environment) and returns the typed value, or raises ValueError saying what is expected.


def text(value: Any) -> str:
    return str(value)


def optional_text(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


def boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    lowered = str(value).strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"expected true or false, got {value!r}")


def _number(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError(f"expected a number, got {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"expected a finite number, got {value!r}")
    return number


def positive(value: Any) -> float:
    number = _number(value)
    if number <= 0:
        raise ValueError(f"must be greater than 0, got {value!r}")
    return number


def fraction(value: Any) -> float:
    number = positive(value)
    if number > 1:
        raise ValueError(f"expected a fraction above 0 and at most 1 (e.g. 0.5), not {value!r}")
    return number


def non_negative(value: Any) -> float:
    number = _number(value)
    if number < 0:
        raise ValueError(f"must be 0 or more, got {value!r}")
    return number


def positive_int(value: Any) -> int:
    number = positive(value)
    if number != int(number):
        raise ValueError(f"must be a whole number, got {value!r}")
    return int(number)


def non_negative_int(value: Any) -> int:
    number = non_negative(value)
    if number != int(number):
        raise ValueError(f"must be a whole number, got {value!r}")
    return int(number)


def public_url(value: Any) -> str | None:
    text = optional_text(value)
    if text is not None and not text.startswith(("http://", "https://")):
        raise ValueError(f"must start with http:// or https://, got {value!r}")
    return text.rstrip("/") if text else None


WRITE_MODES = ("direct", "relay")


def write_mode(value: Any) -> str:
    mode = str(value).strip().lower()
    if mode not in WRITE_MODES:
        raise ValueError(f"must be 'direct' or 'relay', got {value!r}")
    return mode


def duration(value: Any) -> float:
    return parse_duration(value)


def retention_policy(value: Any) -> dict[str, float]:
    if not isinstance(value, Mapping):
        raise ValueError(f'must be a mapping like {{"SUCCESS": "7d"}}, got {value!r}')
    return {str(status).upper(): parse_duration(age) for status, age in value.items()}


def rate_limit_table(value: Any) -> Mapping[str, TaskLimit]:
    if not isinstance(value, Mapping):
        raise ValueError(f'must be a mapping like {{"proj.send_email": "100/m"}}, got {value!r}')
    return configured_limits(value, {})


def concurrency_limit_table(value: Any) -> Mapping[str, TaskLimit]:
    if not isinstance(value, Mapping):
        raise ValueError(f'must be a mapping like {{"proj.report": 2}}, got {value!r}')
    return configured_limits({}, value)


@dataclass(frozen=True)
class Setting:
    """One row of the table: ``key`` is the attribute of :class:`OpsConfig`."""

    key: str
    default: Any
    parse: Callable[[Any], Any]
    doc: str
    env: str | None = None

    @property
    def name(self) -> str:
        """The name in ``app.conf``, e.g. ``ops_flush_interval``."""
        return PREFIX + self.key


def _setting(default: Any, parse: Callable[[Any], Any], doc: str, env: str | None = None) -> Any:
    metadata = {"setting": (default, parse, doc, env)}
    if isinstance(default, dict):
        return field(default_factory=lambda: parse(default), metadata=metadata)
    return field(default=None if default is None else parse(default), metadata=metadata)


DATABASE_URL_ENV = "CELERY_OPS_DATABASE_URL"
SECRET_KEY_ENV = "CELERY_OPS_SECRET_KEY"
METRICS_TOKEN_ENV = "CELERY_OPS_METRICS_TOKEN"


@dataclass(frozen=True)
class OpsConfig:
    """The resolved settings of one app, typed and immutable (one field per setting)."""

    database_url: str = _setting(
        "sqlite:///celery_ops.sqlite3",
        text,
        "SQLAlchemy URL of the store: SQLite, PostgreSQL (`postgresql+psycopg://`) or "
        "MariaDB/MySQL (`mysql+pymysql://`). A relative SQLite path is relative to each "
        "process's working directory.",
        env=DATABASE_URL_ENV,
    )
    flush_interval: float = _setting(
        0.5, positive, "Seconds between two writes of a process's in-memory buffer to the store."
    )
    write_mode: str = _setting(
        "direct",
        write_mode,
        "`direct`: every process writes its batches to the store itself (a connection per "
        "process). `relay`: processes append their batches to a stream on the broker (a local "
        "spill file when the broker is down too) and ingesters write them, so the store sees "
        "only the ingesters' connections. See [scaling.md](scaling.md).",
        env="CELERY_OPS_WRITE_MODE",
    )
    spill_dir: str | None = _setting(
        None,
        optional_text,
        "Relay mode: the directory where a process leaves the batches it could hand neither "
        "to the broker nor to the store; the next process on the host hands them over. "
        "Default: `celery-ops-spill` in the system's temporary directory. Use a directory that "
        "outlives a reboot (e.g. under `/var/lib`) where that matters.",
        env="CELERY_OPS_SPILL_DIR",
    )
    relay_stream: str = _setting(
        "celery-ops:relay",
        text,
        "Relay mode: the name of the stream on the broker. Apps whose brokers share one Redis "
        "database and write to different stores need different names.",
        env="CELERY_OPS_RELAY_STREAM",
    )
    relay_claim_after: float = _setting(
        30.0,
        positive,
        "Relay mode: seconds after which entries an ingester read and never acknowledged (it "
        "died, or hangs) are taken over by another ingester. Keep it well above the time one "
        "ingester round takes.",
    )
    ingest_in_workers: bool = _setting(
        True,
        boolean,
        "Relay mode: one worker's main process at a time (under a lease in the store) ingests "
        "the stream, so no other process need be deployed. Turn it off where dedicated "
        "`celery -A proj ops ingest` processes run.",
    )
    received_delay: float = _setting(
        1.0,
        positive,
        "Seconds a worker may hold a task before its main process records it as RECEIVED. A "
        "task that starts sooner is recorded as received by the process that runs it, in the "
        "same write as its start ([recording.md](recording.md#who-records-received)).",
    )
    flush_batch: int = _setting(
        500,
        positive_int,
        "Write as soon as this many events are buffered, without waiting for the interval; "
        "also the most events one write (one transaction) takes.",
    )
    buffer_max: int = _setting(
        100_000,
        positive_int,
        "Events one process keeps while it cannot write. Past it, new events are dropped, "
        "counted (`celery_ops_workers.events_dropped`) and logged as a WARNING; see "
        "[failure-handling.md](failure-handling.md).",
    )
    max_payload_bytes: int = _setting(
        65_536,
        positive_int,
        "Arguments, results, error messages, tracebacks and timeline details longer than this "
        "(UTF-8 bytes) are cut and end with a visible `[celery-ops: truncated, N bytes in all, "
        "first K kept]` marker.",
    )
    store_message_args: bool = _setting(
        True,
        boolean,
        "Keep the exact arguments of each message (never displayed) so that an operator can "
        "retry the task. Arguments that are not JSON or are larger than "
        "`ops_max_payload_bytes` are not kept. See [security.md](security.md).",
    )
    worker_timeout: float = _setting(
        60.0,
        positive,
        "Seconds without a heartbeat after which a worker is marked offline and the executions "
        "it held (STARTED, or RECEIVED and waiting) become LOST.",
    )
    heartbeat_interval: float = _setting(
        10.0,
        positive,
        "Seconds between two heartbeats of a worker's main process. Keep it well below "
        "`ops_worker_timeout`.",
    )
    inspect_timeout: float = _setting(
        1.0,
        positive,
        "Seconds the workers and queues pages and actions wait for the workers' answers to one "
        "remote-control broadcast; a worker slower than this is shown from its heartbeats only.",
    )
    offline_workers_shown: float = _setting(
        86_400.0,
        non_negative,
        "Seconds an offline worker stays in the workers list after its last heartbeat; it can "
        "be forgotten sooner (`DELETE /api/workers/<hostname>`, `ops workers forget`).",
    )
    reaper_interval: float = _setting(
        15.0,
        positive,
        "Seconds between two runs of the lost-work reaper, which runs in every worker's main "
        "process, in beat and in the dashboard.",
    )
    retention: Mapping[str, float] = _setting(
        {},
        retention_policy,
        "How long `celery -A proj ops retention` keeps executions, by status, e.g. "
        '`{"SUCCESS": "7d", "FAILURE": "30d"}`. A status not named is kept forever. Nothing is '
        "deleted unless that command (or `ops purge`) is run.",
    )
    metrics_retention: float = _setting(
        "30d",
        duration,
        "How long `celery -A proj ops retention` keeps the per-minute metric rollups; hourly "
        "ones are kept a year and daily ones five years (docs/metrics.md).",
    )
    metrics_token: str | None = _setting(
        None,
        optional_text,
        "Bearer token a monitor sends to read `GET /metrics` and `GET /api/health` without a "
        "dashboard user (`Authorization: Bearer <token>`). Without it, both need a signed-in "
        "dashboard user: neither is ever open.",
        env=METRICS_TOKEN_ENV,
    )
    rate_limits: Mapping[str, TaskLimit] = _setting(
        {},
        rate_limit_table,
        'Cluster-wide rates of task types, e.g. `{"proj.send_email": "100/m", '
        '"proj.call_api": {"rate": "10/s", "key": ["account_id"]}}`: across every '
        "worker, a task over its rate waits (re-sent with a countdown) instead of running. "
        "Seeds the store; a live edit wins "
        "([flow-control.md](flow-control.md#cluster-wide-limits)).",
    )
    concurrency_limits: Mapping[str, TaskLimit] = _setting(
        {},
        concurrency_limit_table,
        "How many of a task type may run at once across the cluster, e.g. "
        '`{"proj.report": 2, "proj.sync": {"limit": 1, "key": ["tenant_id"]}}`. '
        "Seeds the store; a live edit wins.",
    )
    limit_slot_ttl: float = _setting(
        "1h",
        duration,
        "How long a running task holds its concurrency slot at most: a worker killed while "
        "running one gives it back after this.",
    )
    alerts: tuple[AlertRule, ...] = _setting(
        [],
        parse_rules,
        'Alert rules, a list of `{"on": ..., "task": ..., "queue": ..., '
        '"threshold": ..., "notify": [Apprise URLs], "throttle": "10m"}` with `on` one '
        "of `final_failure`, `stuck`, `queue_latency`, `failure_rate`, `worker_offline`, "
        "`recorder_dropping`; evaluated in beat and the dashboard, each alert sent once "
        "([metrics.md](metrics.md#alerts)). Needs `celery-ops[alerts]`.",
    )
    alerts_interval: float = _setting(
        10.0, positive, "Seconds between two evaluations of the alert rules (beat, dashboard)."
    )
    health_queue_latency: float = _setting(
        "5m",
        duration,
        "A queue whose oldest waiting execution has waited longer than this fails the health "
        "check (and raises a `queue_latency` alert without a threshold of its own).",
    )
    health_failure_rate: float = _setting(
        0.5,
        fraction,
        "A task whose executions failed (FAILURE or LOST) at this rate or more over the last "
        "`ops_health_window` fails the health check (at least 10 of them must have ended).",
    )
    health_window: float = _setting(
        "15m", duration, "The recent period the failure-rate check and alert look at."
    )
    stuck_factor: float = _setting(
        10.0,
        positive,
        "An execution running longer than this many times its task's p95 runtime (of the last "
        "7 days) is stuck, as is one past its time limit.",
    )
    stuck_minimum: float = _setting(
        "1m",
        duration,
        "An execution is never called stuck before it has run this long (so a task of a few "
        "milliseconds is not stuck after a second).",
    )
    create_schema: bool = _setting(
        True,
        boolean,
        "Create the tables on first start when the database has none. When off, run "
        "`celery -A proj ops db upgrade` before starting workers; see "
        "[upgrading.md](upgrading.md).",
    )
    shutdown_flush_timeout: float = _setting(
        10.0, non_negative, "Seconds a process waits at exit for its buffered events to be written."
    )
    beat_poll_interval: float = _setting(
        1.0,
        positive,
        "Longest time `DatabaseScheduler` sleeps between two looks at the schedules table (it "
        "sleeps less when a due time is closer): an edit made while it sleeps takes effect "
        "within this many seconds.",
    )
    beat_batch_size: int = _setting(
        500, positive_int, "Due schedules one beat claims and sends per round trip to the database."
    )
    beat_round_spacing: float = _setting(
        0.04,
        non_negative,
        "Seconds between two rounds of sending when due times follow each other closely: due "
        "times this close together go out in one round, which costs a few queries whatever its "
        "size. Lower it for less lateness, raise it for less CPU per fire.",
    )
    beat_claim_timeout: float = _setting(
        30.0,
        positive,
        "Seconds after which a due time that a beat claimed but never sent (it died between the "
        "two) is sent by another beat, under the same task id. A beat does not send its own "
        "claims once half of this has passed. See "
        "[scheduling.md](scheduling.md#several-beats-at-once).",
    )
    beat_misfire_grace: float = _setting(
        60.0,
        positive,
        "For schedules whose misfire policy is `skip`: a due time later than this many seconds "
        "is not sent. Policy `once` (the default) sends the latest missed due time once.",
    )
    beat_run_history: float = _setting(
        "30d",
        duration,
        "How long `celery -A proj ops retention` keeps the `celery_ops_schedule_runs` history.",
    )
    dashboard_secret_key: str | None = _setting(
        None,
        optional_text,
        "Key that signs the dashboard's session cookies and CSRF tokens. Set it to a long "
        "random value when the dashboard runs in several processes or must keep sessions "
        "across restarts; without it each process draws a random key (and says so in its log).",
        env=SECRET_KEY_ENV,
    )
    dashboard_secure_cookies: bool = _setting(
        False,
        boolean,
        "Mark the session cookie `Secure` (HTTPS only). Turn it on whenever the dashboard is "
        "served over HTTPS, e.g. behind a TLS proxy.",
    )
    dashboard_public_url: str | None = _setting(
        None,
        public_url,
        "The dashboard's address as browsers see it, e.g. `https://ops.example.com`, when it "
        "is served behind a proxy. A state-changing request whose `Origin` is another site is "
        "refused; without this setting the origin is the one the request was addressed to.",
    )
    dashboard_trusted_proxies: int = _setting(
        0,
        non_negative_int,
        "How many reverse proxies in front of the dashboard set `X-Forwarded-For`, "
        "`-Proto` and `-Host`. The client's address (for sign-in throttling and the audit log) "
        "is read from those headers only when this is 1 or more; never set it higher than "
        "the number of proxies really there.",
    )
    dashboard_csrf_time_limit: float = _setting(
        8 * 3600.0,
        positive,
        "Seconds a page's CSRF token stays valid: a form left open longer must be reloaded.",
    )
    login_max_failures: int = _setting(
        10,
        positive_int,
        "Wrong passwords in a row for one user name, through the login form or HTTP Basic, "
        "after which that name is refused for `ops_login_lockout` (429), right password or not.",
    )
    login_max_failures_per_address: int = _setting(
        50,
        positive_int,
        "Wrong passwords from one client address, whatever the names tried, after which that "
        "address is refused for `ops_login_lockout`.",
    )
    login_lockout: float = _setting(
        "15m",
        duration,
        "How long a user name or an address stays refused after too many wrong passwords; "
        "failures older than this are forgotten.",
    )

    @classmethod
    def resolve(cls, conf: Mapping[str, Any], overrides: Mapping[str, Any]) -> OpsConfig:
        """First found wins: keyword override, ``app.conf``, environment variable, default.

        ``overrides`` are keyword settings without their ``ops_`` prefix.
        """
        unknown = set(overrides) - {setting.key for setting in SETTINGS}
        if unknown:
            raise ConfigurationError(
                f"unknown celery-ops setting(s): {', '.join(sorted(unknown))}; "
                "see docs/configuration.md for the list"
            )
        values: dict[str, Any] = {}
        for setting in SETTINGS:
            raw = _first_given(setting, conf, overrides)
            if raw is _ABSENT:
                continue  # the field's default, already parsed
            try:
                values[setting.key] = setting.parse(raw)
            except (TypeError, ValueError) as exc:
                raise ConfigurationError(
                    f"invalid celery-ops setting {setting.name}: {exc}"
                ) from None
        return cls(**values)


#: No value given anywhere: the field keeps its (parsed) default.
_ABSENT = object()


def _first_given(setting: Setting, conf: Mapping[str, Any], overrides: Mapping[str, Any]) -> Any:
    if overrides.get(setting.key) is not None:
        return overrides[setting.key]
    if conf.get(setting.name) is not None:
        return conf[setting.name]
    if setting.env and os.environ.get(setting.env):
        return os.environ[setting.env]
    return _ABSENT


#: The table, in declaration order.
SETTINGS: tuple[Setting, ...] = tuple(
    Setting(f.name, *f.metadata["setting"]) for f in fields(OpsConfig)
)


def markdown_table() -> str:
    """The settings table of docs/configuration.md."""
    lines = ["| Setting | Default | Environment | Meaning |", "| --- | --- | --- | --- |"]
    for setting in SETTINGS:
        default = "`{}`" if setting.default == {} else "`{!r}`"
        shown = default.format(setting.default).replace("'", '"')
        env = f"`{setting.env}`" if setting.env else ""
        lines.append(f"| `{setting.name}` | {shown} | {env} | {setting.doc} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(markdown_table(), end="")
