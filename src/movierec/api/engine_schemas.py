"""Pydantic models of the engine's endpoints: recommendations, top movies, engine status."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, Field, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from movierec.api.schemas import MAX_LIMIT, LimitQuery, MovieOut, QueryModel, UtcTimestamp
from movierec.services.movie_filters import GENRES, GENRES_PATTERN, MovieFilter, parse_genres
from movierec.services.movies import HAS_TITLE_WORD, NO_TITLE_WORD

DEFAULT_TOP_MOVIES = 100
# Deep pages cost a read of the top list that deep: bounded, and far beyond what anyone pages to.
MAX_OFFSET = 10_000
MIN_YEAR, MAX_YEAR = 1800, 2100


class MovieListQuery(QueryModel):
    """What a list of movies may show, and where its page starts (applied before ``limit``)."""

    genres: str | None = Field(
        None,
        max_length=500,
        description="Only movies of any of these genres: comma-separated MovieLens genre names, "
        f"case-insensitive ({', '.join(GENRES)}). An unknown name is a 400.",
        json_schema_extra={"example": "Comedy,Drama", "pattern": GENRES_PATTERN},
    )
    year_min: int | None = Field(
        None, ge=MIN_YEAR, le=MAX_YEAR, description="Only movies released in this year or later."
    )
    year_max: int | None = Field(
        None,
        ge=MIN_YEAR,
        le=MAX_YEAR,
        description="Only movies released in this year or earlier; not before `year_min`. A "
        "year bound leaves out movies of unknown year.",
    )
    offset: int = Field(
        0,
        ge=0,
        le=MAX_OFFSET,
        description=f"Skip this many movies of the (filtered) list, 0 to {MAX_OFFSET}: with "
        "`limit`, pages that do not overlap.",
    )

    @field_validator("genres")
    @classmethod
    def _known_genres(cls, value: str | None) -> str | None:
        try:
            parse_genres(value)
        except ValueError as error:
            # The text as context, not as the template: a client's "{" must not be formatted.
            raise PydanticCustomError("genre", "{reason}", {"reason": str(error)}) from None
        return value

    @field_validator("year_max")
    @classmethod
    def _not_before_year_min(cls, value: int | None, info: ValidationInfo) -> int | None:
        year_min = info.data.get("year_min")
        if value is not None and year_min is not None and value < year_min:
            raise PydanticCustomError(
                "year_range", "must not be before year_min ({year_min})", {"year_min": year_min}
            )
        return value

    def movie_filter(self) -> MovieFilter:
        return MovieFilter(parse_genres(self.genres), self.year_min, self.year_max)


class RecommendationsQuery(LimitQuery, MovieListQuery):
    pass


class TopMoviesQuery(MovieListQuery):
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
        description="Best first; none of them rated, watched or dismissed by the user."
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


class RankingEvaluationOut(BaseModel):
    evaluated_at: UtcTimestamp
    split: str = Field(examples=["temporal"])
    k: int = Field(description="Metrics are @k.", examples=[10])
    n_ratings: int
    n_users: int = Field(description="Users with held-out ratings.")
    results: list[dict[str, object]] = Field(
        description="One row per ranker, the popular baseline first (`model`, `params`, "
        "`ndcg_rel`, `precision_rel`, `recall_rel`, `map_rel`, `hit_rate_rel`, `ndcg_any`, "
        "`distinct_movies`, `coverage`, `rare_share`, `mean_popularity`, `fit_seconds`, "
        "`score_seconds`, `ndcg_vs_popular`), as `movierec model evaluate --ranking --json` "
        "prints them."
    )


class EngineStatusOut(BaseModel):
    current_model: ModelRunOut | None = Field(
        description="The run whose lists are served now (null before the first refresh)."
    )
    latest_run: ModelRunOut | None = Field(description="The most recent run, whatever its outcome.")
    recent_runs: list[ModelRunOut] = Field(
        description="The last refreshes of the recommendations, newest first, whatever their "
        "outcome."
    )
    latest_evaluation: RankingEvaluationOut | None = Field(
        description="The latest `movierec model evaluate --ranking` of the database's ratings "
        "(null: none was run)."
    )
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


class MovieSearchQuery(LimitQuery):
    q: str = Field(
        min_length=1,
        max_length=200,
        description='Words of the title, in any case and order (`matrix the` finds "The '
        'Matrix"); blanks, punctuation and control characters separate them.',
        json_schema_extra={"example": "toy story", "pattern": HAS_TITLE_WORD},
    )

    @field_validator("q")
    @classmethod
    def _has_a_word(cls, value: str) -> str:
        if not re.search(HAS_TITLE_WORD, value):
            raise PydanticCustomError("title_words", NO_TITLE_WORD)
        return value


class FoundMovieOut(MovieOut):
    votes: int | None = Field(
        description="Users who rated or watched it, as of the last statistics refresh (null: "
        "no statistics at hand)."
    )


class MovieSearchOut(BaseModel):
    q: str
    limit: int
    movies: list[FoundMovieOut] = Field(
        description="Titles starting with the first word first, then the most voted."
    )


class MovieStatisticsOut(BaseModel):
    movie_id: int
    votes: int = Field(description="Users who rated or watched the movie.")
    avg_rating: float | None = Field(
        description="Mean rating; null below STAT_MOVIE_USERS_LOWER_LIMIT votes."
    )
    source: Literal["cache", "database"] = Field(
        description='"cache": as the last statistics refresh published them; "database": '
        "counted now (nothing published for the movie yet, or Redis unreachable)."
    )
