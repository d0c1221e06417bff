"""Pydantic models of the engine's endpoints: recommendations, top movies, engine status."""

from __future__ import annotations

from pydantic import BaseModel, Field

from movierec.api.schemas import MAX_LIMIT, MovieOut, QueryModel, UtcTimestamp

DEFAULT_TOP_MOVIES = 100


class TopMoviesQuery(QueryModel):
    limit: int = Field(
        DEFAULT_TOP_MOVIES,
        ge=1,
        le=MAX_LIMIT,
        description=f"How many movies to return, 1 to {MAX_LIMIT}.",
    )


class RecommendationsOut(BaseModel):
    user_id: int
    recommendations: list[MovieOut] = Field(
        description="Best first; none of them rated or watched by the user."
    )


class TopMovieOut(BaseModel):
    avg_rating: float | None = Field(
        description="Mean rating; null when fewer than STAT_MOVIE_USERS_LOWER_LIMIT users "
        "rated or watched the movie."
    )
    movie: MovieOut
    votes: int = Field(description="How many users rated or watched the movie.")


class TopMoviesOut(BaseModel):
    top_movies: list[TopMovieOut] = Field(description="Most votes first, then highest average.")


class ModelRunOut(BaseModel):
    version: str
    status: str = Field(examples=["succeeded"])
    params: dict[str, object] = Field(
        examples=[{"n_factors": 50, "n_epochs": 50, "lr_all": 0.008, "reg_all": 0.2}]
    )
    n_users: int | None
    n_movies: int | None
    n_ratings: int | None
    load_seconds: float | None
    fit_seconds: float | None
    score_seconds: float | None
    publish_seconds: float | None
    train_rmse: float | None
    error: str | None
    started_at: UtcTimestamp
    finished_at: UtcTimestamp | None


class CacheVersionsOut(BaseModel):
    recommendations: str | None = Field(description="Version readers use now; null: none yet.")
    statistics: str | None


class RunningJobsOut(BaseModel):
    recommendations: str | None = Field(
        description="Holder (host:pid:token) of a refresh running now, or null."
    )
    statistics: str | None


class EngineStatusOut(BaseModel):
    current_model: ModelRunOut | None = Field(
        description="The run whose lists are served now (null before the first refresh)."
    )
    latest_run: ModelRunOut | None = Field(description="The most recent run, whatever its outcome.")
    versions: CacheVersionsOut
    users_with_recommendations: int
    running: RunningJobsOut
