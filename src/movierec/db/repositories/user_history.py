"""What a user has rated, watched and dismissed, read together with whether the user exists."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sqlalchemy import Connection, Text, bindparam, cast, func, literal, select
from sqlalchemy.orm import Session

from movierec.db.models import DismissedMovie, Rating, User

_USERS, _RATINGS, _DISMISSED = User.__table__, Rating.__table__, DismissedMovie.__table__
_USER_ID = bindparam("user_id")
# One row per user: the ratings as one string of "movie:stars" pairs ("10:4.5,31:3"), the time
# of the newest, and the dismissed movies as one string of ids; no row for an unknown user.
# Strings rather than a row per rating: a user has hundreds of ratings, and a result row each
# (with its timestamp made UTC in Python) was about a quarter of the CPU of a recommendations
# request. Built once, run as SQLAlchemy Core.
_USER_HISTORY = (
    select(
        _USERS.c.user_id,
        func.aggregate_strings(
            cast(_RATINGS.c.movie_id, Text) + literal(":") + cast(_RATINGS.c.rating, Text), ","
        ).label("rated"),
        func.max(_RATINGS.c.ts).label("latest"),
        select(func.aggregate_strings(cast(_DISMISSED.c.movie_id, Text), ","))
        .where(_DISMISSED.c.user_id == _USER_ID)
        .scalar_subquery()
        .label("dismissed"),
    )
    .select_from(_USERS.outerjoin(_RATINGS, _RATINGS.c.user_id == _USERS.c.user_id))
    .where(_USERS.c.user_id == _USER_ID)
    .group_by(_USERS.c.user_id)
)


@dataclass(frozen=True)
class UserHistory:
    """What a user rated, watched and dismissed as of now: the ratings as parallel arrays, the
    time of the latest, and the dismissed movie ids."""

    movie_ids: np.ndarray  # int64
    ratings: np.ndarray  # float64 stars (implicit ones included)
    latest: float | None  # epoch seconds of the newest rating; None when there is none
    dismissed: frozenset[int]  # "not interested": never to be recommended to the user

    def liked(self, threshold: float) -> np.ndarray:
        return self.movie_ids[self.ratings >= threshold]


def user_history(connection: Connection | Session, user_id: int) -> UserHistory | None:
    """Every rating of the user (movie, stars) with the time of the newest, and the movies the
    user dismissed; None when there is no such user. One query (users LEFT JOIN ratings: the
    existence check and the dismissed movies cost no extra round trip on the recommendation
    path), with what fold-in, explanations and the exclusions need."""
    row = connection.execute(_USER_HISTORY, {"user_id": user_id}).first()
    if row is None:
        return None
    # "10:4.5,31:3" -> [10, 4.5, 31, 3]: parsed by NumPy, not a Python object per rating.
    pairs = np.array(row.rated.replace(":", ",").split(",") if row.rated else [], np.float64)
    dismissed = row.dismissed.split(",") if row.dismissed else ()
    return UserHistory(
        movie_ids=pairs[0::2].astype(np.int64),  # ids below 2**31: exact in a float64
        ratings=pairs[1::2],  # half stars, written exactly by both databases
        latest=None if row.latest is None else row.latest.timestamp(),
        dismissed=frozenset(int(movie_id) for movie_id in dismissed),
    )
