"""Queries on ratings."""

from __future__ import annotations

from datetime import datetime
from functools import cache

import pandas as pd
from sqlalchemy import Connection, Executable, bindparam, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from movierec.db.models import Movie, Rating
from movierec.db.repositories import read_frame


def ratings_frame(connection: Connection, *, with_timestamps: bool = False) -> pd.DataFrame:
    """All ratings (explicit and implicit) as user_id, movie_id, rating (and ts), in one
    query."""
    columns = [Rating.user_id, Rating.movie_id, Rating.rating]
    if with_timestamps:
        columns.append(Rating.ts)
    query = select(*columns).order_by(Rating.user_id, Rating.movie_id)
    return read_frame(query, connection, dtype={"user_id": "int64", "movie_id": "int64"})


_RATINGS = Rating.__table__
# Typed like their columns, so that timestamps go through UTCDateTime as in any other write.
_ROW = {
    name: bindparam(name, type_=_RATINGS.c[name].type)
    for name in ("user_id", "movie_id", "rating", "is_implicit", "ts")
}


@cache
def _rating_writes(dialect: str) -> dict[str, Executable]:
    """The upsert and the insert-if-absent of one rating, built once per dialect: on the path
    of every rating write, where composing them (``excluded`` builds a column proxy per column)
    cost more Python than running them (issue 12)."""
    insert = (postgresql if dialect == "postgresql" else sqlite).insert(_RATINGS).values(_ROW)
    upsert = insert.on_conflict_do_update(
        index_elements=["user_id", "movie_id"],
        set_={
            "rating": insert.excluded.rating,
            "is_implicit": insert.excluded.is_implicit,
            "ts": insert.excluded.ts,
        },
    )
    # Core keeps an INSERT's row count only when asked (the ORM asked for it before).
    absent = insert.on_conflict_do_nothing(
        index_elements=["user_id", "movie_id"]
    ).execution_options(preserve_rowcount=True)
    return {"upsert": upsert, "insert_if_absent": absent}


def _write(session: Session, kind: str, *row: object) -> int:
    """Run write ``kind`` of one rating (user_id, movie_id, rating, is_implicit, ts); the
    number of rows it wrote."""
    connection = session.connection()
    statement = _rating_writes(connection.dialect.name)[kind]
    return connection.execute(statement, dict(zip(_ROW, row, strict=True))).rowcount


def upsert_rating(
    session: Session, user_id: int, movie_id: int, rating: float, is_implicit: bool, ts: datetime
) -> None:
    """Insert or replace a user's rating of a movie in one statement (INSERT ... ON CONFLICT DO
    UPDATE), so concurrent writers neither lose a write nor create a duplicate row.
    A missing user or movie raises IntegrityError (foreign keys)."""
    _write(session, "upsert", user_id, movie_id, rating, is_implicit, ts)


def insert_rating_if_absent(
    session: Session, user_id: int, movie_id: int, rating: float, is_implicit: bool, ts: datetime
) -> bool:
    """Insert a rating unless the user already rated the movie (INSERT ... ON CONFLICT DO
    NOTHING); True if it was inserted. A missing user or movie raises IntegrityError."""
    return bool(_write(session, "insert_if_absent", user_id, movie_id, rating, is_implicit, ts))


def get_rating(session: Session, user_id: int, movie_id: int) -> Rating | None:
    return session.get(Rating, (user_id, movie_id))


def delete_rating(
    session: Session, user_id: int, movie_id: int, *, implicit_only: bool = False
) -> bool:
    """Delete a user's rating of a movie (only an implicit one if asked); True if one went."""
    statement = delete(Rating).where(Rating.user_id == user_id, Rating.movie_id == movie_id)
    if implicit_only:
        statement = statement.where(Rating.is_implicit.is_(True))
    result = session.execute(statement.execution_options(synchronize_session=False))
    return bool(result.rowcount)


def top_ratings(session: Session, user_id: int, limit: int) -> list[tuple[Rating, Movie]]:
    """A user's ratings with their movies: highest rating first, then newest (one query)."""
    return _user_ratings(
        session, user_id, limit, Rating.rating.desc(), Rating.ts.desc(), Rating.movie_id
    )


def latest_ratings(session: Session, user_id: int, limit: int) -> list[tuple[Rating, Movie]]:
    """A user's ratings with their movies: newest first, then highest rating (one query)."""
    return _user_ratings(
        session, user_id, limit, Rating.ts.desc(), Rating.rating.desc(), Rating.movie_id
    )


def _user_ratings(session: Session, user_id: int, limit: int, *order):  # type: ignore[no-untyped-def]
    query = (
        select(Rating, Movie)
        .join(Movie, Movie.movie_id == Rating.movie_id)
        .where(Rating.user_id == user_id)
        .order_by(*order)
        .limit(limit)
    )
    return [(rating, movie) for rating, movie in session.execute(query)]
