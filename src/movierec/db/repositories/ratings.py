"""Queries on ratings."""

from __future__ import annotations

from datetime import datetime

import pandas as pd
from sqlalchemy import Connection, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from movierec.db.models import DeletedRating, Movie, Rating
from movierec.db.repositories import read_frame


def ratings_frame(connection: Connection) -> pd.DataFrame:
    """All ratings (explicit and implicit) as user_id, movie_id, rating, in one query."""
    query = select(Rating.user_id, Rating.movie_id, Rating.rating).order_by(
        Rating.user_id, Rating.movie_id
    )
    return read_frame(query, connection, dtype={"user_id": "int64", "movie_id": "int64"})


def _insert(session: Session, table=Rating.__table__):  # type: ignore[no-untyped-def]
    dialect = session.get_bind().dialect.name
    return (postgresql if dialect == "postgresql" else sqlite).insert(table)


def upsert_rating(
    session: Session, user_id: int, movie_id: int, rating: float, is_implicit: bool, ts: datetime
) -> None:
    """Insert or replace a user's rating of a movie in one statement (INSERT ... ON CONFLICT DO
    UPDATE), so concurrent writers neither lose a write nor create a duplicate row.
    A missing user or movie raises IntegrityError (foreign keys). The row is the API's from
    now on (``from_load`` false): a re-load of the data set leaves it alone."""
    insert = _insert(session).values(
        user_id=user_id, movie_id=movie_id, rating=rating, is_implicit=is_implicit, ts=ts
    )
    session.execute(
        insert.on_conflict_do_update(
            index_elements=["user_id", "movie_id"],
            set_={
                "rating": insert.excluded.rating,
                "is_implicit": insert.excluded.is_implicit,
                "ts": insert.excluded.ts,
                "from_load": False,
            },
        )
    )


def insert_rating_if_absent(
    session: Session, user_id: int, movie_id: int, rating: float, is_implicit: bool, ts: datetime
) -> bool:
    """Insert a rating unless the user already rated the movie (INSERT ... ON CONFLICT DO
    NOTHING); True if it was inserted. A missing user or movie raises IntegrityError."""
    insert = _insert(session).values(
        user_id=user_id, movie_id=movie_id, rating=rating, is_implicit=is_implicit, ts=ts
    )
    result = session.execute(insert.on_conflict_do_nothing(index_elements=["user_id", "movie_id"]))
    return bool(result.rowcount)


def get_rating(session: Session, user_id: int, movie_id: int) -> Rating | None:
    return session.get(Rating, (user_id, movie_id))


def delete_rating(
    session: Session, user_id: int, movie_id: int, *, implicit_only: bool = False
) -> bool:
    """Delete a user's rating of a movie (only an implicit one if asked); True if one went.
    A deleted rating leaves a tombstone, so a re-load of the data set does not bring it back."""
    statement = delete(Rating).where(Rating.user_id == user_id, Rating.movie_id == movie_id)
    if implicit_only:
        statement = statement.where(Rating.is_implicit.is_(True))
    result = session.execute(statement.execution_options(synchronize_session=False))
    if not result.rowcount:
        return False
    tombstone = _insert(session, DeletedRating.__table__).values(user_id=user_id, movie_id=movie_id)
    session.execute(tombstone.on_conflict_do_nothing(index_elements=["user_id", "movie_id"]))
    return True


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
