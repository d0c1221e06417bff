"""A user's ratings through the HTTP API: lists, explicit ratings, watched (implicit ratings)."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from conftest import rated_movies
from movierec.cache import CacheStore
from movierec.cache.statistics import MovieStat
from movierec.db import Database

# Synthetic data set (conftest.small_movielens): users 1..60, movies 10, 20, ..., 1200.
USER = 9


@pytest.fixture
def api(client, loaded_db: Database):  # type: ignore[no-untyped-def]
    return client


def _unrated_movie(db: Database, user_id: int) -> int:
    rated = rated_movies(db, user_id)
    return next(m for m in range(10, 1210, 10) if m not in rated)


def _rated(db: Database, user_id: int) -> set[int]:
    return rated_movies(db, user_id)


def _parse_ts(value: str) -> datetime:
    assert value.endswith("+00:00"), value  # ISO 8601 in UTC, as documented
    return datetime.fromisoformat(value)


def test_rate_answers_the_stored_rating(api, loaded_db: Database) -> None:  # type: ignore[no-untyped-def]
    movie = _unrated_movie(loaded_db, USER)
    before = datetime.now(UTC)
    response = api.put(f"/api/v1/user/{USER}/rating", json={"movie_id": movie, "rating": 3.8})
    assert response.status_code == 200
    body = response.get_json()
    assert list(body) == ["is_implicit", "movie_id", "rating", "ts", "user_id"]
    assert (body["is_implicit"], body["movie_id"], body["rating"], body["user_id"]) == (
        False,
        movie,
        4.0,
        USER,
    )
    assert before <= _parse_ts(body["ts"]) <= datetime.now(UTC)
    # It takes effect at once: listed first among the latest, excluded from recommendations.
    latest = api.get(f"/api/v1/user/{USER}/ratings/latest?limit=1").get_json()["ratings"]
    assert (latest[0]["movie"]["movie_id"], latest[0]["rating"]) == (movie, 4.0)
    assert movie in _rated(loaded_db, USER)

    again = api.put(f"/api/v1/user/{USER}/rating", json={"movie_id": movie, "rating": 2})
    assert again.get_json()["rating"] == 2.0
    latest = api.get(f"/api/v1/user/{USER}/ratings/latest?limit=1000").get_json()["ratings"]
    assert [r["rating"] for r in latest if r["movie"]["movie_id"] == movie] == [2.0]


@pytest.mark.parametrize(("given", "stored"), [(3.74, 3.5), (3.75, 4.0), (0, 0.0), (5, 5.0)])
def test_rating_is_rounded_to_the_half_star(api, loaded_db, given, stored) -> None:  # type: ignore[no-untyped-def]
    movie = _unrated_movie(loaded_db, USER)
    body = {"movie_id": movie, "rating": given}
    assert api.put(f"/api/v1/user/{USER}/rating", json=body).get_json()["rating"] == stored


def test_negative_zero_is_stored_and_answered_as_zero(api, loaded_db: Database) -> None:  # type: ignore[no-untyped-def]
    movie = _unrated_movie(loaded_db, USER)
    raw = f'{{"movie_id": {movie}, "rating": -0.0}}'
    response = api.put(f"/api/v1/user/{USER}/rating", data=raw, content_type="application/json")
    assert response.status_code == 200
    assert '"rating":0.0' in response.get_data(as_text=True).replace(" ", "")
    with loaded_db.engine.connect() as connection:
        stored = connection.execute(
            text("SELECT rating FROM ratings WHERE user_id = :u AND movie_id = :m"),
            {"u": USER, "m": movie},
        ).scalar_one()
    assert math.copysign(1, stored) == 1, stored
    latest = api.get(f"/api/v1/user/{USER}/ratings/latest?limit=1").get_data(as_text=True)
    assert "-0.0" not in latest


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ('{"movie_id": 10, "rating": 5.5}', "rating"),
        ('{"movie_id": 10, "rating": -1}', "rating"),
        ('{"movie_id": 10, "rating": NaN}', "rating"),
        ('{"movie_id": 10, "rating": Infinity}', "rating"),
        ('{"movie_id": 10, "rating": true}', "rating"),
        ('{"movie_id": 10, "rating": "4.0"}', "rating"),
        ('{"movie_id": 10, "rating": null}', "rating"),
        ('{"movie_id": 10}', "rating"),
        ('{"rating": 4}', "movie_id"),
        ('{"movie_id": "10", "rating": 4}', "movie_id"),
        ('{"movie_id": 10.5, "rating": 4}', "movie_id"),
        ('{"movie_id": false, "rating": 4}', "movie_id"),
        ('{"movie_id": 99999999999, "rating": 4}', "movie_id"),
        ('{"movie_id": 10, "rating": 4, "comment": "great"}', "comment"),
    ],
)
def test_bad_ratings_are_a_400_naming_the_field(api, loaded_db, raw: str, field: str) -> None:  # type: ignore[no-untyped-def]
    before = _rated(loaded_db, USER)
    response = api.put(f"/api/v1/user/{USER}/rating", data=raw, content_type="application/json")
    assert response.status_code == 400, response.get_json()
    assert response.get_json()["error"]["message"].startswith(f"{field}: ")
    assert _rated(loaded_db, USER) == before


def test_rate_unknown_user_or_movie(api) -> None:  # type: ignore[no-untyped-def]
    response = api.put("/api/v1/user/999/rating", json={"movie_id": 10, "rating": 4})
    assert (response.status_code, response.get_json()["error"]["message"]) == (
        404,
        "user 999 not found",
    )
    response = api.put(f"/api/v1/user/{USER}/rating", json={"movie_id": 15, "rating": 4})
    assert (response.status_code, response.get_json()["error"]["message"]) == (
        404,
        "movie 15 not found",
    )


def test_delete_rating(api, loaded_db: Database) -> None:  # type: ignore[no-untyped-def]
    movie = next(iter(_rated(loaded_db, USER)))
    response = api.delete(f"/api/v1/user/{USER}/rating", json={"movie_id": movie})
    assert response.status_code == 200
    assert response.get_json() == {
        "deleted": True, "movie_id": movie, "msg": "deleted", "user_id": USER,
    }  # fmt: skip
    assert movie not in _rated(loaded_db, USER)
    response = api.delete(f"/api/v1/user/{USER}/rating", json={"movie_id": movie})
    assert response.status_code == 404
    assert response.get_json()["error"]["message"] == f"user {USER} has not rated movie {movie}"


def test_watch_and_unwatch(api, loaded_db: Database, cache: CacheStore) -> None:  # type: ignore[no-untyped-def]
    movie = _unrated_movie(loaded_db, USER)
    cache.publish_statistics([MovieStat(movie, 40, 4.2)])
    response = api.put(f"/api/v1/user/{USER}/watched", json={"movie_id": movie})
    assert response.status_code == 200
    assert response.get_json() == {"movie_id": movie, "user_id": USER, "watched": True}
    latest = api.get(f"/api/v1/user/{USER}/ratings/latest?limit=1").get_json()["ratings"][0]
    assert (latest["movie"]["movie_id"], latest["rating"], latest["is_implicit"]) == (
        movie,
        4.0,
        True,
    )
    assert movie in _rated(loaded_db, USER)

    response = api.delete(f"/api/v1/user/{USER}/watched", json={"movie_id": movie})
    assert response.status_code == 200
    assert response.get_json() == {"movie_id": movie, "user_id": USER, "watched": False}
    assert movie not in _rated(loaded_db, USER)


def test_watch_without_average_uses_the_default(api, loaded_db: Database) -> None:  # type: ignore[no-untyped-def]
    movie = _unrated_movie(loaded_db, USER)
    assert api.put(f"/api/v1/user/{USER}/watched", json={"movie_id": movie}).status_code == 200
    latest = api.get(f"/api/v1/user/{USER}/ratings/latest?limit=1").get_json()["ratings"][0]
    assert (latest["movie"]["movie_id"], latest["rating"], latest["is_implicit"]) == (
        movie,
        3.5,
        True,
    )


def test_watching_an_explicitly_rated_movie_keeps_the_rating(api, loaded_db) -> None:  # type: ignore[no-untyped-def]
    movie = _unrated_movie(loaded_db, USER)
    api.put(f"/api/v1/user/{USER}/rating", json={"movie_id": movie, "rating": 1})
    response = api.put(f"/api/v1/user/{USER}/watched", json={"movie_id": movie})
    assert response.get_json()["watched"] is True
    latest = api.get(f"/api/v1/user/{USER}/ratings/latest?limit=1").get_json()["ratings"][0]
    assert (latest["rating"], latest["is_implicit"]) == (1.0, False)

    response = api.delete(f"/api/v1/user/{USER}/watched", json={"movie_id": movie})
    assert response.status_code == 409
    message = response.get_json()["error"]["message"]
    assert "delete the rating instead" in message
    assert movie in _rated(loaded_db, USER)


def test_watch_unknown_user_or_movie(api) -> None:  # type: ignore[no-untyped-def]
    assert api.put("/api/v1/user/999/watched", json={"movie_id": 10}).status_code == 404
    response = api.delete(f"/api/v1/user/{USER}/watched", json={"movie_id": 15})
    assert (response.status_code, response.get_json()["error"]["message"]) == (
        404,
        "movie 15 not found",
    )


def test_top_and_latest_orders_and_shape(api, loaded_db: Database) -> None:  # type: ignore[no-untyped-def]
    top = api.get(f"/api/v1/user/{USER}/ratings/top?limit=1000").get_json()
    latest = api.get(f"/api/v1/user/{USER}/ratings/latest?limit=1000").get_json()
    assert list(top) == ["limit", "user_id", "ratings"]
    assert (top["limit"], top["user_id"]) == (1000, USER)
    assert len(top["ratings"]) == len(_rated(loaded_db, USER)) > 3
    item = top["ratings"][0]
    assert list(item) == ["is_implicit", "movie", "rating", "ts"]
    assert set(item["movie"]) == {"movie_id", "title", "year", "genres", "description"}
    keys = [(-r["rating"], -_parse_ts(r["ts"]).timestamp()) for r in top["ratings"]]
    assert keys == sorted(keys)
    keys = [(-_parse_ts(r["ts"]).timestamp(), -r["rating"]) for r in latest["ratings"]]
    assert keys == sorted(keys)


def test_limit_default_and_bounds(api) -> None:  # type: ignore[no-untyped-def]
    # User 9 of the synthetic set has fewer than 20 ratings: the default limit echoes TOP_N.
    body = api.get(f"/api/v1/user/{USER}/ratings/top").get_json()
    assert body["limit"] == 20
    assert len(api.get(f"/api/v1/user/{USER}/ratings/top?limit=2").get_json()["ratings"]) == 2
    for bad in ["-1", "0", "abc", "1001", "", "2.5"]:
        for kind in ("top", "latest"):
            response = api.get(f"/api/v1/user/{USER}/ratings/{kind}?limit={bad}")
            assert response.status_code == 400, bad
            assert response.get_json()["error"]["message"].startswith("limit: ")


def test_lists_of_unknown_user(api) -> None:  # type: ignore[no-untyped-def]
    for kind in ("top", "latest"):
        response = api.get(f"/api/v1/user/999/ratings/{kind}")
        assert response.status_code == 404
        assert response.get_json()["error"]["message"] == "user 999 not found"


def test_rated_and_watched_movies_leave_the_recommendations_at_once(
    api, loaded_db: Database, cache: CacheStore
) -> None:  # type: ignore[no-untyped-def]
    # A cached list from the last refresh, then the user rates one and watches another of them.
    unrated = [m for m in range(10, 1210, 10) if m not in _rated(loaded_db, USER)]
    cache.publish_statistics([MovieStat(m, 10, 3.0) for m in unrated])
    cache.publish_recommendations([(USER, unrated[:5])])
    before = api.get(f"/api/v1/user/{USER}/recommendations?limit=5").get_json()
    assert [m["movie_id"] for m in before["recommendations"]] == unrated[:5]

    api.put(f"/api/v1/user/{USER}/rating", json={"movie_id": unrated[0], "rating": 4})
    api.put(f"/api/v1/user/{USER}/watched", json={"movie_id": unrated[2]})
    after = api.get(f"/api/v1/user/{USER}/recommendations?limit=5").get_json()
    shown = [m["movie_id"] for m in after["recommendations"]]
    assert unrated[0] not in shown and unrated[2] not in shown
    assert len(shown) == 5  # backfilled from the top movies

    api.delete(f"/api/v1/user/{USER}/watched", json={"movie_id": unrated[2]})
    again = api.get(f"/api/v1/user/{USER}/recommendations?limit=5").get_json()
    assert unrated[2] in [m["movie_id"] for m in again["recommendations"]]
