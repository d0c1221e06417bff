"""Queries on movies."""

from __future__ import annotations

from collections.abc import Collection, Iterable

from sqlalchemy import Text, cast, func, literal, or_, select
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


def movie_ids_matching(
    session: Session,
    *,
    genres: Collection[str] = (),
    year_min: int | None = None,
    year_max: int | None = None,
) -> set[int]:
    """The ids of the movies of any of ``genres`` (none given: any genre) released from
    ``year_min`` to ``year_max`` (inclusive; a bound excludes unknown years), in one query.
    ``genres`` are names as stored, MovieLens' "|"-separated ones: a genre matches a whole name,
    in the same case (the API's names are made canonical before they get here)."""
    # One string of ids ("3,17,42") rather than a row per movie: a broad filter (a third of the
    # catalogue is comedies) matches thousands, and rows cost twice the CPU on the web tier.
    query = select(func.aggregate_strings(cast(Movie.movie_id, Text), ","))
    if genres:
        # "|Action|Comedy|" LIKE "%|Comedy|%": whole names only, on PostgreSQL and SQLite. No
        # lower(): on PostgreSQL it costs more than the whole rest of the scan.
        delimited = literal("|") + Movie.genres + literal("|")
        query = query.where(
            or_(*(delimited.contains(f"|{genre}|", autoescape=True) for genre in genres))
        )
    if year_min is not None:
        query = query.where(Movie.year >= year_min)
    if year_max is not None:
        query = query.where(Movie.year <= year_max)
    ids = session.scalar(query)
    return {int(movie_id) for movie_id in ids.split(",")} if ids else set()
