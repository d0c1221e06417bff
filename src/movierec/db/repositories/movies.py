"""Queries on movies.

The look-ups here are on the serving path of every recommendations and movie request, so they
are SQLAlchemy Core statements built once (composing a statement costs more Python than
running it, and SQLAlchemy reuses the compiled form of the same statement), executed on the
session's connection, returning ``MovieDetails``: plain values, no ORM identity map or
attribute instrumentation, which was most of their cost on the serving path.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from sqlalchemy import (
    Connection,
    Text,
    bindparam,
    cast,
    func,
    insert,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session

from movierec.db.models import MOVIE_ID_SEQUENCE, Movie
from movierec.recommender.content_features import MovieContent

_MOVIES = Movie.__table__


@dataclass(frozen=True, slots=True)
class MovieDetails:
    """A movie's row, with the attribute names of ``db.models.Movie`` (``retired``: whether
    ``retired_at`` is set, ``created``: whether ``created_at`` is)."""

    movie_id: int
    title: str
    year: int | None
    genres: str | None
    description: str | None
    imdb_id: str | None
    tmdb_id: int | None
    collection: str | None = None
    keywords: list[str] | None = None
    retired: bool = False
    created: bool = False


_COLUMNS = [
    *(_MOVIES.c[name] for name in list(MovieDetails.__dataclass_fields__)[:9]),
    _MOVIES.c.retired_at.is_not(None),
    _MOVIES.c.created_at.is_not(None),
]
_MOVIE_BY_ID = select(*_COLUMNS).where(_MOVIES.c.movie_id == bindparam("movie_id"))
_ALL_MOVIES = select(*_COLUMNS)
_MOVIES_BY_IDS = select(*_COLUMNS).where(
    _MOVIES.c.movie_id.in_(bindparam("movie_ids", expanding=True))
)


def get_movie(session: Session, movie_id: int) -> MovieDetails | None:
    row = session.connection().execute(_MOVIE_BY_ID, {"movie_id": movie_id}).first()
    return None if row is None else MovieDetails(*row)


def all_movies(session: Session) -> dict[int, MovieDetails]:
    """Every movie, keyed by id, in one query (the per-process catalogue's copy)."""
    rows = session.connection().execute(_ALL_MOVIES)
    return {row[0]: MovieDetails(*row) for row in rows}


def movies_by_ids(session: Session, movie_ids: Iterable[int]) -> dict[int, MovieDetails]:
    """The movies with the given ids, in one query, keyed by id (unknown ids are absent)."""
    ids = list(dict.fromkeys(int(m) for m in movie_ids))
    if not ids:
        return {}
    rows = session.connection().execute(_MOVIES_BY_IDS, {"movie_ids": ids})
    return {row[0]: MovieDetails(*row) for row in rows}


def movie_ids_matching(
    session: Session | Connection,
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


def _like_pattern(word: str) -> str:
    """``%word%`` with LIKE's own wildcards in the word matched literally (escape ``\\``)."""
    escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def movies_with_title_words(
    session: Session, words: Sequence[str], lead: str, limit: int
) -> list[tuple[int, str, int | None]]:
    """Up to ``limit`` movies whose title contains every word (case-insensitive; a word of four
    digits may be the release year instead), as (id, title, year): titles that start with
    ``lead`` (or with "the", "a" or "an" and ``lead``) first, then in title order, so the cut
    keeps the titles a search ranks first however many others match."""
    title, year = _MOVIES.c.title, _MOVIES.c.year
    leading = _like_pattern(lead)[1:]
    starts = or_(
        *(title.ilike(prefix + leading, escape="\\") for prefix in ("", "the ", "a ", "an "))
    )
    query = select(_MOVIES.c.movie_id, title, year)
    for word in words:
        contains = title.ilike(_like_pattern(word), escape="\\")
        if len(word) == 4 and word.isascii() and word.isdigit():
            contains = or_(contains, year == int(word))
        query = query.where(contains)
    query = query.order_by(starts.desc(), title, _MOVIES.c.movie_id).limit(limit)
    return [(movie_id, name, made) for movie_id, name, made in session.connection().execute(query)]


_CONTENT = select(
    _MOVIES.c.movie_id,
    _MOVIES.c.title,
    _MOVIES.c.year,
    _MOVIES.c.genres,
    _MOVIES.c.description,
    _MOVIES.c.collection,
    _MOVIES.c.keywords,
    _MOVIES.c.retired_at.is_not(None),
).order_by(_MOVIES.c.movie_id)


def catalogue_content(connection: Connection) -> tuple[MovieContent, np.ndarray]:
    """Every movie's content (what the content model places movies by) and the ids of the
    retired movies, in one query (62k movies at MovieLens-25M: a fraction of a second)."""
    rows = connection.execute(_CONTENT).all()
    columns = list(zip(*rows, strict=True)) if rows else [[] for _ in range(8)]
    ids, titles, years, genres, descriptions, collections, keywords, retired = columns
    content = MovieContent.of(
        np.asarray(ids, dtype=np.int64),
        titles=titles,
        years=years,
        genres=genres,
        descriptions=descriptions,
        collections=collections,
        keywords=keywords,
    )
    retired_ids = np.asarray(
        [movie_id for movie_id, gone in zip(ids, retired, strict=True) if gone], dtype=np.int64
    )
    return content, retired_ids


# -- the catalogue's writes (the API's) --------------------------------------------------------

# What the API may set on a movie (``MovieFields``' names are these columns).
WRITABLE = ("title", "year", "genres", "description", "collection", "keywords")


def same_title_and_year(
    session: Session, title: str, year: int | None, other_than: int | None = None
) -> int | None:
    """The id of a movie (retired ones included) with this title in any case and this year
    (both unknown counts as the same), other than ``other_than``; None when there is none."""
    query = select(_MOVIES.c.movie_id).where(
        func.lower(_MOVIES.c.title) == title.lower(),
        _MOVIES.c.year.is_(None) if year is None else _MOVIES.c.year == year,
    )
    if other_than is not None:
        query = query.where(_MOVIES.c.movie_id != other_than)
    return session.scalar(query.order_by(_MOVIES.c.movie_id).limit(1))


def lock_titles(session: Session, title: str) -> None:
    """Serialise the writes of movies with this title until the transaction ends, so two
    requests creating the same movie at once cannot both pass the duplicate check (PostgreSQL;
    SQLite has one writer at a time anyway)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            select(func.pg_advisory_xact_lock(func.hashtext(f"movie title:{title.lower()}")))
        )


def create_movie(session: Session, values: dict[str, object], at: datetime) -> MovieDetails:
    """A new movie with ``values`` (``WRITABLE`` names); its id comes after the highest ever
    used (PostgreSQL's sequence; SQLite's INTEGER PRIMARY KEY takes the highest plus one, and
    movies are never deleted)."""
    row = {name: values.get(name) for name in WRITABLE}
    row.update(created_at=at, edited_at=at)
    # SQLite: NULL into the INTEGER PRIMARY KEY is the next id, taken inside its write lock.
    row["movie_id"] = None
    if session.get_bind().dialect.name == "postgresql":
        row["movie_id"] = session.scalar(select(MOVIE_ID_SEQUENCE.next_value()))
    result = session.execute(insert(_MOVIES).values(row).returning(_MOVIES.c.movie_id))
    movie = get_movie(session, result.scalar_one())
    assert movie is not None
    return movie


def update_movie(
    session: Session, movie_id: int, values: dict[str, object], at: datetime
) -> MovieDetails | None:
    """Set ``values`` (``WRITABLE`` names) on a movie, marked changed through the API (a
    re-load leaves it as it is now); None when there is no such movie."""
    changed = {name: value for name, value in values.items() if name in WRITABLE}
    result = session.execute(
        update(_MOVIES).where(_MOVIES.c.movie_id == movie_id).values(**changed, edited_at=at)
    )
    return get_movie(session, movie_id) if result.rowcount else None


def retire_movie(session: Session, movie_id: int, at: datetime) -> MovieDetails | None:
    """Retire a movie (again: nothing changes); None when there is no such movie."""
    session.execute(
        update(_MOVIES)
        .where(_MOVIES.c.movie_id == movie_id, _MOVIES.c.retired_at.is_(None))
        .values(retired_at=at)
    )
    return get_movie(session, movie_id)
