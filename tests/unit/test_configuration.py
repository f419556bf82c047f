"""Settings resolve in a documented order, bad values say what is wrong, and the settings
table in docs/configuration.md is the one in the code."""

from __future__ import annotations

from pathlib import Path

import pytest

from celery_ops.core.durations import parse_duration
from celery_ops.settings import SETTINGS, ConfigurationError, OpsConfig, markdown_table

DOCS = Path(__file__).parents[2] / "docs" / "configuration.md"


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
    assert OpsConfig.resolve({}, {}).database_url == "sqlite:///celery_ops.sqlite3"


def test_the_secret_key_is_read_from_its_environment_variable(monkeypatch) -> None:
    monkeypatch.setenv("CELERY_OPS_SECRET_KEY", "from-the-environment")
    assert OpsConfig.resolve({}, {}).dashboard_secret_key == "from-the-environment"


def test_every_setting_is_documented_and_its_default_is_the_config_default() -> None:
    defaults = OpsConfig()
    for setting in SETTINGS:
        assert setting.doc and setting.name.startswith("ops_")
        assert getattr(defaults, setting.key) == (
            None if setting.default is None else setting.parse(setting.default)
        )


def test_the_documented_table_is_the_table_in_the_code() -> None:
    assert markdown_table() in DOCS.read_text(), (
        "docs/configuration.md is out of date: paste the output of "
        "`python -m celery_ops.settings` into it"
    )


@pytest.mark.parametrize(
    ("conf", "message"),
    [
        ({"ops_flush_interval": 0}, "ops_flush_interval: must be greater than 0"),
        ({"ops_flush_interval": float("nan")}, "expected a finite number"),
        ({"ops_flush_batch": "many"}, "invalid celery-ops setting ops_flush_batch"),
        ({"ops_flush_batch": 2.5}, "must be a whole number"),
        ({"ops_retention": {"SUCCESS": "soon"}}, "not a duration"),
        ({"ops_create_schema": "perhaps"}, "expected true or false"),
    ],
)
def test_bad_settings_are_refused_with_a_clear_message(conf, message) -> None:
    with pytest.raises(ConfigurationError, match=message):
        OpsConfig.resolve(conf, {})


def test_an_unknown_keyword_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="unknown celery-ops setting"):
        OpsConfig.resolve({}, {"no_such_thing": 1})


def test_text_from_a_config_file_or_the_environment_is_read() -> None:
    config = OpsConfig.resolve(
        {"ops_flush_interval": "0.2", "ops_create_schema": "false", "ops_buffer_max": "10"}, {}
    )
    assert (config.flush_interval, config.create_schema, config.buffer_max) == (0.2, False, 10)


def test_retention_ages_are_parsed() -> None:
    config = OpsConfig.resolve({"ops_retention": {"success": "7d", "FAILURE": "2w"}}, {})
    assert config.retention == {"SUCCESS": 7 * 86_400, "FAILURE": 14 * 86_400}


@pytest.mark.parametrize(
    ("text", "seconds"), [("90s", 90), ("15m", 900), ("1.5h", 5400), (" 2W ", 1_209_600), (30, 30)]
)
def test_durations_carry_their_unit_and_numbers_are_seconds(text, seconds) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    "text", ["7", "7 days", "-1d", "0s", "soon", "999999999999999999999999999999d", "20000000w"]
)
def test_a_duration_without_a_unit_or_out_of_range_is_refused(text) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


def test_a_number_is_a_duration_only_where_the_name_says_seconds() -> None:
    with pytest.raises(ValueError, match="give it with its unit"):
        parse_duration(7, numbers_are_seconds=False)
