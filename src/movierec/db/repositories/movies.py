"""Queries on movies.

The look-ups here are on the serving path of every recommendations and movie request, so they
are SQLAlchemy Core statements built once (composing a statement costs more Python than
running it, and SQLAlchemy reuses the compiled form of the same statement), executed on the
session's connection, returning ``MovieDetails``: plain values, no ORM identity map or
attribute instrumentation, which was most of their cost (issue 12).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from movierec.db.models import Movie

_MOVIES = Movie.__table__


@dataclass(frozen=True, slots=True)
class MovieDetails:
    """A movie's row, with the attribute names of ``db.models.Movie``."""

    movie_id: int
    title: str
    year: int | None
    genres: str | None
    description: str | None
    imdb_id: str | None
    tmdb_id: int | None


_COLUMNS = [_MOVIES.c[name] for name in MovieDetails.__dataclass_fields__]
_MOVIE_BY_ID = select(*_COLUMNS).where(_MOVIES.c.movie_id == bindparam("movie_id"))
_MOVIES_BY_IDS = select(*_COLUMNS).where(
    _MOVIES.c.movie_id.in_(bindparam("movie_ids", expanding=True))
)


def get_movie(session: Session, movie_id: int) -> MovieDetails | None:
    row = session.connection().execute(_MOVIE_BY_ID, {"movie_id": movie_id}).first()
    return None if row is None else MovieDetails(*row)


def movies_by_ids(session: Session, movie_ids: Iterable[int]) -> dict[int, MovieDetails]:
    """The movies with the given ids, in one query, keyed by id (unknown ids are absent)."""
    ids = list(dict.fromkeys(int(m) for m in movie_ids))
    if not ids:
        return {}
    rows = session.connection().execute(_MOVIES_BY_IDS, {"movie_ids": ids})
    return {row[0]: MovieDetails(*row) for row in rows}
