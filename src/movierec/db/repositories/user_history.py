"""What a user has rated, watched or dismissed, read together with whether the user exists."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sqlalchemy import bindparam, select, union_all
from sqlalchemy.orm import Session

from movierec.db.models import DismissedMovie, Rating, User

_USERS, _RATINGS = User.__table__, Rating.__table__
# Built once, run as SQLAlchemy Core on the session's connection: on the path of every
# recommendations request, where the ORM's statement building and result machinery cost
# several times the query itself (issue 12).
_RATED_MOVIE_IDS = (
    select(_USERS.c.user_id, _RATINGS.c.movie_id)
    .select_from(_USERS.outerjoin(_RATINGS, _RATINGS.c.user_id == _USERS.c.user_id))
    .where(_USERS.c.user_id == bindparam("user_id"))
)
_USER_HISTORY = (
    select(_USERS.c.user_id, _RATINGS.c.movie_id, _RATINGS.c.rating, _RATINGS.c.ts)
    .select_from(_USERS.outerjoin(_RATINGS, _RATINGS.c.user_id == _USERS.c.user_id))
    .where(_USERS.c.user_id == bindparam("user_id"))
)


def rated_movie_ids_of_user(session: Session, user_id: int) -> set[int] | None:
    """Every movie the user rated or watched as of now, or None when there is no such user.

    One query (users LEFT JOIN ratings): the existence check costs no extra round trip on the
    recommendation path."""
    rows = session.connection().execute(_RATED_MOVIE_IDS, {"user_id": user_id}).all()
    if not rows:
        return None
    return {movie_id for _, movie_id in rows if movie_id is not None}


@dataclass(frozen=True)
class UserHistory:
    """What a user rated or watched as of now: parallel arrays, and the time of the latest."""

    movie_ids: np.ndarray  # int64
    ratings: np.ndarray  # float64 stars (implicit ones included)
    latest: float | None  # epoch seconds of the newest rating; None when there is none

    def liked(self, threshold: float) -> np.ndarray:
        return self.movie_ids[self.ratings >= threshold]


def user_history(session: Session, user_id: int) -> UserHistory | None:
    """Every rating of the user (movie, stars, time), or None when there is no such user: one
    query (users LEFT JOIN ratings), as ``rated_movie_ids_of_user``, with the stars and times
    that fold-in and explanations need."""
    rows = session.connection().execute(_USER_HISTORY, {"user_id": user_id}).all()
    if not rows:
        return None
    rated = [row for row in rows if row.movie_id is not None]
    return UserHistory(
        movie_ids=np.array([row.movie_id for row in rated], dtype=np.int64),
        ratings=np.array([row.rating for row in rated], dtype=np.float64),
        latest=max((row.ts.timestamp() for row in rated), default=None),
    )


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
