"""Queries on dismissed movies (a user's "not interested")."""

from __future__ import annotations

from datetime import datetime

import numpy as np
from sqlalchemy import Connection, delete, select
from sqlalchemy.orm import Session

from movierec.db.models import DismissedMovie, Movie
from movierec.db.repositories import upsert_insert


def dismiss(session: Session, user_id: int, movie_id: int, dismissed_at: datetime) -> bool:
    """Record that the user dismissed the movie unless they already had (INSERT ... ON CONFLICT
    DO NOTHING, so the first time is kept); True if it was recorded now. A missing user or
    movie raises IntegrityError (foreign keys)."""
    insert = upsert_insert(session, DismissedMovie.__table__)
    result = session.execute(
        insert.values(user_id=user_id, movie_id=movie_id, dismissed_at=dismissed_at)
        .on_conflict_do_nothing(index_elements=["user_id", "movie_id"])
        # SQLAlchemy reports an INSERT's row count only when asked (else -1 on PostgreSQL).
        .execution_options(preserve_rowcount=True)
    )
    return bool(result.rowcount)


def get_dismissal(session: Session, user_id: int, movie_id: int) -> DismissedMovie | None:
    return session.get(DismissedMovie, (user_id, movie_id))


def undismiss(session: Session, user_id: int, movie_id: int) -> bool:
    """Forget that the user dismissed the movie; True if they had."""
    result = session.execute(
        delete(DismissedMovie)
        .where(DismissedMovie.user_id == user_id, DismissedMovie.movie_id == movie_id)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)


def dismissed_movies(
    session: Session, user_id: int, limit: int
) -> list[tuple[DismissedMovie, Movie]]:
    """The user's dismissed movies with their details, newest first (one query)."""
    query = (
        select(DismissedMovie, Movie)
        .join(Movie, Movie.movie_id == DismissedMovie.movie_id)
        .where(DismissedMovie.user_id == user_id)
        .order_by(DismissedMovie.dismissed_at.desc(), DismissedMovie.movie_id)
        .limit(limit)
    )
    return [(dismissal, movie) for dismissal, movie in session.execute(query)]


def dismissed_arrays(connection: Connection) -> tuple[np.ndarray, np.ndarray]:
    """Every dismissal as two parallel int64 arrays (user ids, movie ids): what the refresh
    leaves out of the lists beside the rated movies."""
    rows = connection.execute(select(DismissedMovie.user_id, DismissedMovie.movie_id)).all()
    pairs = np.array(rows, dtype=np.int64).reshape(-1, 2)
    return pairs[:, 0], pairs[:, 1]
