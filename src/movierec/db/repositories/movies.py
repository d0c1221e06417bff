"""Queries on movies."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from movierec.db.models import Movie


def get_movie(session: Session, movie_id: int) -> Movie | None:
    return session.get(Movie, movie_id)


def movies_by_ids(session: Session, movie_ids: Iterable[int]) -> dict[int, Movie]:
    """The movies with the given ids, in one query, keyed by id (unknown ids are absent)."""
    ids = list(dict.fromkeys(int(m) for m in movie_ids))
    if not ids:
        return {}
    rows = session.scalars(select(Movie).where(Movie.movie_id.in_(ids)))
    return {movie.movie_id: movie for movie in rows}
