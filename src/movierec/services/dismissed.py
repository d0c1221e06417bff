"""Dismissed movies ("not interested"): a user says a movie is not for them, and it is never
recommended to them again, whether the list comes from the model or from the top movies: the
refresh leaves them out of the lists, and a dismissal since marks the user changed
(``services.changes``), so their next answer reads them (``user_history``). A dismissal is
not a rating: it trains nothing and is not in the user's rating lists; un-dismissing brings
the movie back.

The writes are single statements that decide atomically (an insert-if-absent, a conditional
delete), as the ratings' are (see ``services/ratings``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from movierec.cache import CacheStore
from movierec.db import Database
from movierec.db.models import Movie
from movierec.db.repositories import dismissed as dismissed_repo
from movierec.db.repositories import users as users_repo
from movierec.services.changes import announce_change, change_time
from movierec.services.errors import NotFound
from movierec.services.impressions import DISMISSED, ImpressionSink

# The same (user, movie) foreign keys as a rating's: the same diagnosis of a missing one.
from movierec.services.ratings import _remove_or_not_found, _write_or_not_found


@dataclass(frozen=True)
class Dismissal:
    user_id: int
    movie_id: int
    dismissed_at: datetime
    created: bool  # False: the user had dismissed the movie already (then, at dismissed_at)


@dataclass(frozen=True)
class DismissedEntry:
    """A movie in the user's list of dismissed movies."""

    movie: Movie
    dismissed_at: datetime


def dismiss(
    db: Database,
    cache: CacheStore,
    user_id: int,
    movie_id: int,
    outcomes: ImpressionSink | None = None,
) -> Dismissal:
    """Dismiss the movie for the user. Idempotent: dismissing it again changes nothing and
    answers the first dismissal (``created`` False). ``outcomes``: where a new dismissal is
    noted as an outcome of the lists."""

    def write(session: Session) -> Dismissal:
        at = change_time()
        created = dismissed_repo.dismiss(session, user_id, movie_id, at)
        if created:
            users_repo.mark_changed(session, user_id, at)
            if outcomes is not None:
                outcomes.outcome(session, user_id, movie_id, DISMISSED, at)
        row = dismissed_repo.get_dismissal(session, user_id, movie_id)
        assert row is not None  # inserted now or before, in this transaction's view
        return Dismissal(user_id, movie_id, row.dismissed_at, created)

    dismissal: Dismissal = _write_or_not_found(db, user_id, movie_id, write)
    if dismissal.created:
        announce_change(cache, user_id)
    return dismissal


def undismiss(db: Database, cache: CacheStore, user_id: int, movie_id: int) -> None:
    """Un-dismiss the movie: it may be recommended again. ``NotFound`` when the user had not
    dismissed it (the message says whether the user, the movie or the dismissal is missing)."""
    _remove_or_not_found(
        db,
        cache,
        user_id,
        movie_id,
        lambda session: dismissed_repo.undismiss(session, user_id, movie_id),
        f"user {user_id} has not dismissed movie {movie_id}",
    )


def dismissed_movies(db: Database, user_id: int, limit: int) -> list[DismissedEntry]:
    """The movies the user dismissed, most recently dismissed first."""
    with db.session() as session:
        if not users_repo.user_exists(session, user_id):
            raise NotFound(f"user {user_id} not found")
        rows = dismissed_repo.dismissed_movies(session, user_id, limit)
    return [DismissedEntry(movie, dismissal.dismissed_at) for dismissal, movie in rows]
