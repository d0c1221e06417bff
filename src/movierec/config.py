"""Typed settings, read from the environment under the original MovieRec variable names."""

from __future__ import annotations

import logging
import re
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    Field,
    ValidationError,
    computed_field,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.engine import URL

GROUPLENS_SMALL_URL = "https://files.grouplens.org/datasets/movielens/ml-latest-small.zip"
# prometheus-client reads this variable when it is imported: where the processes of a
# multi-process server keep their metric values (the setting of the same name).
PROMETHEUS_MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

MIN_API_KEY_LENGTH = 16
# Logged by every web process and printed by `movierec serve`/`demo` when no key is configured.
OPEN_ACCESS_WARNING = (
    "API_KEYS and ADMIN_API_KEYS are not set: anyone who can reach the service can create, "
    "change and delete users and ratings and read /api/v1/admin/status. Set them for anything "
    "but a local demo (docs/api.md, 'Access control')."
)


def _api_key(value: str) -> str:
    # Keys travel in HTTP headers and the lists are comma-separated: printable ASCII, no spaces
    # (commas never get here); long enough not to be guessed.
    if len(value) < MIN_API_KEY_LENGTH or len(value) > 256:
        raise PydanticCustomError(
            "api_key",
            f"each key must be {MIN_API_KEY_LENGTH} to 256 characters (make one with: python -c "
            "'import secrets; print(secrets.token_urlsafe(32))')",
        )
    if not re.fullmatch(r"[!-~]+", value):
        raise PydanticCustomError("api_key", "a key must be printable ASCII without spaces")
    return value


def _cors_origin(value: str) -> str:
    if value != "*" and not re.fullmatch(r"https?://[^/\s]+", value):
        raise PydanticCustomError(
            "cors_origin",
            f"{value!r} is not an origin: scheme://host[:port] without a path, or *",
        )
    return value


ApiKey = Annotated[str, AfterValidator(_api_key)]
CorsOrigin = Annotated[str, AfterValidator(_cors_origin)]

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
    # Web tier only (the refresh jobs run long queries and get neither): a statement, or a
    # wait for a lock, that takes longer is cancelled (503); 0 turns it off.
    db_statement_timeout_ms: int = Field(5000, ge=0)
    # Web tier: how long a request waits for a free pooled connection before a 503.
    db_pool_timeout_seconds: float = Field(5, gt=0)

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
    # Batches scored at once (each within SCORING_MEMORY_MB). Unset: one per available core.
    scoring_threads: int | None = Field(None, ge=1, le=64)

    # Ranking model: what decides each user's list (docs/engine.md, "Two models"); the SVD
    # above predicts the stars shown beside each movie. `svd` ranks by the SVD's estimate (the
    # original lists), `popular` gives everyone the top movies, `sequential` (the default) is
    # PureSVD plus EASE over the most-rated movies plus what people rate after the user's
    # latest movies, ahead of PureSVD alone on both splits (docs/engine.md, "The sequential
    # ranker").
    ranker: Literal["puresvd", "sequential", "als", "ease", "svd", "popular"] = "sequential"
    # The tuned ranker parameters (`model grid-search --ranking --apply`) fill the RANKER
    # settings not set explicitly. Unset: DATA_DIR/ranker-params.json when present.
    ranker_params_file: Path | None = None
    # Each star the rating model predicts adds this to the ranker's score (normalised to a
    # best of 1 per user): re-orders near-equal candidates towards the ones the user is
    # predicted to like. 0: the ranker alone. (sequential, puresvd, als, ease)
    ranker_rating_weight: float = Field(0.1, ge=0, le=100)
    # PureSVD's settings are also those of the sequential ranker's PureSVD part.
    puresvd_factors: int = Field(24, ge=1, le=2000)
    puresvd_weighting: Literal["rating", "binary"] = "rating"
    puresvd_popularity_damping: float = Field(0.0, ge=-1, le=1)
    als_factors: int = Field(64, ge=1, le=2000)
    als_regularization: float = Field(0.05, ge=0)
    als_alpha: float = Field(2.0, gt=0)
    als_iterations: int = Field(15, ge=1, le=1000)
    ease_lambda: float = Field(250.0, gt=0)
    ease_max_movies: int = Field(20_000, ge=1)
    # The sequential ranker (docs/engine.md, "The sequential ranker"): a movie's followers are
    # the movies rated within the next SEQUENTIAL_WINDOW ratings of the same user; each movie
    # keeps its SEQUENTIAL_SUCCESSORS most frequent ones; a user's SEQUENTIAL_RECENT latest
    # ratings, each older one weighing SEQUENTIAL_RECENT_DECAY times the next, pick followers
    # for them; SEQUENTIAL_TRANSITION_WEIGHT is that part's weight against PureSVD's. Beside
    # PureSVD, EASE over the SEQUENTIAL_TASTE_ITEMS most-rated movies (0: none), regularised by
    # SEQUENTIAL_TASTE_REGULARIZATION, each movie's weights divided by its user count **
    # SEQUENTIAL_TASTE_DAMPING, weighs SEQUENTIAL_TASTE_WEIGHT.
    sequential_window: int = Field(20, ge=1, le=1000)
    sequential_successors: int = Field(50, ge=1, le=10_000)
    sequential_recent: int = Field(20, ge=1, le=1000)
    sequential_recent_decay: float = Field(0.9, gt=0, le=1)
    sequential_transition_weight: float = Field(0.75, ge=0, le=100)
    sequential_taste_items: int = Field(1000, ge=0, le=10_000)
    sequential_taste_regularization: float = Field(250.0, gt=0)
    sequential_taste_damping: float = Field(0.2, ge=0, le=1)
    sequential_taste_weight: float = Field(1.0, ge=0, le=100)
    # The content model (docs/engine.md, "New movies"): every movie of the catalogue is served,
    # those with fewer than CONTENT_WARM_RATINGS ratings placed (partly, or wholly without
    # ratings) by their content: genres, year, description, collection, keywords. Off: only
    # movies someone has rated are ranked, as before.
    content_model: bool = True
    content_warm_ratings: int = Field(10, ge=1, le=100_000)

    # Scheduler.
    recommendations_refresh_minutes: float = Field(15, gt=0)
    statistics_refresh_minutes: float = Field(30, gt=0)
    # How often the scheduler checks that Redis still holds the published results (a Redis
    # restarted empty) and that no dead refresh is left "running".
    scheduler_watchdog_seconds: float = Field(30, gt=0)

    # Impressions and online metrics (docs/engine.md, "Knowing whether the lists work").
    # on: every recommendations answer is recorded as what was shown (user id, movie ids and
    # ranks, source, ranker, model version, experiment arm, time), outcomes that follow are
    # attributed to it; off: nothing is recorded.
    impressions: Literal["on", "off"] = "on"
    # The share of users whose answers and outcomes are recorded (decided per user, so that a
    # recorded user is recorded whole): lower it on very large sites.
    impressions_sample_rate: float = Field(1.0, ge=0, le=1)
    # The same answer (same user, arm, page and movies) asked again within this many seconds is
    # one impression (a reload, a second tab). 0: every answer counts.
    impressions_dedup_seconds: float = Field(600, ge=0)
    # Impressions and outcomes older than this are deleted by the scheduler.
    impressions_retention_days: float = Field(30, gt=0)
    # An outcome (a rating, watch, dismissal or click) counts for the first impression that
    # showed the movie to the user at most this long before it.
    impressions_outcome_window_days: float = Field(7, gt=0)
    # How often the scheduler moves what waits in the Redis stream into the database.
    impressions_drain_seconds: float = Field(5, gt=0)
    # Stream entries per drain transaction.
    impressions_drain_batch: int = Field(5000, ge=1, le=1_000_000)
    # The Redis stream keeps at most about this many entries (oldest dropped): what survives a
    # scheduler that is down (at 1,000 answers/s, 200 s); about 200 bytes each.
    impressions_stream_max_length: int = Field(200_000, ge=1000)
    # A web process flushes its recorded answers to Redis this often, and holds at most this
    # many while Redis is unreachable (then the oldest are dropped and counted).
    impressions_flush_seconds: float = Field(0.5, gt=0, le=60)
    impressions_buffer_max: int = Field(50_000, ge=100)
    # An A/B experiment between rankers: "name:ranker=weight,ranker=weight" (e.g.
    # "ab1:puresvd=50,popular=50"), users split by a hash of their id and the name. Or
    # EXPERIMENT_FILE, a JSON file (docs/engine.md). Neither: no experiment.
    experiment: str | None = None
    experiment_file: Path | None = None

    # Model selection: a Dask scheduler for `movierec model grid-search`.
    dask_scheduler_address: str | None = None

    # Web tier: gunicorn worker processes per `movierec serve` (unset: one per core, plus one).
    web_concurrency: int | None = Field(None, ge=1, le=256)
    # Finished recommendations answers each web process keeps (least recently used dropped,
    # about 5 KB each): a user who asks again for the same page of an unchanged list gets the
    # same bytes without their being built again (docs/api.md). 0 keeps none.
    recommendation_answers_kept: int = Field(2048, ge=0, le=1_000_000)
    # Access control (docs/api.md, "Access control"): comma-separated lists, several keys so that a
    # key can be rotated without downtime. Writes need a key of either list, admin endpoints one
    # of ADMIN_API_KEYS. Neither set: the open demo mode (every endpoint open, a loud warning).
    api_keys: Annotated[tuple[ApiKey, ...], NoDecode] = ()
    admin_api_keys: Annotated[tuple[ApiKey, ...], NoDecode] = ()
    # Origins whose browser pages may call the API (CORS); none: no CORS headers at all.
    cors_origins: Annotated[tuple[CorsOrigin, ...], NoDecode] = ()

    # Data.
    movielens_url: str = GROUPLENS_SMALL_URL
    movielens_sha256: str | None = None
    data_dir: Path = Path("movierec-data")

    # Observability (docs/deploy.md, "Monitoring").
    log_level: str = "INFO"
    log_format: Literal["text", "json"] = "text"
    # `movierec scheduler` serves its Prometheus metrics on this port (all interfaces); 0: off.
    scheduler_metrics_port: int = Field(9101, ge=0, le=65535)
    # Where `movierec serve`'s workers keep their metric files (prometheus-client's multi-process
    # mode); it is emptied at start. Unset: a temporary folder of its own, removed at exit.
    prometheus_multiproc_dir: Path | None = None

    @field_validator("log_format", mode="before")
    @classmethod
    def _lower_case_log_format(cls, value: Any) -> Any:
        return value.lower() if isinstance(value, str) else value

    @model_validator(mode="before")
    @classmethod
    def _model_params_from_file(cls, data: Any) -> Any:
        # Precedence: explicit MODEL_* > parameters file > code defaults. A bad file is not a
        # ValueError on purpose: it surfaces as SettingsError naming MODEL_PARAMS_FILE.
        from movierec.recommender.params import (
            ParamsFileError,
            settings_from_params_file,
            settings_from_ranker_file,
        )

        if not isinstance(data, dict):
            return data
        default_dir = cls.model_fields["data_dir"].default
        try:
            data = settings_from_params_file(data, default_dir)
        except ParamsFileError as error:
            raise SettingsError(f"invalid setting MODEL_PARAMS_FILE: {error}") from None
        try:
            return settings_from_ranker_file(data, default_dir)
        except ParamsFileError as error:
            raise SettingsError(f"invalid setting RANKER_PARAMS_FILE: {error}") from None

    @field_validator("impressions", mode="before")
    @classmethod
    def _on_or_off(cls, value: Any) -> Any:
        # IMPRESSIONS=off, OFF, false or 0 all mean off (and on, true, 1: on).
        if isinstance(value, bool):
            return "on" if value else "off"
        if isinstance(value, str):
            lowered = value.strip().lower()
            return {"true": "on", "1": "on", "false": "off", "0": "off"}.get(lowered, lowered)
        return value

    @model_validator(mode="after")
    def _experiment_is_usable(self) -> Settings:
        # Checked when the settings are read: a typo in an arm must stop `movierec scheduler`
        # at start with one line, not fail every refresh later.
        from movierec.services.experiments import ExperimentError, configured_experiment

        if self.experiment and self.experiment.strip() and self.experiment_file is not None:
            raise SettingsError("invalid setting EXPERIMENT: set EXPERIMENT or EXPERIMENT_FILE")
        try:
            configured_experiment(self.experiment, self.experiment_file)
        except ExperimentError as error:
            variable = "EXPERIMENT" if self.experiment else "EXPERIMENT_FILE"
            raise SettingsError(f"invalid setting {variable}: {error}") from None
        return self

    @property
    def recording_impressions(self) -> bool:
        return self.impressions == "on"

    def configured_experiment(self):  # type: ignore[no-untyped-def]
        """The A/B experiment of EXPERIMENT or EXPERIMENT_FILE, or None."""
        from movierec.services.experiments import configured_experiment

        return configured_experiment(self.experiment, self.experiment_file)

    @field_validator("api_keys", "admin_api_keys", "cors_origins", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        # "a, b,,c" -> ("a", "b", "c"): surrounding spaces and empty items are not values.
        if isinstance(value, str):
            value = value.split(",")
        if isinstance(value, list | tuple):
            return tuple(item.strip() for item in value if str(item).strip())
        return value

    @property
    def open_access(self) -> bool:
        """No API key configured: every endpoint is open (the demo)."""
        return not self.api_keys and not self.admin_api_keys

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
