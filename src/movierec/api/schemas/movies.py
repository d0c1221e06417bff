"""Movies: a movie as every answer shows it, its statistics, the title search and the
similar movies."""

from __future__ import annotations

import operator
import re
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator
from pydantic_core import PydanticCustomError

from movierec.api.schemas.common import MAX_LIMIT, ApiModel, LimitQuery, QueryModel
from movierec.services.movies import HAS_TITLE_WORD, NO_TITLE_WORD


class MovieOut(ApiModel):
    movie_id: int
    title: str
    year: int | None
    genres: str | None
    description: str | None


_MOVIE_FIELDS = tuple(MovieOut.model_fields)
_movie_values = operator.attrgetter(*_MOVIE_FIELDS)


def movie_fields(movie: Any) -> dict[str, Any]:
    """A movie's ``MovieOut`` fields in their order, for answers that extend ``MovieOut``."""
    return dict(zip(_MOVIE_FIELDS, _movie_values(movie), strict=True))


def serialize_movie(movie: Any) -> MovieOut:
    """A ``db.models.Movie`` (or anything with the same attributes) as the API shows it."""
    return MovieOut.model_validate(movie)


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
    limit: int = Field(description="The `limit` the answer was asked with (or its default).")
    movies: list[FoundMovieOut] = Field(
        description="The title that is `q` first (a leading or trailing The, A or An and the "
        "year aside), then titles starting with `q`, then the others; the most voted first "
        "within each."
    )


DEFAULT_SIMILAR = 10


class SimilarQuery(QueryModel):
    limit: int = Field(
        DEFAULT_SIMILAR,
        ge=1,
        le=MAX_LIMIT,
        description=f"How many movies to return, 1 to {MAX_LIMIT}.",
    )


class SimilarMovieOut(MovieOut):
    score: float = Field(
        description="How similar it is, -1 to 1: the cosine of the two movies in the ranking "
        "model's movie space, times `votes / (votes + STAT_MOVIE_USERS_LOWER_LIMIT)`, so that "
        "a movie few people rated (whose vector is their taste more than the movie's) ranks "
        "below a well-known one of nearly the same cosine."
    )
    votes: int | None = Field(
        description="Users who had rated or watched it when the model was trained: what its "
        "similarity rests on (null: a model published before the counts were)."
    )


class SimilarMoviesOut(BaseModel):
    movie_id: int
    limit: int = Field(description="The `limit` the answer was asked with (or its default).")
    similar: list[SimilarMovieOut] = Field(description="Most similar first.")
