"""The rating services against the real back ends: half stars, explicit vs implicit, failures."""

from __future__ import annotations

import math

import pytest
from sqlalchemy import func, select, text

from movierec.cache import CacheStore
from movierec.cache.statistics import MovieStat
from movierec.db import Database
from movierec.db.models import Rating
from movierec.services import ratings as service
from movierec.services.errors import Conflict, InvalidInput, NotFound

# Synthetic data set (conftest.small_movielens): users 1..60, movies 10, 20, ..., 1200.
USER, OTHER_USER, MOVIE = 3, 4, 1190


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (3.8, 4.0),
        (3.74, 3.5),
        (3.75, 4.0),  # ties go up
        (3.25, 3.5),  # ties up, not to even (Python's round() would give 3.0)
        (0.24, 0.0),
        (0.25, 0.5),
        (4.76, 5.0),
        (5, 5.0),
        (0, 0.0),
        (-0.0, 0.0),
        (2.7499999999999996, 2.5),  # just below a tie stays below
    ],
)
def test_round_half_star(given: float, expected: float) -> None:
    assert service.round_half_star(given) == expected


@pytest.mark.parametrize("bad", [5.01, -0.01, 6, math.nan, math.inf, -math.inf, True, "4.0", None])
def test_round_half_star_refuses_instead_of_clamping(bad: object) -> None:
    with pytest.raises(InvalidInput, match="rating"):
        service.round_half_star(bad)  # type: ignore[arg-type]


def _row(db: Database, user_id: int, movie_id: int) -> Rating | None:
    with db.session() as session:
        return session.get(Rating, (user_id, movie_id))


def _count(db: Database, user_id: int, movie_id: int) -> int:
    with db.session() as session:
        return session.scalar(
            select(func.count())
            .select_from(Rating)
            .where(Rating.user_id == user_id, Rating.movie_id == movie_id)
        )


def test_rate_stores_rounded_and_rating_again_replaces(
    loaded_db: Database, cache: CacheStore
) -> None:
    first = service.rate(loaded_db, cache, USER, MOVIE, 3.8)
    assert (first.rating, first.is_implicit) == (4.0, False)
    stored = _row(loaded_db, USER, MOVIE)
    assert (stored.rating, stored.is_implicit, stored.ts) == (4.0, False, first.ts)
    second = service.rate(loaded_db, cache, USER, MOVIE, 1.2)
    assert _row(loaded_db, USER, MOVIE).rating == second.rating == 1.0
    assert second.ts >= first.ts
    assert _count(loaded_db, USER, MOVIE) == 1


def test_rate_names_what_is_missing(loaded_db: Database, cache: CacheStore) -> None:
    with pytest.raises(NotFound, match="user 999 not found"):
        service.rate(loaded_db, cache, 999, MOVIE, 3)
    with pytest.raises(NotFound, match="movie 15 not found"):
        service.rate(loaded_db, cache, USER, 15, 3)
    with pytest.raises(InvalidInput):
        service.rate(loaded_db, cache, USER, MOVIE, 7)
    assert _row(loaded_db, USER, 15) is None


def test_watch_uses_the_movie_average_rounded(loaded_db: Database, cache: CacheStore) -> None:
    cache.publish_statistics([MovieStat(MOVIE, 12, 3.76), MovieStat(1180, 2, None)])
    assert service.watch(loaded_db, cache, USER, MOVIE, default_rating=3.5, min_votes=5) is True
    stored = _row(loaded_db, USER, MOVIE)
    assert (stored.rating, stored.is_implicit) == (4.0, True)
    # A movie with too few votes has no average: the default applies.
    assert service.watch(loaded_db, cache, USER, 1180, default_rating=2.0, min_votes=5) is True
    assert _row(loaded_db, USER, 1180).rating == 2.0


def _database_average(db: Database, movie_id: int) -> tuple[int, float]:
    with db.engine.connect() as connection:
        votes, average = connection.execute(
            text("SELECT COUNT(*), AVG(rating) FROM ratings WHERE movie_id = :m"), {"m": movie_id}
        ).one()
    return votes, average


def _unrated_movie_with_average(db: Database, user_id: int) -> tuple[int, float]:
    """A movie the user has not rated, with enough votes and an average that does not round
    to the default 3.5 (so a made-up value cannot pass for it); its rounded average."""
    with db.engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT movie_id, AVG(rating) FROM ratings GROUP BY movie_id HAVING COUNT(*) >= 5 "
                "AND movie_id NOT IN (SELECT movie_id FROM ratings WHERE user_id = :u) "
                "ORDER BY movie_id"
            ),
            {"u": user_id},
        ).all()
    for movie_id, average in rows:
        if service.round_half_star(average) != 3.5:
            return movie_id, service.round_half_star(average)
    raise AssertionError("no suitable movie in the data set")


def test_watch_without_statistics_takes_the_database_average(
    loaded_db: Database, cache: CacheStore
) -> None:
    movie_id, expected = _unrated_movie_with_average(loaded_db, USER)
    assert cache.current_version("stats") is None
    service.watch(loaded_db, cache, USER, movie_id, default_rating=3.5, min_votes=5)
    stored = _row(loaded_db, USER, movie_id)
    assert (stored.rating, stored.is_implicit) == (expected, True)


def test_watch_default_only_for_a_movie_that_truly_has_no_average(
    loaded_db: Database, cache: CacheStore
) -> None:
    movie_id, _ = _unrated_movie_with_average(loaded_db, USER)
    votes, _average = _database_average(loaded_db, movie_id)
    # Same rule as the statistics: an average only from min_votes votes up.
    service.watch(loaded_db, cache, USER, movie_id, default_rating=2.0, min_votes=votes + 2)
    assert _row(loaded_db, USER, movie_id).rating == 2.0
    # A movie nobody rated has no average either.
    with loaded_db.engine.begin() as connection:
        connection.execute(text("DELETE FROM ratings WHERE movie_id = :m"), {"m": MOVIE})
    service.watch(loaded_db, cache, USER, MOVIE, default_rating=2.0, min_votes=1)
    assert _row(loaded_db, USER, MOVIE).rating == 2.0


def test_watch_keeps_an_explicit_rating(loaded_db: Database, cache: CacheStore) -> None:
    service.rate(loaded_db, cache, USER, MOVIE, 1.5)
    assert service.watch(loaded_db, cache, USER, MOVIE, default_rating=3.5, min_votes=5) is True
    stored = _row(loaded_db, USER, MOVIE)
    assert (stored.rating, stored.is_implicit) == (1.5, False)


def test_rating_a_watched_movie_makes_it_explicit(loaded_db: Database, cache: CacheStore) -> None:
    service.watch(loaded_db, cache, USER, MOVIE, default_rating=3.5, min_votes=5)
    service.rate(loaded_db, cache, USER, MOVIE, 5)
    stored = _row(loaded_db, USER, MOVIE)
    assert (stored.rating, stored.is_implicit) == (5.0, False)
    assert _count(loaded_db, USER, MOVIE) == 1


def test_unwatch_removes_only_an_implicit_rating(loaded_db: Database, cache: CacheStore) -> None:
    service.watch(loaded_db, cache, USER, MOVIE, default_rating=3.5, min_votes=5)
    assert service.unwatch(loaded_db, cache, USER, MOVIE) is False
    assert _row(loaded_db, USER, MOVIE) is None
    assert service.unwatch(loaded_db, cache, USER, MOVIE) is False  # not watched: the state holds

    service.rate(loaded_db, cache, OTHER_USER, MOVIE, 4.5)
    with pytest.raises(Conflict, match="delete the rating instead"):
        service.unwatch(loaded_db, cache, OTHER_USER, MOVIE)
    assert _row(loaded_db, OTHER_USER, MOVIE).rating == 4.5

    with pytest.raises(NotFound, match="user 999"):
        service.unwatch(loaded_db, cache, 999, MOVIE)
    with pytest.raises(NotFound, match="movie 15"):
        service.unwatch(loaded_db, cache, USER, 15)


def test_delete_rating(loaded_db: Database, cache: CacheStore) -> None:
    service.rate(loaded_db, cache, USER, MOVIE, 2)
    service.delete_rating(loaded_db, cache, USER, MOVIE)
    assert _row(loaded_db, USER, MOVIE) is None
    with pytest.raises(NotFound, match=f"user {USER} has not rated movie {MOVIE}"):
        service.delete_rating(loaded_db, cache, USER, MOVIE)
    service.watch(loaded_db, cache, USER, MOVIE, default_rating=3.5, min_votes=5)
    service.delete_rating(loaded_db, cache, USER, MOVIE)  # an implicit rating is a rating too
    assert _row(loaded_db, USER, MOVIE) is None
    with pytest.raises(NotFound, match="movie 15 not found"):
        service.delete_rating(loaded_db, cache, USER, 15)


def test_watch_with_redis_down_stores_the_database_average(loaded_db: Database) -> None:
    movie_id, expected = _unrated_movie_with_average(loaded_db, USER)
    unreachable = CacheStore("redis://127.0.0.1:9/0", "movierec-test")
    assert service.watch(loaded_db, unreachable, USER, movie_id, 3.5, min_votes=5) is True
    stored = _row(loaded_db, USER, movie_id)
    assert (stored.rating, stored.is_implicit) == (expected, True)


def test_rating_lists_are_ordered(loaded_db: Database) -> None:
    with loaded_db.session() as session:
        rows = session.execute(
            select(Rating.movie_id, Rating.rating, Rating.ts).where(Rating.user_id == USER)
        ).all()
    top = service.top_ratings(loaded_db, USER, 1000)
    latest = service.latest_ratings(loaded_db, USER, 1000)
    assert len(top) == len(latest) == len(rows) > 3
    assert [(r.rating, r.ts) for r in top] == sorted(
        ((r.rating, r.ts) for r in rows), key=lambda p: (-p[0], -p[1].timestamp())
    )
    assert [(r.ts, r.rating) for r in latest] == sorted(
        ((r.ts, r.rating) for r in rows), key=lambda p: (-p[0].timestamp(), -p[1])
    )
    assert {r.movie.movie_id for r in top} == {r.movie_id for r in rows}
    assert len(service.top_ratings(loaded_db, USER, 2)) == 2
    with pytest.raises(NotFound, match="user 999"):
        service.top_ratings(loaded_db, 999, 5)
    with pytest.raises(NotFound, match="user 999"):
        service.latest_ratings(loaded_db, 999, 5)
