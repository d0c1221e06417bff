"""A user's dismissed movies ("not interested")."""

from __future__ import annotations

from pydantic import BaseModel, Field

from movierec.api.schemas.common import UtcTimestamp, example
from movierec.api.schemas.movies import MovieOut


class DismissalOut(BaseModel):
    dismissed_at: UtcTimestamp = Field(description="When the user first dismissed the movie.")
    movie_id: int
    user_id: int


class DismissalDeletedOut(BaseModel):
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


class DismissedMovieOut(BaseModel):
    dismissed_at: UtcTimestamp
    movie: MovieOut


class DismissedMoviesOut(BaseModel):
    limit: int
    user_id: int
    dismissed: list[DismissedMovieOut] = Field(description="Most recently dismissed first.")
