"""A user's ratings, explicit and implicit (watched): the body of a rating and the
answers."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field, StrictFloat

from movierec.api.schemas.common import ApiModel, BodyId, RequestBody, UtcTimestamp, example
from movierec.api.schemas.movies import MovieOut

# A JSON number (integer or decimal): never a boolean or a string; NaN and Infinity are refused.
RatingValue = Annotated[
    StrictFloat, Field(ge=0, le=5, allow_inf_nan=False, json_schema_extra=example(3.5))
]


class RatingBody(RequestBody):
    movie_id: BodyId
    rating: RatingValue = Field(
        description="Stars, 0 to 5; rounded to the nearest half star (ties up: 3.75 -> 4.0)."
    )


class RatedMovieOut(BaseModel):
    is_implicit: bool
    movie: MovieOut
    rating: float
    ts: UtcTimestamp


class UserRatingsOut(BaseModel):
    limit: int
    user_id: int
    ratings: list[RatedMovieOut]


class RatingOut(ApiModel):
    is_implicit: bool
    movie_id: int
    rating: float
    ts: UtcTimestamp
    user_id: int


class RatingDeletedOut(BaseModel):
    deleted: bool = Field(True, description="Always true: what the ids name is gone.")
    movie_id: int
    msg: str = Field(
        "deleted",
        deprecated=True,
        description='Always "deleted". Deprecated: read `deleted`; `msg` goes in the next '
        "version of the API.",
        json_schema_extra=example("deleted"),
    )
    user_id: int


class WatchedOut(BaseModel):
    movie_id: int
    user_id: int
    watched: bool
