"""Typed settings, read from the environment under the original MovieRec variable names."""

from __future__ import annotations

import logging
from functools import cached_property
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError, computed_field, field_validator, model_validator
from pydantic_core import PydanticCustomError
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import URL

GROUPLENS_SMALL_URL = "https://files.grouplens.org/datasets/movielens/ml-latest-small.zip"

# The back ends MovieRec's SQL is written and tested for.
DATABASE_BACKENDS = ("postgresql", "sqlite")


class SettingsError(Exception):
    """A setting from the environment is invalid; the message is one line naming the variable."""


class Settings(BaseSettings):
    """Every setting of the service. Field names map to the environment variables upper-cased."""

    model_config = SettingsConfigDict(
        case_sensitive=False, extra="ignore", frozen=True, populate_by_name=True
    )

    # PostgreSQL (the separate variables of the original; DATABASE_URL wins when set).
    db_host: str = "localhost"
    db_port: int = Field(5432, ge=1, le=65535)
    db_name: str = "movierec"
    db_user: str = "postgres"
    db_pass: str = "movierec"
    database_url_override: str | None = Field(None, alias="DATABASE_URL")

    # Redis (REDIS_URL wins when set).
    redis_host: str = "localhost"
    redis_port: int = Field(6379, ge=1, le=65535)
    redis_url_override: str | None = Field(None, alias="REDIS_URL")
    redis_chunk_size: int = Field(1000, ge=1)
    # Every key starts with this, so several deployments (or test runs) can share one Redis.
    redis_key_prefix: str = Field("movierec", min_length=1)

    # Recommender.
    top_n: int = Field(20, ge=1, le=1000)
    stat_movie_users_lower_limit: int = Field(5, ge=1)
    model_n_factors: int = Field(50, ge=1)
    model_n_epochs: int = Field(50, ge=1)
    model_lr_all: float = Field(0.008, gt=0)
    model_reg_all: float = Field(0.2, ge=0)
    model_random_state: int | None = 0
    # The grid search's winner (docs/model-selection.md): fills the MODEL_* values not set
    # explicitly. Unset: DATA_DIR/model-params.json when present (`grid-search --apply`).
    model_params_file: Path | None = None
    default_implicit_rating: float = Field(3.5, ge=0, le=5)
    # Movies cached per user beyond TOP_N, so the ones rated before the next refresh can be
    # dropped at read time without backfilling from the top movies.
    recommendations_margin: int = Field(10, ge=0, le=1000)
    # Memory for one block of scores while ranking; the users per batch follow from it.
    scoring_memory_mb: int = Field(128, ge=8)

    # Scheduler.
    recommendations_refresh_minutes: float = Field(15, gt=0)
    statistics_refresh_minutes: float = Field(30, gt=0)

    # Model selection: a Dask scheduler for `movierec model grid-search`.
    dask_scheduler_address: str | None = None

    # Web tier: gunicorn worker processes per `movierec serve` (unset: one per core, plus one).
    web_concurrency: int | None = Field(None, ge=1, le=256)

    # Data.
    movielens_url: str = GROUPLENS_SMALL_URL
    movielens_sha256: str | None = None
    data_dir: Path = Path("movierec-data")

    log_level: str = "INFO"

    @model_validator(mode="before")
    @classmethod
    def _model_params_from_file(cls, data: Any) -> Any:
        # Precedence: explicit MODEL_* > parameters file > code defaults. A bad file is not a
        # ValueError on purpose: it surfaces as SettingsError naming MODEL_PARAMS_FILE.
        from movierec.recommender.params import ParamsFileError, settings_from_params_file

        if not isinstance(data, dict):
            return data
        try:
            return settings_from_params_file(data, cls.model_fields["data_dir"].default)
        except ParamsFileError as error:
            raise SettingsError(f"invalid setting MODEL_PARAMS_FILE: {error}") from None

    @field_validator("database_url_override")
    @classmethod
    def _database_url_parses(cls, value: str | None) -> str | None:
        # Checked here, not at the first connection: a bad URL would otherwise be a traceback
        # per command, or a `serve` that starts and answers every request with 500.
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError, NoSuchModuleError

        if not value:
            return None
        try:
            url = make_url(value)
        except (ArgumentError, ValueError) as error:
            raise _invalid(f"not a database URL ({error})") from None
        backend = url.get_backend_name()
        if backend not in DATABASE_BACKENDS:
            raise _invalid(
                f"unsupported database {backend!r} (use postgresql+psycopg://... or sqlite:///...)"
            )
        try:
            url.get_dialect().import_dbapi()
        except NoSuchModuleError:
            raise _invalid(f"unknown database driver {url.drivername!r}") from None
        except ImportError as error:
            raise _invalid(f"database driver {url.drivername!r} not installed ({error})") from None
        return value

    @field_validator("redis_url_override")
    @classmethod
    def _redis_url_parses(cls, value: str | None) -> str | None:
        from redis.connection import parse_url

        if not value:
            return None
        try:
            parse_url(value)
        except ValueError as error:
            raise _invalid(f"not a Redis URL ({error})") from None
        return value

    @field_validator("log_level")
    @classmethod
    def _log_level_is_known(cls, value: str) -> str:
        if value.upper() not in logging.getLevelNamesMapping():
            raise _invalid(f"unknown level {value!r} (use DEBUG, INFO, WARNING, ERROR or CRITICAL)")
        return value.upper()

    @computed_field  # type: ignore[prop-decorator]
    @cached_property
    def database_url(self) -> str:
        if self.database_url_override:
            return self.database_url_override
        return URL.create(
            "postgresql+psycopg",
            username=self.db_user,
            password=self.db_pass,
            host=self.db_host,
            port=self.db_port,
            database=self.db_name,
        ).render_as_string(hide_password=False)

    @computed_field  # type: ignore[prop-decorator]
    @cached_property
    def redis_url(self) -> str:
        if self.redis_url_override:
            return self.redis_url_override
        return f"redis://{self.redis_host}:{self.redis_port}/0"


def _invalid(message: str) -> PydanticCustomError:
    """A validation error whose message is only ``message`` (no "Value error, " prefix)."""
    return PydanticCustomError("invalid_setting", message)


def _describe(error: ValidationError) -> str:
    first = error.errors()[0]
    field = str(first["loc"][0]) if first["loc"] else "?"
    name = Settings.model_fields[field].alias if field in Settings.model_fields else None
    variable = (name or field).upper()
    return f"invalid setting {variable}: {first['msg']}"


def load_settings(**overrides: object) -> Settings:
    """Read the settings from the environment (and keyword overrides), or raise SettingsError."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as error:
        raise SettingsError(_describe(error)) from None
