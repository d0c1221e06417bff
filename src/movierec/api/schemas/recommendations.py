"""A user's recommendations and the top movies: the lists' filters and pages, and the
answers."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from movierec.api.schemas.common import MAX_LIMIT, LimitQuery, QueryModel
from movierec.api.schemas.movies import MovieOut
from movierec.services.movie_filters import GENRES, GENRES_PATTERN, MovieFilter, parse_genres

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
        None,
        ge=MIN_YEAR,
        le=MAX_YEAR,
        description=f"Only movies released in this year or later, {MIN_YEAR} to {MAX_YEAR}; "
        "not after `year_max` (together, `year_min` must be at most `year_max`, else the "
        "answer is a 400).",
    )
    year_max: int | None = Field(
        None,
        ge=MIN_YEAR,
        le=MAX_YEAR,
        description=f"Only movies released in this year or earlier, {MIN_YEAR} to {MAX_YEAR}; "
        "not before `year_min`: `year_min=2099&year_max=1800` is a 400. A year bound leaves "
        "out movies of unknown year.",
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
        description="What the list is ordered by, higher first; null for a movie from the top "
        "list. Only the order within one list means anything: not comparable between users, "
        "or between refreshes. Its scale is the ranking model's (RANKER): by default (a blend, "
        "RANKER_RATING_WEIGHT > 0) the ranker's score divided by the largest of this user's "
        "(so at most 1), plus RANKER_RATING_WEIGHT (0.1) per predicted star, about 0 to 1.5; "
        "with RANKER=svd the predicted stars unclipped; with a weight of 0 the ranker's raw "
        "score (PureSVD, ALS: a dot product of factors, unbounded)."
    )
    new: bool = Field(
        description="A new movie: fewer than CONTENT_WARM_RATINGS ratings (none, or a few) at "
        "the last refresh, placed in the list by its content (genres, year, description, "
        "collection, keywords) rather than by who rated it."
    )
    because: list[ReasonOut] | None = Field(
        None,
        description="Why this movie: up to two movies the user rated 4 or more that are most "
        "similar to it in the ranking model's movie space (`because_kind` `liked`), or, with "
        "RANKER=sequential where the movie comes mainly from what people rate next, the one "
        "of the user's latest ratings it follows (`because_kind` `just_watched`); omitted "
        "where there is none.",
    )
    because_kind: Literal["liked", "just_watched"] | None = Field(
        None,
        description="What `because` names; given with it, omitted with it. `liked`: the liked "
        "movies most similar to this one (the page: Because you liked ...). `just_watched`: "
        "one movie, the one of the user's latest ratings that this one follows in what people "
        "rate next (the page: Because you just watched ...; only the sequential ranker gives "
        "it).",
    )
    avg_rating: float | None = Field(
        None,
        description="For a movie from the top list (a new user's list, or the end of a list "
        "filled up): its mean rating, what it was chosen by with `votes` (null below "
        "STAT_MOVIE_USERS_LOWER_LIMIT votes); omitted for a ranked movie.",
    )
    votes: int | None = Field(
        None,
        description="For a movie from the top list: how many users rated or watched it; "
        "omitted for a ranked movie.",
    )


class RecommendationsOut(BaseModel):
    user_id: int
    limit: int = Field(description="The `limit` the answer was asked with (or its default).")
    offset: int = Field(description="The `offset` the answer was asked with.")
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
    impression_id: str | None = Field(
        None,
        description="This answer as an impression (the same answer asked again shortly is the "
        "same impression): send it with `POST /user/<id>/clicked` when the user opens one of "
        "the movies. Null when answers are not recorded (IMPRESSIONS=off, or the user is not "
        "in the sample).",
        examples=["3f9c2a7d1e0b4c55"],
    )


class TopMovieOut(MovieOut):
    """A movie with its statistics: flat, as every list of movies (search, similar movies,
    recommendations) shows them."""

    avg_rating: float | None = Field(
        description="Mean rating; null when fewer than STAT_MOVIE_USERS_LOWER_LIMIT users "
        "rated or watched the movie."
    )
    votes: int = Field(description="How many users rated or watched the movie.")
    movie: MovieOut = Field(
        deprecated=True,
        description="The same movie fields, nested, as this answer showed them before. "
        "Deprecated: read the fields beside it; `movie` goes in the next version of the API.",
    )


class TopMoviesOut(BaseModel):
    source: Literal["cache", "database"] = Field(
        description='"cache": the statistics the last refresh published to Redis; "database": '
        "computed from the database now, because Redis holds no statistics or is down."
    )
    limit: int = Field(description="The `limit` the answer was asked with (or its default).")
    offset: int = Field(description="The `offset` the answer was asked with.")
    top_movies: list[TopMovieOut] = Field(description="Most votes first, then highest average.")
