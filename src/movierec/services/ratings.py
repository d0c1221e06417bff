"""Explicit ratings, implicit ones (watched), and a user's rating lists.

Every write is a single statement that decides atomically (an upsert, an insert-if-absent, a
conditional delete), issued before any read in its transaction: concurrent clients neither lose a
write nor create a duplicate row, and SQLite never has to upgrade a read lock to a write lock.
A missing user or movie is detected by the foreign keys and only then diagnosed, to say which.

A write takes effect at once for the user: it marks the user changed (``services.changes``:
in its transaction, and in Redis once committed), so their next recommendations are computed
from their current ratings (``user_history``), not only at the next refresh.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from movierec.cache import CacheStore
from movierec.db import Database
from movierec.db.models import Movie
from movierec.db.repositories import movies as movies_repo
from movierec.db.repositories import ratings as ratings_repo
from movierec.db.repositories import users as users_repo
from movierec.services.changes import announce_change, change_time
from movierec.services.errors import Conflict, InvalidInput, NotFound
from movierec.services.impressions import RATED, WATCHED, ImpressionSink
from movierec.services.movies import current_movie_statistics

MIN_RATING = 0.0
MAX_RATING = 5.0


@dataclass(frozen=True)
class RatingRecord:
    user_id: int
    movie_id: int
    rating: float
    is_implicit: bool
    ts: datetime


@dataclass(frozen=True)
class RatedMovie:
    movie: Movie
    rating: float
    is_implicit: bool
    ts: datetime


def round_half_star(value: float) -> float:
    """The nearest half star, ties up: 3.8 -> 4.0, 3.74 -> 3.5, 3.75 -> 4.0.

    Works on the shortest decimal form of the float (what the client wrote), so binary
    representation error cannot move a tie. Values outside 0-5 are refused, never clamped.
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInput("rating: must be a number")
    if not math.isfinite(value) or not MIN_RATING <= value <= MAX_RATING:
        raise InvalidInput(f"rating: must be between {MIN_RATING} and {MAX_RATING}, got {value}")
    halves = (Decimal(repr(float(value))) * 2).to_integral_value(rounding=ROUND_HALF_UP)
    return float(halves / 2) + 0.0  # + 0.0 turns -0.0 into 0.0: no star has a sign


def _diagnose_missing(session: Session, user_id: int, movie_id: int) -> None:
    """Raise NotFound naming the missing user or movie (checked in that order)."""
    if not users_repo.user_exists(session, user_id):
        raise NotFound(f"user {user_id} not found")
    if movies_repo.get_movie(session, movie_id) is None:
        raise NotFound(f"movie {movie_id} not found")


def _write_or_not_found(db: Database, user_id: int, movie_id: int, write) -> object:  # type: ignore[no-untyped-def]
    """Run ``write(session)`` in a transaction; a foreign-key failure becomes NotFound."""
    try:
        with db.session() as session:
            return write(session)
    except IntegrityError:
        with db.session() as session:
            _diagnose_missing(session, user_id, movie_id)
        raise  # both exist: some other constraint failed, which is a bug


def rate(
    db: Database,
    cache: CacheStore,
    user_id: int,
    movie_id: int,
    rating: float,
    outcomes: ImpressionSink | None = None,
) -> RatingRecord:
    """Store (or replace) the user's explicit rating of the movie, rounded to the half star.
    ``outcomes``: where the rating is noted as an outcome of the lists (in its transaction)."""
    record = RatingRecord(user_id, movie_id, round_half_star(rating), False, change_time())

    def write(session: Session) -> None:
        ratings_repo.upsert_rating(session, user_id, movie_id, record.rating, False, record.ts)
        users_repo.mark_changed(session, user_id, record.ts)
        if outcomes is not None:
            outcomes.outcome(session, user_id, movie_id, RATED, record.ts, record.rating)

    _write_or_not_found(db, user_id, movie_id, write)
    announce_change(cache, user_id)
    return record


def _remove_or_not_found(  # type: ignore[no-untyped-def]
    db: Database, cache: CacheStore, user_id: int, movie_id: int, remove, absent: str
) -> None:
    """Run ``remove(session)`` (a conditional delete: True if it removed something) in a
    transaction that records the change, and announce it once committed. Nothing removed:
    NotFound naming the missing user or movie, else ``absent``."""
    with db.session() as session:
        removed = remove(session)
        if removed:
            users_repo.mark_changed(session, user_id, change_time())
        else:
            _diagnose_missing(session, user_id, movie_id)
    if not removed:
        raise NotFound(absent)
    announce_change(cache, user_id)


def delete_rating(db: Database, cache: CacheStore, user_id: int, movie_id: int) -> None:
    """Remove the user's rating of the movie, explicit or implicit."""
    _remove_or_not_found(
        db,
        cache,
        user_id,
        movie_id,
        lambda session: ratings_repo.delete_rating(session, user_id, movie_id),
        f"user {user_id} has not rated movie {movie_id}",
    )


def movie_average(db: Database, cache: CacheStore, movie_id: int, min_votes: int) -> float | None:
    """The movie's average rating: the published one, else the database's of now under the
    same rule (``services.movies.current_movie_statistics``)."""
    return current_movie_statistics(db, cache, movie_id, min_votes).avg_rating


def implicit_rating(
    db: Database, cache: CacheStore, movie_id: int, default_rating: float, min_votes: int
) -> float:
    """What watching a movie counts as: its average (``movie_average``), else the default for
    a movie that truly has none, rounded to the half star. It is stored for good and trains the
    model, so it is never made up because Redis is empty or down."""
    average = movie_average(db, cache, movie_id, min_votes)
    return round_half_star(default_rating if average is None else average)


def watch(
    db: Database,
    cache: CacheStore,
    user_id: int,
    movie_id: int,
    default_rating: float,
    min_votes: int,
    outcomes: ImpressionSink | None = None,
) -> bool:
    """Mark the movie watched: an implicit rating, unless the user already rated it (an
    explicit rating, or an earlier watch, is kept as it is). Returns True (watched)."""
    value = implicit_rating(db, cache, movie_id, default_rating, min_votes)

    def write(session: Session) -> bool:
        at = change_time()
        inserted = ratings_repo.insert_rating_if_absent(session, user_id, movie_id, value, True, at)
        if inserted:
            users_repo.mark_changed(session, user_id, at)
            if outcomes is not None:
                outcomes.outcome(session, user_id, movie_id, WATCHED, at)
        return inserted

    if _write_or_not_found(db, user_id, movie_id, write):
        announce_change(cache, user_id)
    return True


def unwatch(db: Database, cache: CacheStore, user_id: int, movie_id: int) -> bool:
    """Remove the user's implicit rating of the movie. Returns False (not watched any more).

    Un-watching a movie that was not watched succeeds too (the state asked for holds). An
    explicit rating is not removed here: that is a Conflict, the client must delete the rating.
    """
    with db.session() as session:
        changed = ratings_repo.delete_rating(session, user_id, movie_id, implicit_only=True)
        if changed:
            users_repo.mark_changed(session, user_id, change_time())
        elif ratings_repo.get_rating(session, user_id, movie_id) is not None:
            raise Conflict(
                f"user {user_id} rated movie {movie_id} explicitly; delete the rating instead"
            )
        else:
            _diagnose_missing(session, user_id, movie_id)
    if changed:
        announce_change(cache, user_id)
    return False


def _rated_movies(rows: list[tuple[object, Movie]]) -> list[RatedMovie]:
    return [
        RatedMovie(movie=movie, rating=r.rating, is_implicit=r.is_implicit, ts=r.ts)  # type: ignore[attr-defined]
        for r, movie in rows
    ]


def top_ratings(db: Database, user_id: int, limit: int) -> list[RatedMovie]:
    """The user's highest ratings, newest first among equal ones."""
    with db.session() as session:
        if not users_repo.user_exists(session, user_id):
            raise NotFound(f"user {user_id} not found")
        return _rated_movies(ratings_repo.top_ratings(session, user_id, limit))


def latest_ratings(db: Database, user_id: int, limit: int) -> list[RatedMovie]:
    """The user's newest ratings, highest first among equally new ones."""
    with db.session() as session:
        if not users_repo.user_exists(session, user_id):
            raise NotFound(f"user {user_id} not found")
        return _rated_movies(ratings_repo.latest_ratings(session, user_id, limit))
