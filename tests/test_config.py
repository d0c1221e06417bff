"""Settings come from the original environment variables and fail with one line naming them."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from click.testing import CliRunner

from movierec.cli import main
from movierec.config import SettingsError, load_settings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "DATABASE_URL",
        "REDIS_URL",
        "DB_HOST",
        "DB_PASS",
        "TOP_N",
        "REDIS_PORT",
        "LOG_LEVEL",
    ):
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


# Malformed before they are used: otherwise a traceback (or a `serve` answering 500) later.
MALFORMED = [
    ("DATABASE_URL", "not a url"),
    ("DATABASE_URL", "postgres://u@db/movierec"),  # SQLAlchemy's name is postgresql
    ("DATABASE_URL", "postgresql+psycopg://u@db:port/movierec"),
    ("DATABASE_URL", "postgresql+nosuchdriver://u@db/movierec"),
    ("DATABASE_URL", "mysql://u@db/movierec"),
    ("REDIS_URL", "cache:6379"),
    ("REDIS_URL", "http://cache:6379/0"),
    ("REDIS_URL", "redis://cache:port/0"),
    ("LOG_LEVEL", "verbose"),
]


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("TOP_N", "twenty"),
        ("TOP_N", "0"),
        ("REDIS_PORT", "70000"),
        ("MODEL_LR_ALL", "-1"),
        ("LOG_FORMAT", "yaml"),
        ("SCHEDULER_METRICS_PORT", "-1"),
        *MALFORMED,
    ],
)
def test_invalid_value_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError, match=rf"^invalid setting {variable}: ") as error:
        load_settings()
    assert "\n" not in str(error.value)


def test_log_level_is_case_insensitive(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOG_LEVEL", "debug")
    assert load_settings().log_level == "DEBUG"


@pytest.mark.parametrize(
    ("variable", "value"), [("TOP_N", "lots"), *MALFORMED[:1], *MALFORMED[5:6], MALFORMED[-1]]
)
@pytest.mark.parametrize("command", [["db", "current"], ["model", "evaluate"], ["stats"]])
def test_cli_reports_invalid_setting_in_one_line(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, command: list[str]
) -> None:
    monkeypatch.setenv(variable, value)
    result = CliRunner().invoke(main, command)
    assert result.exit_code == 2
    # Only the line the README promises: no click `Usage:` / `Try --help` block before it.
    [line] = result.output.strip().splitlines()
    assert line.startswith(f"Error: invalid setting {variable}: ")


@pytest.mark.parametrize(("variable", "value"), [MALFORMED[0], MALFORMED[5], MALFORMED[-1]])
def test_serve_refuses_to_start_with_a_malformed_setting(variable: str, value: str) -> None:
    env = {**os.environ, variable: value}
    result = subprocess.run(
        [sys.executable, "-m", "movierec", "serve", "--bind", "127.0.0.1:0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stdout == ""
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"Error: invalid setting {variable}: ")


def test_log_format_is_text_or_json_in_any_case(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LOG_FORMAT", raising=False)
    assert load_settings().log_format == "text"
    monkeypatch.setenv("LOG_FORMAT", "JSON")
    assert load_settings().log_format == "json"
