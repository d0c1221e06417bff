"""Settings come from the original environment variables and fail with one line naming them."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from movierec.cli import main
from movierec.config import SettingsError, load_settings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DATABASE_URL", "REDIS_URL", "DB_HOST", "DB_PASS", "TOP_N", "REDIS_PORT"):
        monkeypatch.delenv(name, raising=False)


def test_separate_variables_compose_the_urls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DB_HOST", "db.internal")
    monkeypatch.setenv("DB_PASS", "s3cr:t@")
    monkeypatch.setenv("REDIS_PORT", "6380")
    settings = load_settings()
    assert settings.database_url == (
        "postgresql+psycopg://postgres:s3cr%3At%40@db.internal:5432/movierec"
    )
    assert settings.redis_url == "redis://localhost:6380/0"


def test_urls_override_separate_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DB_HOST", "ignored")
    monkeypatch.setenv("DATABASE_URL", "sqlite:///x.db")
    monkeypatch.setenv("REDIS_URL", "redis://cache:1234/2")
    settings = load_settings()
    assert settings.database_url == "sqlite:///x.db"
    assert settings.redis_url == "redis://cache:1234/2"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("TOP_N", "twenty"),
        ("TOP_N", "0"),
        ("REDIS_PORT", "70000"),
        ("MODEL_LR_ALL", "-1"),
        ("LOG_FORMAT", "yaml"),
        ("SCHEDULER_METRICS_PORT", "-1"),
    ],
)
def test_invalid_value_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError, match=rf"^invalid setting {variable}: ") as error:
        load_settings()
    assert "\n" not in str(error.value)


def test_cli_reports_invalid_setting_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOP_N", "lots")
    result = CliRunner().invoke(main, ["db", "current"])
    assert result.exit_code == 2
    assert "invalid setting TOP_N" in result.output
    assert "Traceback" not in result.output


def test_log_format_is_text_or_json_in_any_case(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LOG_FORMAT", raising=False)
    assert load_settings().log_format == "text"
    monkeypatch.setenv("LOG_FORMAT", "JSON")
    assert load_settings().log_format == "json"
