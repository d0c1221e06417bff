"""GET /api/v1/user/<id>/recommendations with RANKER=sequential on real back ends: a movie
people rate right after the one the user just watched comes with "because you just watched"
that movie (``because_kind`` "just_watched"), the others with the liked movies; the same from
the published list (no query), from the read path (the user's ratings) and from a fold-in."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask

from conftest import make_test_app
from movierec.cache import CacheStore
from movierec.config import Settings
from movierec.db import Database
from movierec.db.models import Movie, Rating
from movierec.jobs.refresh import refresh_recommendations, refresh_statistics

# The opening act is always followed by its sequel, as the last two ratings of thirty users
# of the small data set (after all of theirs); FAN watched the opening act last, not the
# sequel. The two come after every movie of the data set (ids 10..1200), by id and by time.
OPENING, SEQUEL = 5001, 5002
FOLLOWERS = range(1, 31)
FAN = 40
LATER = datetime(2020, 1, 1, tzinfo=UTC)


@pytest.fixture
def sequential(fast_settings: Settings) -> Settings:
    return fast_settings.model_copy(update={"ranker": "sequential"})


def add_the_opening_act_and_its_sequel(database: Database) -> None:
    """The two movies, and the ratings that make the one follow the other, in a database
    loaded with the small data set."""
    with database.session() as session:
        session.add_all(
            [
                Movie(movie_id=OPENING, title="The Opening Act", year=2019, genres="Drama"),
                Movie(movie_id=SEQUEL, title="The Sequel", year=2020, genres="Drama"),
            ]
        )
        session.flush()
        for user in FOLLOWERS:
            session.add(_rating(user, OPENING, LATER))
            session.add(_rating(user, SEQUEL, LATER + timedelta(seconds=1)))
        session.add(_rating(FAN, OPENING, LATER + timedelta(seconds=2)))


@pytest.fixture
def published(loaded_db: Database, cache: CacheStore, sequential: Settings) -> Database:
    add_the_opening_act_and_its_sequel(loaded_db)
    refresh_statistics(loaded_db, cache, sequential)
    refresh_recommendations(loaded_db, cache, sequential)
    return loaded_db


def _rating(user: int, movie: int, at: datetime) -> Rating:
    return Rating(user_id=user, movie_id=movie, rating=4.0, is_implicit=False, ts=at)


@pytest.fixture
def app(sequential: Settings, published: Database) -> Iterator[Flask]:
    yield from make_test_app(sequential)


def _recommendations(app: Flask, user: int, limit: int = 30) -> list[dict]:  # type: ignore[type-arg]
    response = app.test_client().get(f"/api/v1/user/{user}/recommendations?limit={limit}")
    assert response.status_code == 200, response.get_json()
    return response.get_json()["recommendations"]


def test_the_movie_that_follows_the_one_just_watched_says_so_and_the_others_keep_theirs(
    app: Flask, cache: CacheStore
) -> None:
    listed = _recommendations(app, FAN)
    by_id = {movie["movie_id"]: movie for movie in listed}
    assert SEQUEL in by_id
    assert by_id[SEQUEL]["because_kind"] == "just_watched"
    assert by_id[SEQUEL]["because"] == [{"movie_id": OPENING, "title": "The Opening Act"}]
    # What PureSVD's part brings keeps the liked movies most similar to it.
    liked = [movie for movie in listed if movie.get("because_kind") == "liked"]
    assert liked and all(1 <= len(movie["because"]) <= 2 for movie in liked)
    assert all(("because" in movie) == ("because_kind" in movie) for movie in listed)
    # As the refresh published it, served without reading the user's ratings.
    cached = cache.published_list(FAN).cached
    assert cached is not None and SEQUEL in cached.just_watched
    assert cached.reasons is not None and cached.reasons[SEQUEL] == [OPENING]


def test_the_published_reasons_are_those_the_read_path_gives_every_user(
    app: Flask, cache: CacheStore
) -> None:
    users = [*range(1, 61), FAN]
    published = {user: _recommendations(app, user) for user in users}
    kinds = [movie.get("because_kind") for movies in published.values() for movie in movies]
    assert "just_watched" in kinds and "liked" in kinds
    # Marked changed though nothing changed: each answer reads the user's ratings (oldest
    # first) and computes its reasons anew, and must be the same, kinds included.
    for user in users:
        cache.mark_user_changed(user, time.time())
    for user in users:
        assert _recommendations(app, user) == published[user], user


def test_a_user_who_rates_the_opening_act_now_gets_the_sequel_because_of_it(
    app: Flask, published: Database
) -> None:
    client = app.test_client()
    user = 45
    assert client.put(
        f"/api/v1/user/{user}/rating", json={"movie_id": OPENING, "rating": 4.5}
    ).status_code in (200, 201)
    answer = client.get(f"/api/v1/user/{user}/recommendations?limit=30").get_json()
    assert answer["source"] == "fold_in"
    by_id = {movie["movie_id"]: movie for movie in answer["recommendations"]}
    assert by_id[SEQUEL]["because_kind"] == "just_watched"
    assert [reason["movie_id"] for reason in by_id[SEQUEL]["because"]] == [OPENING]
