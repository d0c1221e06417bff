"""What a user has rated, watched and dismissed, read together with whether the user exists."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import Connection, Text, bindparam, cast, func, literal, select
from sqlalchemy.exc import CompileError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.functions import FunctionElement

from movierec.db.models import DismissedMovie, Rating, User


class _EpochMicroseconds(FunctionElement[str]):
    """A UTCDateTime column's time as the text of its whole microseconds since 1970-01-01 UTC
    ("964982703000000"). Integers, so that both databases write them exactly (SQLite writes a
    REAL with 15 significant digits, which would round today's times to ten microseconds) and
    NumPy reads them into a float64 exactly (they stay below 2**53 until the year 2255)."""

    type = Text()
    inherit_cache = True


@compiles(_EpochMicroseconds)
def _epoch_microseconds(element: _EpochMicroseconds, compiler: Any, **kw: Any) -> str:
    raise CompileError(f"no epoch microseconds written for {compiler.dialect.name}")


@compiles(_EpochMicroseconds, "postgresql")
def _epoch_microseconds_postgresql(element: _EpochMicroseconds, compiler: Any, **kw: Any) -> str:
    # A timestamptz is an instant: its epoch does not depend on the session's TimeZone. EXTRACT
    # answers an exact numeric, so the product is exact too.
    ts = compiler.process(element.clauses, **kw)
    return f"CAST(CAST(EXTRACT(EPOCH FROM {ts}) * 1000000 AS BIGINT) AS TEXT)"


@compiles(_EpochMicroseconds, "sqlite")
def _epoch_microseconds_sqlite(element: _EpochMicroseconds, compiler: Any, **kw: Any) -> str:
    # UTCDateTime keeps naive UTC text, "2000-07-30 18:45:03.123456": strftime('%s') reads the
    # first 19 characters as UTC and answers those whole seconds (before 1970 too), characters
    # 21 to 26 are the microseconds ('' in text without them, which adds 0). Not strftime of
    # the whole text: SQLite rounds times to milliseconds first, so "...:03.9996" would count
    # as :04. Parenthesised: in SQLite || binds tighter than * and +, and this is concatenated.
    ts = compiler.process(element.clauses, **kw)
    return f"(strftime('%s', substr({ts}, 1, 19)) * 1000000 + substr({ts}, 21, 6))"


_USERS, _RATINGS, _DISMISSED = User.__table__, Rating.__table__, DismissedMovie.__table__
_USER_ID = bindparam("user_id")
# One row per user: the ratings as one string of "movie:stars:microseconds" triples
# ("10:4.5:964982703000000,31:3:964982711250000"), the time of the newest, and the dismissed
# movies as one string of ids; no row for an unknown user. Strings rather than a row per
# rating: a user has hundreds of ratings, and a result row each (with its timestamp made UTC in
# Python) was about a quarter of the CPU of a recommendations request. The triples come in no
# particular order: SQLite before 3.44 has no ORDER BY inside an aggregate, so NumPy sorts
# them. Built once, run as SQLAlchemy Core.
_USER_HISTORY = (
    select(
        _USERS.c.user_id,
        func.aggregate_strings(
            cast(_RATINGS.c.movie_id, Text)
            + literal(":")
            + cast(_RATINGS.c.rating, Text)
            + literal(":")
            + _EpochMicroseconds(_RATINGS.c.ts),
            ",",
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
    """What a user rated, watched and dismissed as of now: the ratings as parallel arrays in
    the order they were made (oldest first, those of the same time by movie id), the time of
    the latest, and the dismissed movie ids."""

    movie_ids: np.ndarray  # int64
    ratings: np.ndarray  # float64 stars (implicit ones included)
    times: np.ndarray  # float64 epoch seconds (UTC) of each rating, ascending
    latest: float | None  # epoch seconds of the newest rating; None when there is none
    dismissed: frozenset[int]  # "not interested": never to be recommended to the user

    def liked(self, threshold: float) -> np.ndarray:
        return self.movie_ids[self.ratings >= threshold]


def user_history(connection: Connection | Session, user_id: int) -> UserHistory | None:
    """Every rating of the user (movie, stars, time) in the order they were made, with the time
    of the newest, and the movies the user dismissed; None when there is no such user. One
    query (users LEFT JOIN ratings: the existence check and the dismissed movies cost no extra
    round trip on the recommendation path), with what fold-in, explanations, the exclusions and
    the rankers that weigh ratings by their time need."""
    row = connection.execute(_USER_HISTORY, {"user_id": user_id}).first()
    if row is None:
        return None
    # "10:4.5:964982703000000,31:3:..." -> [10, 4.5, 964982703000000, 31, 3, ...]: parsed by
    # NumPy, not a Python object per rating. Ids below 2**31, half stars and microseconds below
    # 2**53 are all exact in a float64.
    values = np.array(row.rated.replace(":", ",").split(",") if row.rated else [], np.float64)
    movie_ids, ratings, microseconds = values.reshape(-1, 3).T
    order = np.lexsort((movie_ids, microseconds))  # by time, then by movie
    dismissed = row.dismissed.split(",") if row.dismissed else ()
    return UserHistory(
        movie_ids=movie_ids[order].astype(np.int64),
        ratings=ratings[order],
        # Divided, not multiplied by 1e-6: the same float as datetime.timestamp() of the value.
        times=microseconds[order] / 1e6,
        latest=None if row.latest is None else row.latest.timestamp(),
        dismissed=frozenset(int(movie_id) for movie_id in dismissed),
    )
