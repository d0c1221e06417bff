"""Pydantic models of the engine's endpoints: recommendations, top movies, engine status."""

from __future__ import annotations

from typing import Literal

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


class ReasonOut(BaseModel):
    movie_id: int
    title: str


class RecommendedMovieOut(MovieOut):
    predicted_rating: float | None = Field(
        description="The stars the rating model (SVD) predicts this user would give, clipped to "
        "0.5-5; null for a movie from the top list."
    )
    score: float | None = Field(
        description="The ranking model's score (only its order within the list means "
        "anything); null for a movie from the top list."
    )
    because: list[ReasonOut] | None = Field(
        None,
        description="Up to two movies the user rated 4 or more that are most similar to this "
        "one (the ranking model's movie space); omitted where there is none.",
    )


class RecommendationsOut(BaseModel):
    user_id: int
    recommendations: list[RecommendedMovieOut] = Field(
        description="Best first; none of them rated or watched by the user."
    )
    source: str = Field(
        description="Where the list came from: `model` (the user's own list from the last "
        "refresh), `fold_in` (computed now from the user's current ratings: they rated or "
        "watched something since the last refresh, or are new), `popular` (the top movies: a "
        "user without ratings) or `database` (the same, computed from the database: Redis "
        "holds no statistics or is down).",
        examples=["model"],
    )
    backfilled: int = Field(
        description="How many of the movies (at the end of the list) came from the top movies "
        "because the user had rated the cached ones since.",
        examples=[0],
    )


class TopMovieOut(BaseModel):
    avg_rating: float | None = Field(
        description="Mean rating; null when fewer than STAT_MOVIE_USERS_LOWER_LIMIT users "
        "rated or watched the movie."
    )
    movie: MovieOut
    votes: int = Field(description="How many users rated or watched the movie.")


class TopMoviesOut(BaseModel):
    source: Literal["cache", "database"] = Field(
        description='"cache": the statistics the last refresh published to Redis; "database": '
        "computed from the database now, because Redis holds no statistics or is down."
    )
    top_movies: list[TopMovieOut] = Field(description="Most votes first, then highest average.")


class ModelRunOut(BaseModel):
    version: str
    status: str = Field(examples=["succeeded"])
    params: dict[str, object] = Field(
        description="The rating model's (Surprise SVD) parameters: it predicts the stars.",
        examples=[{"n_factors": 50, "n_epochs": 50, "lr_all": 0.008, "reg_all": 0.2}],
    )
    ranker: str = Field(
        description="The ranking model that decided the lists (RANKER).", examples=["puresvd"]
    )
    ranker_params: dict[str, object] | None = Field(
        description="The ranking model's parameters.",
        examples=[{"n_factors": 32, "weighting": "rating", "popularity_damping": 0.0}],
    )
    n_users: int | None
    n_movies: int | None
    n_ratings: int | None
    load_seconds: float | None
    fit_seconds: float | None = Field(description="Training the rating model (SVD).")
    rank_fit_seconds: float | None = Field(description="Training the ranking model.")
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


DEFAULT_SIMILAR = 10


class SimilarQuery(QueryModel):
    limit: int = Field(
        DEFAULT_SIMILAR,
        ge=1,
        le=MAX_LIMIT,
        description=f"How many movies to return, 1 to {MAX_LIMIT}.",
    )


class SimilarMovieOut(MovieOut):
    score: float = Field(description="Cosine similarity in the ranking model's movie space.")


class SimilarMoviesOut(BaseModel):
    movie_id: int
    similar: list[SimilarMovieOut] = Field(description="Most similar first.")
