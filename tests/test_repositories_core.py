"""The serving path's SQLAlchemy Core queries (cheaper in Python than the ORM's) answer exactly
what the ORM queries they replaced answered, on both back ends."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from movierec.db import Database
from movierec.db.models import DismissedMovie, Movie, Rating, User
from movierec.db.repositories import movies as movies_repo
from movierec.db.repositories import ratings as ratings_repo
from movierec.db.repositories.user_history import user_history

MOVIE_FIELDS = ["movie_id", "title", "year", "genres", "description", "imdb_id", "tmdb_id"]


def _orm_history(session: Session, user_id: int) -> dict[int, tuple[float, float]] | None:
    rows = session.execute(
        select(User.user_id, Rating.movie_id, Rating.rating, Rating.ts)
        .outerjoin(Rating, Rating.user_id == User.user_id)
        .where(User.user_id == user_id)
    ).all()
    if not rows:
        return None
    return {m: (r, ts.timestamp()) for _, m, r, ts in rows if m is not None}


def _fields(movie: object) -> dict[str, object]:
    return {name: getattr(movie, name) for name in MOVIE_FIELDS}


def _orm_dismissed(session: Session, user_id: int) -> set[int]:
    query = select(DismissedMovie.movie_id).where(DismissedMovie.user_id == user_id)
    return set(session.scalars(query))


def test_user_history_equals_the_orm_query(loaded_db: Database) -> None:
    with loaded_db.session() as session:
        unrated = User(gender="F")  # a user without ratings: an empty history, not None
        session.add(unrated)
        session.flush()
        user_ids = sorted(session.scalars(select(User.user_id))) + [999_999]
        # Dismissals: one user with several, the user without ratings with one.
        now = datetime(2024, 5, 6, tzinfo=UTC)
        for user_id, movie_id in [(user_ids[0], 10), (user_ids[0], 1200), (unrated.user_id, 30)]:
            session.add(DismissedMovie(user_id=user_id, movie_id=movie_id, dismissed_at=now))
        session.flush()
        checked = []
        for user_id in user_ids:
            expected = _orm_history(session, user_id)
            history = user_history(session, user_id)
            if expected is None:
                assert history is None
            else:
                assert history is not None
                # Oldest first, those of the same time by movie id.
                order = sorted(expected, key=lambda m: (expected[m][1], m))
                assert history.movie_ids.tolist() == order
                assert history.ratings.tolist() == [expected[m][0] for m in order]
                assert history.times.tolist() == [expected[m][1] for m in order]
                assert history.latest == max((t for _, t in expected.values()), default=None)
                assert history.dismissed == _orm_dismissed(session, user_id)
                assert history.movie_ids.dtype == np.int64
            checked.append(expected)
        assert user_history(session, user_ids[0]).dismissed == {10, 1200}
    assert None in checked and {} in checked and any(len(s or ()) > 5 for s in checked)


def test_movie_lookups_equal_the_orm_ones(loaded_db: Database) -> None:
    with loaded_db.session() as session:
        session.add(Movie(movie_id=5, title="Ünïcode", year=None, description="d", tmdb_id=7))
        session.flush()
        every = {m.movie_id: _fields(m) for m in session.scalars(select(Movie))}
        ids = [*every, 35, 999_999, 10, 10]
        found = movies_repo.movies_by_ids(session, ids)
        assert {m: _fields(movie) for m, movie in found.items()} == every
        assert all(m == movie.movie_id for m, movie in found.items())
        assert movies_repo.movies_by_ids(session, []) == {}
        assert movies_repo.movies_by_ids(session, (m for m in (10, 20))).keys() == {10, 20}
        for movie_id in (5, 10, 1200):
            assert _fields(movies_repo.get_movie(session, movie_id)) == every[movie_id]
        assert movies_repo.get_movie(session, 35) is None


def test_prepared_rating_writes_store_what_they_did(loaded_db: Database) -> None:
    ts = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
    with loaded_db.session() as session:
        user = User(gender="M")  # rated nothing yet
        session.add(user)
        session.flush()
        ratings_repo.upsert_rating(session, user.user_id, 10, 1.0, True, ts)
        ratings_repo.upsert_rating(session, user.user_id, 10, 4.5, False, ts)
        assert not ratings_repo.insert_rating_if_absent(session, user.user_id, 10, 1.0, True, ts)
        assert ratings_repo.insert_rating_if_absent(session, user.user_id, 1200, 2.0, True, ts)
    with loaded_db.session() as session:
        first = ratings_repo.get_rating(session, user.user_id, 10)
        second = ratings_repo.get_rating(session, user.user_id, 1200)
    assert (first.rating, first.is_implicit, first.ts) == (4.5, False, ts)
    assert (second.rating, second.is_implicit, second.ts) == (2.0, True, ts)
