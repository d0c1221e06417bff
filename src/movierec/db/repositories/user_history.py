"""What a user has rated or watched, read together with whether the user exists."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from movierec.db.models import Rating, User

_USERS, _RATINGS = User.__table__, Rating.__table__
# Built once, run as SQLAlchemy Core on the session's connection: on the path of every
# recommendations request, where the ORM's statement building and result machinery cost
# several times the query itself (issue 12).
_USER_HISTORY = (
    select(_USERS.c.user_id, _RATINGS.c.movie_id, _RATINGS.c.rating, _RATINGS.c.ts)
    .select_from(_USERS.outerjoin(_RATINGS, _RATINGS.c.user_id == _USERS.c.user_id))
    .where(_USERS.c.user_id == bindparam("user_id"))
)


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
    query (users LEFT JOIN ratings: the existence check costs no extra round trip on the
    recommendation path), with the stars and times that fold-in and explanations need."""
    rows = session.connection().execute(_USER_HISTORY, {"user_id": user_id}).all()
    if not rows:
        return None
    rated = [row for row in rows if row.movie_id is not None]
    return UserHistory(
        movie_ids=np.array([row.movie_id for row in rated], dtype=np.int64),
        ratings=np.array([row.rating for row in rated], dtype=np.float64),
        latest=max((row.ts.timestamp() for row in rated), default=None),
    )
