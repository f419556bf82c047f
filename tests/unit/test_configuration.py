"""Settings resolve in a documented order and bad values say what is wrong."""

from __future__ import annotations

import pytest

from celery_ops.config import ConfigurationError, OpsConfig
from celery_ops.defaults import DEFAULTS, SETTINGS
from celery_ops.durations import parse_duration


def test_keyword_beats_app_conf_beats_environment_beats_default(monkeypatch) -> None:
    monkeypatch.setenv("CELERY_OPS_DATABASE_URL", "sqlite:///env.db")
    assert OpsConfig.resolve({}, {}).database_url == "sqlite:///env.db"
    assert OpsConfig.resolve({"ops_database_url": "sqlite:///conf.db"}, {}).database_url == (
        "sqlite:///conf.db"
    )
    assert (
        OpsConfig.resolve(
            {"ops_database_url": "sqlite:///conf.db"}, {"database_url": "sqlite:///kw.db"}
        ).database_url
        == "sqlite:///kw.db"
    )
    monkeypatch.delenv("CELERY_OPS_DATABASE_URL")
    assert OpsConfig.resolve({}, {}).database_url == DEFAULTS["ops_database_url"]


def test_every_setting_is_documented() -> None:
    assert all(setting.doc and setting.name.startswith("ops_") for setting in SETTINGS)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"flush_interval": 0}, "ops_flush_interval must be greater than 0"),
        ({"flush_batch": "many"}, "invalid celery-ops setting"),
        ({"retention": {"SUCCESS": "soon"}}, "not a duration"),
        ({"no_such_thing": 1}, "unknown celery-ops setting"),
    ],
)
def test_bad_settings_are_refused_with_a_clear_message(overrides, message) -> None:
    with pytest.raises(ConfigurationError, match=message):
        OpsConfig.resolve({}, overrides)


def test_retention_ages_are_parsed() -> None:
    config = OpsConfig.resolve({"ops_retention": {"success": "7d", "FAILURE": "2w"}}, {})
    assert config.retention == {"SUCCESS": 7 * 86_400, "FAILURE": 14 * 86_400}


@pytest.mark.parametrize(("text", "seconds"), [("90", 90), ("15m", 900), ("1.5h", 5400), (30, 30)])
def test_durations(text, seconds) -> None:
    assert parse_duration(text) == seconds
