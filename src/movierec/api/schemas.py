"""The pydantic models of the HTTP API: what requests may contain and what responses contain.

flask-openapi3 validates path, query and body parameters with these models and builds the
OpenAPI document from the same models, so the document cannot drift from what the code accepts.
Responses are built through these models too (``respond``), so they match what is documented.

Input strictness, decided once for the whole API: ids and ratings in bodies must be JSON numbers
(a string such as ``"4.0"`` or a boolean is a 400; an id may be written ``42.0``, as JSON Schema's
"integer" allows). Only ``year_of_birth`` also accepts a numeric string, because the original
description's own example sends ``"year_of_birth": "1982"``.
"""

from __future__ import annotations

import operator
from datetime import UTC, datetime
from functools import cache
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    StrictFloat,
    WithJsonSchema,
)
from pydantic_core import PydanticCustomError

# Ids are PostgreSQL INTEGER columns: anything larger is no id, and must not reach the database.
MAX_ID = 2**31 - 1
MAX_LIMIT = 1000


def _utc_iso(value: datetime) -> str:
    # pydantic would write "Z"; the API promises "+00:00" (ISO 8601, as the original did).
    return value.astimezone(UTC).isoformat()


def _example(value: object) -> dict[str, object]:
    # OpenAPI's "example" keyword: flask-openapi3's schema model keeps it (it drops the JSON
    # Schema "examples" list), and schemathesis sends it in its examples phase.
    return {"example": value}


Id = Annotated[int, Field(ge=1, le=MAX_ID, json_schema_extra=_example(1))]
UtcTimestamp = Annotated[
    datetime,
    PlainSerializer(_utc_iso, return_type=str),
    WithJsonSchema(
        {"type": "string", "format": "date-time", "example": "2018-09-13T20:20:06+00:00"}
    ),
]


# A JSON number (integer or decimal): never a boolean or a string; NaN and Infinity are refused.
RatingValue = Annotated[
    StrictFloat, Field(ge=0, le=5, allow_inf_nan=False, json_schema_extra=_example(3.5))
]


def _no_bool(value: object) -> object:
    # JSON true/false are not numbers (pydantic's lax int would read them as 1 and 0).
    if isinstance(value, bool):
        raise PydanticCustomError("int_type", "Input should be a valid integer, not a boolean")
    return value


def _json_number(value: object) -> object:
    # A JSON number only: no strings, no booleans. 42.0 is accepted, as JSON Schema's "integer"
    # accepts it; 42.5 is refused by the int validation that follows.
    if isinstance(value, str):
        raise PydanticCustomError("int_type", "Input should be a valid integer, not a string")
    return _no_bool(value)


# An id in a JSON body.
BodyId = Annotated[
    int, Field(ge=1, le=MAX_ID, json_schema_extra=_example(1)), BeforeValidator(_json_number)
]


class ApiModel(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class RequestBody(BaseModel):
    """Base of request bodies: unknown fields are an error (a typo must not pass silently)."""

    model_config = ConfigDict(extra="forbid")


# -- parameters -----------------------------------------------------------------------------


class QueryModel(BaseModel):
    """Base of every query-string model (``api_blueprint`` refuses any other).

    flask-openapi3 reads the query model's JSON schema on every request (to tell list
    parameters from single ones), and pydantic builds it anew each time: about 0.75 ms, a
    quarter of a recommendations request. A class's schema never changes, so the schema of
    that call (default arguments) is built once per class; callers must not change it (the
    library only reads it). The OpenAPI document asks with its own arguments, as before.
    """

    @classmethod
    def model_json_schema(cls, *args: Any, **kwargs: Any) -> dict[str, Any]:
        if args or kwargs:
            return super().model_json_schema(*args, **kwargs)
        return _default_json_schema(cls)


@cache
def _default_json_schema(model: type[QueryModel]) -> dict[str, Any]:
    return super(QueryModel, model).model_json_schema()


class UserPath(BaseModel):
    user_id: Id = Field(description="The user's id.")


class MoviePath(BaseModel):
    movie_id: Id = Field(description="The movie's id.")


class LimitQuery(QueryModel):
    """``?limit=``: how many items to return. Omitted: the ``TOP_N`` setting (20 by default)."""

    limit: int | None = Field(
        None,
        ge=1,
        le=MAX_LIMIT,
        description=f"How many items to return, 1 to {MAX_LIMIT}. Default: the TOP_N setting.",
    )


# -- bodies ---------------------------------------------------------------------------------


class NewUserBody(RequestBody):
    gender: str | None = Field(
        None,
        min_length=1,
        max_length=16,
        pattern=r"^[A-Za-z][A-Za-z _-]*$",
        description='Free text of ASCII letters, spaces, "_" or "-", e.g. "M" or "F".',
        json_schema_extra=_example("M"),
    )
    year_of_birth: Annotated[int | None, BeforeValidator(_no_bool)] = Field(
        None,
        ge=1870,
        le=2100,
        description='A year; a numeric string such as "1982" is accepted too.',
        json_schema_extra=_example(1982),
    )


class RatingBody(RequestBody):
    movie_id: BodyId
    rating: RatingValue = Field(
        description="Stars, 0 to 5; rounded to the nearest half star (ties up: 3.75 -> 4.0)."
    )


class MovieRefBody(RequestBody):
    movie_id: BodyId


# -- responses ------------------------------------------------------------------------------


class ErrorDetail(BaseModel):
    status: int = Field(json_schema_extra=_example(400))
    message: str = Field(
        json_schema_extra=_example("rating: Input should be less than or equal to 5")
    )


class ErrorOut(BaseModel):
    """Every error the API answers."""

    error: ErrorDetail


class MovieOut(ApiModel):
    movie_id: int
    title: str
    year: int | None
    genres: str | None
    description: str | None


class UserOut(ApiModel):
    gender: str | None
    user_id: int
    year_of_birth: int | None


class UserDeletedOut(BaseModel):
    msg: str = Field("deleted", json_schema_extra=_example("deleted"))
    user_id: int


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
    movie_id: int
    msg: str = Field("deleted", json_schema_extra=_example("deleted"))
    user_id: int


class WatchedOut(BaseModel):
    movie_id: int
    user_id: int
    watched: bool


class LiveOut(BaseModel):
    status: str = Field(json_schema_extra=_example("ok"))


class ReadyOut(BaseModel):
    status: str = Field(json_schema_extra=_example("ready"))
    checks: dict[str, str] = Field(
        json_schema_extra=_example({"database": "ok", "redis": "ok", "statistics": "ok"})
    )


class NotReadyOut(ErrorOut):
    checks: dict[str, str] = Field(
        json_schema_extra=_example(
            {"database": "ok", "redis": "ok", "statistics": "missing: none published in Redis"}
        )
    )


_MOVIE_FIELDS = tuple(MovieOut.model_fields)
_movie_values = operator.attrgetter(*_MOVIE_FIELDS)


def movie_fields(movie: Any) -> dict[str, Any]:
    """A movie's ``MovieOut`` fields in their order, for answers that extend ``MovieOut``."""
    return dict(zip(_MOVIE_FIELDS, _movie_values(movie), strict=True))


def serialize_movie(movie: Any) -> MovieOut:
    """A ``db.models.Movie`` (or anything with the same attributes) as the API shows it."""
    return MovieOut.model_validate(movie)
