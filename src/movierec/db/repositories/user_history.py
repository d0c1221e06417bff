"""What a user has rated, watched or dismissed, read together with whether the user exists."""

from __future__ import annotations

from sqlalchemy import select, union_all
from sqlalchemy.orm import Session

from movierec.db.models import DismissedMovie, Rating, User


def rated_movie_ids_of_user(session: Session, user_id: int) -> set[int] | None:
    """Every movie the user rated or watched as of now, or None when there is no such user.

    One query (users LEFT JOIN ratings): the existence check costs no extra round trip on the
    recommendation path."""
    rows = session.execute(
        select(User.user_id, Rating.movie_id)
        .outerjoin(Rating, Rating.user_id == User.user_id)
        .where(User.user_id == user_id)
    ).all()
    if not rows:
        return None
    return {movie_id for _, movie_id in rows if movie_id is not None}


def excluded_movie_ids_of_user(session: Session, user_id: int) -> set[int] | None:
    """Every movie never to recommend to the user as of now: rated, watched or dismissed; None
    when there is no such user.

    One query (users LEFT JOIN (ratings UNION ALL dismissed_movies)), as above."""
    history = union_all(
        select(Rating.user_id, Rating.movie_id).where(Rating.user_id == user_id),
        select(DismissedMovie.user_id, DismissedMovie.movie_id).where(
            DismissedMovie.user_id == user_id
        ),
    ).subquery()
    rows = session.execute(
        select(User.user_id, history.c.movie_id)
        .outerjoin(history, history.c.user_id == User.user_id)
        .where(User.user_id == user_id)
    ).all()
    if not rows:
        return None
    return {movie_id for _, movie_id in rows if movie_id is not None}
