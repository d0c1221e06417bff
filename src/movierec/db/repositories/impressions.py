"""Queries on impressions, their outcomes and the drain's position in the Redis stream.

The drain writes in bulk (one multi-row INSERT per batch, ``ON CONFLICT (stream_id) DO
NOTHING``: a batch written again after a crash adds nothing); the reports read aggregates, one
row per (experiment, arm, ranker, source, day, user), never a row per impression.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import (
    Connection,
    Table,
    and_,
    bindparam,
    case,
    delete,
    distinct,
    func,
    literal_column,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.orm import Session

from movierec.db.models import (
    Impression,
    ImpressionDrain,
    ImpressionOutcome,
    Movie,
    User,
)
from movierec.db.repositories import read_frame, upsert_insert

# Outcome classes of the reports (an outcome row's kind and stars).
LIKED, DISLIKED, DISMISSED, CLICKED = "liked", "disliked", "dismissed", "clicked"
OUTCOME_CLASSES = (LIKED, DISLIKED, DISMISSED, CLICKED)
LIKED_RATING = 4.0


# -- the drain's cursor --------------------------------------------------------------------


def read_cursor(session: Session, stream: str) -> str | None:
    """The last stream id drained from ``stream``, locked for this transaction on PostgreSQL
    (a second drainer waits, then reads where this one ended)."""
    row = session.execute(
        select(ImpressionDrain.last_id).where(ImpressionDrain.stream == stream).with_for_update()
    ).first()
    return None if row is None else row[0]


def save_cursor(session: Session, stream: str, last_id: str, at: datetime) -> None:
    insert = upsert_insert(session, ImpressionDrain.__table__)
    session.execute(
        insert.values(stream=stream, last_id=last_id, drained_at=at).on_conflict_do_update(
            index_elements=["stream"], set_={"last_id": last_id, "drained_at": at}
        )
    )


# -- writing -------------------------------------------------------------------------------


def existing_ids(
    session: Session | Connection, users: Iterable[int], movies: Iterable[int]
) -> tuple[set, set]:
    """Which of these user ids and movie ids exist (the others were deleted meanwhile)."""
    users, movies = sorted(set(users)), sorted(set(movies))
    found_users = (
        set(session.scalars(select(User.user_id).where(User.user_id.in_(users))))
        if users
        else set()
    )
    found_movies = (
        set(session.scalars(select(Movie.movie_id).where(Movie.movie_id.in_(movies))))
        if movies
        else set()
    )
    return found_users, found_movies


def latest_shown(
    session: Session, fingerprints: Iterable[int], since: datetime, until: datetime
) -> dict[int, list[datetime]]:
    """The stored impressions of these fingerprints shown in [since, until]: their times."""
    wanted = sorted(set(fingerprints))
    found: dict[int, list[datetime]] = {}
    for first in range(0, len(wanted), 1000):
        rows = session.execute(
            select(Impression.fingerprint, Impression.shown_at).where(
                Impression.fingerprint.in_(wanted[first : first + 1000]),
                Impression.shown_at >= since,
                Impression.shown_at <= until,
            )
        )
        for value, shown_at in rows:
            found.setdefault(value, []).append(shown_at)
    return found


def insert_impressions(session: Session, rows: Sequence[dict]) -> int:
    """Insert impression rows (``Impression``'s columns); those whose stream entry is stored
    already are left alone. How many were inserted."""
    return _insert_new(session, Impression.__table__, rows)


def insert_outcomes(session: Session, rows: Sequence[dict]) -> int:
    """Insert outcome rows with their stream ids (clicks); as ``insert_impressions``."""
    return _insert_new(session, ImpressionOutcome.__table__, rows)


# Rows per INSERT: a statement's parameters stay far below PostgreSQL's 65,535 and SQLite's
# 32,766 (14 columns a row).
_ROWS_PER_INSERT = 500


def _insert_new(session: Session, table: Table, rows: Sequence[dict]) -> int:
    inserted = 0
    insert = upsert_insert(session, table)
    for first in range(0, len(rows), _ROWS_PER_INSERT):
        result = session.execute(
            insert.values(list(rows[first : first + _ROWS_PER_INSERT]))
            .on_conflict_do_nothing(index_elements=["stream_id"])
            .execution_options(preserve_rowcount=True)
        )
        inserted += int(result.rowcount)
    return inserted


def add_outcome(
    session: Session,
    user_id: int,
    movie_id: int,
    kind: str,
    at: datetime,
    rating: float | None = None,
) -> None:
    """An outcome written with its write (a rating, watch or dismissal), waiting for the
    drain to attribute it."""
    session.execute(
        ImpressionOutcome.__table__.insert().values(
            user_id=user_id, movie_id=movie_id, kind=kind, rating=rating, at=at
        )
    )


# -- attribution ---------------------------------------------------------------------------


def pending_outcomes(session: Session, before: datetime, limit: int) -> list[tuple]:
    """Outcomes not attributed yet that happened before ``before``, oldest first:
    (outcome_id, user_id, movie_id, kind, rating, at, fingerprint)."""
    query = (
        select(
            ImpressionOutcome.outcome_id,
            ImpressionOutcome.user_id,
            ImpressionOutcome.movie_id,
            ImpressionOutcome.kind,
            ImpressionOutcome.rating,
            ImpressionOutcome.at,
            ImpressionOutcome.fingerprint,
        )
        .where(ImpressionOutcome.attributed_at.is_(None), ImpressionOutcome.at < before)
        .order_by(ImpressionOutcome.at, ImpressionOutcome.outcome_id)
        .limit(limit)
    )
    return [tuple(row) for row in session.execute(query)]


def impressions_of_users(
    session: Session, user_ids: Iterable[int], since: datetime, until: datetime
) -> list[tuple]:
    """The users' impressions shown in [since, until], oldest first: (impression_id, user_id,
    shown_at, fingerprint, movie_ids, ranker, arm)."""
    wanted = sorted(set(user_ids))
    rows: list[tuple] = []
    for first in range(0, len(wanted), 1000):
        query = select(
            Impression.impression_id,
            Impression.user_id,
            Impression.shown_at,
            Impression.fingerprint,
            Impression.movie_ids,
            Impression.ranker,
            Impression.arm,
        ).where(
            Impression.user_id.in_(wanted[first : first + 1000]),
            Impression.shown_at >= since,
            Impression.shown_at <= until,
        )
        rows.extend(tuple(row) for row in session.execute(query))
    rows.sort(key=lambda row: (row[2], row[0]))
    return rows


def attribute(
    session: Session, attributions: Sequence[tuple[int, int | None]], at: datetime
) -> None:
    """Record each outcome's impression (None: no impression showed it within the window)."""
    if not attributions:
        return
    table = ImpressionOutcome.__table__
    session.execute(
        update(table)
        .where(table.c.outcome_id == bindparam("b_outcome"))
        .values(impression_id=bindparam("b_impression"), attributed_at=at),
        [{"b_outcome": outcome, "b_impression": shown} for outcome, shown in attributions],
        execution_options={"synchronize_session": False},
    )


# -- retention -----------------------------------------------------------------------------


def prune(session: Session, before: datetime, limit: int) -> tuple[int, int]:
    """Delete up to ``limit`` impressions shown before ``before`` (their outcomes with them)
    and up to ``limit`` outcomes from before then; how many of each."""
    impressions = _delete_oldest(
        session, Impression.impression_id, Impression.shown_at, before, limit
    )
    outcomes = _delete_oldest(
        session, ImpressionOutcome.outcome_id, ImpressionOutcome.at, before, limit
    )
    return impressions, outcomes


def _delete_oldest(session: Session, key: Any, time: Any, before: datetime, limit: int) -> int:
    """Delete the ``limit`` rows of ``key``'s table with the lowest keys among those whose
    ``time`` is before ``before`` (bounded batches: retention never holds a long lock)."""
    oldest = select(key).where(time < before).order_by(key).limit(limit).scalar_subquery()
    deleted = session.execute(
        delete(key.class_).where(key.in_(oldest)).execution_options(synchronize_session=False)
    ).rowcount
    return int(deleted)


# -- reports -------------------------------------------------------------------------------

_GROUP = (Impression.experiment, Impression.arm, Impression.ranker, Impression.source)


def impression_counts(connection: Connection, since_day: int, until_day: int) -> pd.DataFrame:
    """Per (experiment, arm, ranker, source, day, user): impressions and slots shown."""
    query = (
        select(
            *_GROUP,
            Impression.day,
            Impression.user_id,
            func.count().label("impressions"),
            func.sum(Impression.slots).label("slots"),
        )
        .where(Impression.day >= since_day, Impression.day <= until_day)
        .group_by(*_GROUP, Impression.day, Impression.user_id)
    )
    return read_frame(query, connection)


def outcome_counts(connection: Connection, since_day: int, until_day: int) -> pd.DataFrame:
    """Per (experiment, arm, ranker, source, day, user, outcome class): the distinct
    (impression, movie) pairs with that outcome, by the day of the impression."""
    kind = ImpressionOutcome.kind
    outcome_class = case(
        (
            or_(
                kind == "watched",
                and_(kind == "rated", ImpressionOutcome.rating >= LIKED_RATING),
            ),
            literal_column(f"'{LIKED}'"),
        ),
        (kind == "rated", literal_column(f"'{DISLIKED}'")),
        (kind == "dismissed", literal_column(f"'{DISMISSED}'")),
        else_=literal_column(f"'{CLICKED}'"),
    ).label("outcome")
    pairs = (
        select(ImpressionOutcome.impression_id, ImpressionOutcome.movie_id, outcome_class)
        .where(ImpressionOutcome.impression_id.is_not(None))
        .distinct()
        .subquery()
    )
    query = (
        select(
            *_GROUP,
            Impression.day,
            Impression.user_id,
            pairs.c.outcome,
            func.count().label("count"),
        )
        .join(Impression, Impression.impression_id == pairs.c.impression_id)
        .where(Impression.day >= since_day, Impression.day <= until_day)
        .group_by(*_GROUP, Impression.day, Impression.user_id, pairs.c.outcome)
    )
    return read_frame(query, connection)


def distinct_movies_shown(
    connection: Connection, since_day: int, until_day: int, *, by_day: bool
) -> pd.DataFrame:
    """Per (experiment, arm[, day]): how many distinct movies the impressions showed."""
    keys = "experiment, arm" + (", day" if by_day else "")
    if connection.dialect.name == "postgresql":
        movies = "impressions CROSS JOIN LATERAL unnest(movie_ids) AS shown(movie_id)"
        movie = "shown.movie_id"
    else:
        movies = "impressions, json_each(impressions.movie_ids) AS shown"
        movie = "shown.value"
    query = text(
        f"SELECT {keys}, COUNT(DISTINCT {movie}) AS movies FROM {movies} "
        f"WHERE day >= :since AND day <= :until GROUP BY {keys}"
    )
    return read_frame(query, connection, params={"since": since_day, "until": until_day})


def catalogue_size(connection: Connection) -> int:
    return int(connection.execute(select(func.count()).select_from(Movie)).scalar_one())


def counts(connection: Connection) -> dict[str, int]:
    """Rows stored: impressions, outcomes, outcomes waiting for attribution."""
    return {
        "impressions": connection.execute(
            select(func.count()).select_from(Impression)
        ).scalar_one(),
        "outcomes": connection.execute(
            select(func.count()).select_from(ImpressionOutcome)
        ).scalar_one(),
        "pending": connection.execute(
            select(func.count())
            .select_from(ImpressionOutcome)
            .where(ImpressionOutcome.attributed_at.is_(None))
        ).scalar_one(),
        "distinct": connection.execute(
            select(func.count(distinct(Impression.fingerprint)))
        ).scalar_one(),
    }
