"""Resolve the ``ops_*`` settings of one Celery app into a typed, immutable value."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from celery_ops.defaults import DATABASE_URL_ENV, DEFAULTS, SECRET_KEY_ENV
from celery_ops.durations import parse_duration


class ConfigurationError(ValueError):
    """A setting has a value celery-ops cannot use; the message names the setting."""


@dataclass(frozen=True)
class OpsConfig:
    database_url: str = DEFAULTS["ops_database_url"]
    flush_interval: float = DEFAULTS["ops_flush_interval"]
    flush_batch: int = DEFAULTS["ops_flush_batch"]
    received_delay: float = DEFAULTS["ops_received_delay"]
    buffer_max: int = DEFAULTS["ops_buffer_max"]
    max_payload_bytes: int = DEFAULTS["ops_max_payload_bytes"]
    store_message_args: bool = DEFAULTS["ops_store_message_args"]
    worker_timeout: float = DEFAULTS["ops_worker_timeout"]
    heartbeat_interval: float = DEFAULTS["ops_heartbeat_interval"]
    reaper_interval: float = DEFAULTS["ops_reaper_interval"]
    retention: Mapping[str, float] = field(default_factory=dict)
    create_schema: bool = DEFAULTS["ops_create_schema"]
    shutdown_flush_timeout: float = DEFAULTS["ops_shutdown_flush_timeout"]
    beat_poll_interval: float = DEFAULTS["ops_beat_poll_interval"]
    beat_batch_size: int = DEFAULTS["ops_beat_batch_size"]
    beat_round_spacing: float = DEFAULTS["ops_beat_round_spacing"]
    beat_claim_timeout: float = DEFAULTS["ops_beat_claim_timeout"]
    beat_misfire_grace: float = DEFAULTS["ops_beat_misfire_grace"]
    beat_run_history: float = parse_duration(DEFAULTS["ops_beat_run_history"])
    dashboard_secret_key: str | None = None
    dashboard_secure_cookies: bool = DEFAULTS["ops_dashboard_secure_cookies"]

    @classmethod
    def resolve(cls, conf: Mapping[str, Any], overrides: Mapping[str, Any]) -> OpsConfig:
        """First found wins: keyword override, ``app.conf``, environment (URL only), default."""

        def pick(name: str) -> Any:
            if overrides.get(name) is not None:
                return overrides[name]
            value = conf.get(f"ops_{name}")
            if value is not None:
                return value
            if name == "database_url" and os.environ.get(DATABASE_URL_ENV):
                return os.environ[DATABASE_URL_ENV]
            if name == "dashboard_secret_key" and os.environ.get(SECRET_KEY_ENV):
                return os.environ[SECRET_KEY_ENV]
            return DEFAULTS[f"ops_{name}"]

        unknown = set(overrides) - {name.removeprefix("ops_") for name in DEFAULTS}
        if unknown:
            raise ConfigurationError(
                f"unknown celery-ops setting(s): {', '.join(sorted(unknown))}; "
                "see docs/configuration.md for the list"
            )
        try:
            return cls(
                database_url=str(pick("database_url")),
                flush_interval=_positive(float(pick("flush_interval")), "ops_flush_interval"),
                received_delay=_positive(float(pick("received_delay")), "ops_received_delay"),
                flush_batch=int(_positive(int(pick("flush_batch")), "ops_flush_batch")),
                buffer_max=int(_positive(int(pick("buffer_max")), "ops_buffer_max")),
                max_payload_bytes=int(
                    _positive(int(pick("max_payload_bytes")), "ops_max_payload_bytes")
                ),
                store_message_args=bool(pick("store_message_args")),
                worker_timeout=_positive(float(pick("worker_timeout")), "ops_worker_timeout"),
                heartbeat_interval=_positive(
                    float(pick("heartbeat_interval")), "ops_heartbeat_interval"
                ),
                reaper_interval=_positive(float(pick("reaper_interval")), "ops_reaper_interval"),
                retention=_retention(pick("retention")),
                create_schema=bool(pick("create_schema")),
                shutdown_flush_timeout=float(pick("shutdown_flush_timeout")),
                beat_poll_interval=_positive(
                    float(pick("beat_poll_interval")), "ops_beat_poll_interval"
                ),
                beat_batch_size=int(_positive(int(pick("beat_batch_size")), "ops_beat_batch_size")),
                beat_round_spacing=_non_negative(
                    float(pick("beat_round_spacing")), "ops_beat_round_spacing"
                ),
                beat_claim_timeout=_positive(
                    float(pick("beat_claim_timeout")), "ops_beat_claim_timeout"
                ),
                beat_misfire_grace=_positive(
                    float(pick("beat_misfire_grace")), "ops_beat_misfire_grace"
                ),
                beat_run_history=parse_duration(pick("beat_run_history")),
                dashboard_secret_key=_optional_text(pick("dashboard_secret_key")),
                dashboard_secure_cookies=bool(pick("dashboard_secure_cookies")),
            )
        except (TypeError, ValueError) as exc:
            if isinstance(exc, ConfigurationError):
                raise
            raise ConfigurationError(f"invalid celery-ops setting: {exc}") from exc


def _optional_text(value: Any) -> str | None:
    return None if value is None else str(value)


def _non_negative(value: float, name: str) -> float:
    if value < 0:
        raise ConfigurationError(f"{name} must be 0 or more, got {value!r}")
    return value


def _positive(value: float, name: str) -> float:
    if value <= 0:
        raise ConfigurationError(f"{name} must be greater than 0, got {value!r}")
    return value


def _retention(value: Any) -> dict[str, float]:
    if not isinstance(value, Mapping):
        raise ConfigurationError(
            f'ops_retention must be a mapping like {{"SUCCESS": "7d"}}, got {value!r}'
        )
    try:
        return {str(status).upper(): parse_duration(age) for status, age in value.items()}
    except ValueError as exc:
        raise ConfigurationError(f"ops_retention: {exc}") from exc
