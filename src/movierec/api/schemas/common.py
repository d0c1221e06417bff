"""What the API's models share: ids, timestamps and limits, the bases of bodies and query
models, the path parameters and the body that names a movie."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    WithJsonSchema,
)
from pydantic_core import PydanticCustomError

# Ids are PostgreSQL INTEGER columns: anything larger is no id, and must not reach the database.
MAX_ID = 2**31 - 1
MAX_LIMIT = 1000


def _utc_iso(value: datetime) -> str:
    # pydantic would write "Z"; the API promises "+00:00" (ISO 8601, as the original did).
    return value.astimezone(UTC).isoformat()


def example(value: object) -> dict[str, object]:
    # OpenAPI's "example" keyword: flask-openapi3's schema model keeps it (it drops the JSON
    # Schema "examples" list), and schemathesis sends it in its examples phase.
    return {"example": value}


Id = Annotated[int, Field(ge=1, le=MAX_ID, json_schema_extra=example(1))]
UtcTimestamp = Annotated[
    datetime,
    PlainSerializer(_utc_iso, return_type=str),
    WithJsonSchema(
        {"type": "string", "format": "date-time", "example": "2018-09-13T20:20:06+00:00"}
    ),
]


def no_bool(value: object) -> object:
    # JSON true/false are not numbers (pydantic's lax int would read them as 1 and 0).
    if isinstance(value, bool):
        raise PydanticCustomError("int_type", "Input should be a valid integer, not a boolean")
    return value


def _json_number(value: object) -> object:
    # A JSON number only: no strings, no booleans. 42.0 is accepted, as JSON Schema's "integer"
    # accepts it; 42.5 is refused by the int validation that follows.
    if isinstance(value, str):
        raise PydanticCustomError("int_type", "Input should be a valid integer, not a string")
    return no_bool(value)


# An id in a JSON body.
BodyId = Annotated[
    int, Field(ge=1, le=MAX_ID, json_schema_extra=example(1)), BeforeValidator(_json_number)
]


class ApiModel(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class RequestBody(BaseModel):
    """Base of request bodies: unknown fields are an error (a typo must not pass silently)."""

    model_config = ConfigDict(extra="forbid")


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


class MovieRefBody(RequestBody):
    movie_id: BodyId
