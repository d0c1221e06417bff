"""The living catalogue through the API: create, change and retire movies, validation and
duplicates, who may do what, the catalogue copy of every process seeing a change at once, and
a retired movie leaving lists, top and similar movies at once and after the next refresh.
Through the Flask app, on both back ends."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text

from conftest import ADMIN_KEY, WRITE_KEYS, make_test_app, rated_movies
from movierec.cache import CacheStore
from movierec.config import Settings
from movierec.db import Database
from movierec.jobs.refresh import refresh_recommendations, refresh_statistics
from movierec.services.catalogue import CATALOGUE_CHECK_SECONDS
from process_helpers import wait_until

NEW_MOVIE = {
    "title": "  A Brand New Film ",
    "year": 2026,
    "genres": "sci-fi|Adventure|ACTION",
    "description": "A crew leaves a dying world.",
    "collection": "Brand Collection",
    "keywords": ["Space  Travel", "space travel", "crew"],
}


def _created(client, body: dict[str, Any] | None = None) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    response = client.put("/api/v1/movie", json=body or NEW_MOVIE)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def _message(response, status: int) -> str:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.get_json()
    assert response.get_json()["error"]["status"] == status
    return response.get_json()["error"]["message"]


def _max_movie_id(db: Database) -> int:
    with db.engine.connect() as connection:
        return connection.execute(text("SELECT MAX(movie_id) FROM movies")).scalar_one()


def test_a_created_movie_is_stored_as_the_api_shows_it(client, loaded_db: Database) -> None:  # type: ignore[no-untyped-def]
    highest = _max_movie_id(loaded_db)
    movie = _created(client)
    assert movie == {
        "movie_id": movie["movie_id"],
        "title": "A Brand New Film",
        "year": 2026,
        "genres": "Sci-Fi|Adventure|Action",
        "description": "A crew leaves a dying world.",
        "collection": "Brand Collection",
        "keywords": ["space travel", "crew"],
        "retired": False,
        "new": None,  # no model published yet
    }
    assert movie["movie_id"] > highest
    assert client.get(f"/api/v1/movie/{movie['movie_id']}").get_json() == movie
    found = client.get("/api/v1/movies/search?q=brand new film").get_json()["movies"]
    assert [m["movie_id"] for m in found] == [movie["movie_id"]]
    # Only the title is required; the next id follows.
    minimal = _created(client, {"title": "Untitled"})
    assert minimal["movie_id"] == movie["movie_id"] + 1
    assert minimal["genres"] is None and minimal["keywords"] is None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"year": 2000}, "title: Field required"),
        ({"title": ""}, "title:"),
        ({"title": "   "}, "title: String should match pattern"),
        ({"title": "x" * 301}, "title: String should have at most 300 characters"),
        ({"title": "Bad\u0000title"}, "title: String should match pattern"),
        ({"title": "X", "year": 1700}, "year: Input should be greater than or equal to 1870"),
        ({"title": "X", "year": 3000}, "year: Input should be less than or equal to"),
        ({"title": "X", "year": True}, "year"),
        ({"title": "X", "genres": "Action|Space Opera"}, "genres: unknown genre 'Space Opera'"),
        ({"title": "X", "description": "x" * 5001}, "description: String should have at most"),
        ({"title": "X", "keywords": ["k"] * 51}, "keywords: List should have at most 50 items"),
        ({"title": "X", "keywords": ["k" * 101]}, "keywords.0: String should have at most 100"),
        ({"title": "X", "keywords": "one"}, "keywords: Input should be a valid list"),
        ({"title": "X", "rating": 5}, "rating: Extra inputs are not permitted"),
    ],
)
def test_bad_movies_are_clear_400s_and_store_nothing(  # type: ignore[no-untyped-def]
    client, loaded_db: Database, body: dict[str, Any], field: str
) -> None:
    highest = _max_movie_id(loaded_db)
    assert field in _message(client.put("/api/v1/movie", json=body), 400)
    assert _max_movie_id(loaded_db) == highest


def test_a_title_and_year_taken_is_a_409_naming_the_movie(client, loaded_db: Database) -> None:  # type: ignore[no-untyped-def]
    # The synthetic data's movie 30 is "Movie 30" of 1952 (conftest.make_movielens).
    message = _message(client.put("/api/v1/movie", json={"title": "MOVIE 30", "year": 1952}), 409)
    assert message.startswith("movie 30 already has the title 'MOVIE 30' and year 1952")
    assert client.put("/api/v1/movie", json={"title": "Movie 30", "year": 1953}).status_code == 201
    mine = _created(client)
    renamed = client.patch(f"/api/v1/movie/{mine['movie_id']}", json={"title": "Movie 30"})
    assert renamed.status_code == 201 or renamed.status_code == 200  # other year: allowed
    clash = client.patch(f"/api/v1/movie/{mine['movie_id']}", json={"year": 1952})
    assert _message(clash, 409).startswith("movie 30 already has")


def test_a_change_sets_the_fields_given_and_null_clears_one(client, loaded_db: Database) -> None:  # type: ignore[no-untyped-def]
    movie = _created(client)
    path = f"/api/v1/movie/{movie['movie_id']}"
    changed = client.patch(path, json={"description": "Another story.", "year": None})
    assert changed.status_code == 200
    assert changed.get_json() == {**movie, "description": "Another story.", "year": None}
    assert client.get(path).get_json() == changed.get_json()
    # A loaded movie too (a re-load then leaves it as it is: tests/test_load.py).
    assert client.patch("/api/v1/movie/30", json={"keywords": ["Noir"]}).get_json()["keywords"] == [
        "noir"
    ]
    assert "title: Input should be a valid string" in _message(
        client.patch(path, json={"title": None}), 400
    )
    assert "name at least one field" in _message(client.patch(path, json={}), 400)
    assert _message(client.patch("/api/v1/movie/35", json={"year": 2000}), 404) == (
        "movie 35 not found"
    )


def test_writes_need_a_key_and_retiring_an_admin_key(keyed_client, loaded_db: Database) -> None:  # type: ignore[no-untyped-def]
    write = {"X-API-Key": WRITE_KEYS[0]}
    admin = {"X-API-Key": ADMIN_KEY}
    assert keyed_client.put("/api/v1/movie", json=NEW_MOVIE).status_code == 401
    movie = keyed_client.put("/api/v1/movie", json=NEW_MOVIE, headers=write)
    assert movie.status_code == 201
    path = f"/api/v1/movie/{movie.get_json()['movie_id']}"
    assert keyed_client.patch(path, json={"year": 2027}, headers=write).status_code == 200
    assert "admin API key" in _message(keyed_client.delete(path, headers=write), 403)
    retired = keyed_client.delete(path, headers=admin)
    assert retired.status_code == 200 and retired.get_json()["retired"] is True
    assert keyed_client.delete(path, headers=admin).get_json() == retired.get_json()
    assert keyed_client.get(path).get_json()["retired"] is True  # reads stay open
    assert keyed_client.delete("/api/v1/movie/35", headers=admin).status_code == 404
    document = keyed_client.get("/api/v1/openapi.json").get_json()
    operations = document["paths"]["/api/v1/movie/{movie_id}"]
    assert set(operations) == {"get", "patch", "delete"}
    admin_only = "The API key is not one of ADMIN_API_KEYS."
    assert operations["delete"]["responses"]["403"]["description"] == admin_only
    assert operations["patch"]["responses"]["403"]["description"] != admin_only
    assert "409" in document["paths"]["/api/v1/movie"]["put"]["responses"]


def test_every_process_sees_a_change_at_once(  # type: ignore[no-untyped-def]
    client, settings: Settings, loaded_db: Database
) -> None:
    assert client.get("/api/v1/movie/30").get_json()["title"] == "Movie 30"  # kept now
    others = make_test_app(settings)
    other = next(others).test_client()
    try:
        assert other.get("/api/v1/movie/30").get_json()["title"] == "Movie 30"
        client.patch("/api/v1/movie/30", json={"title": "Thirty"})
        assert client.get("/api/v1/movie/30").get_json()["title"] == "Thirty"  # this one: at once

        def seen() -> bool:
            return other.get("/api/v1/movie/30").get_json()["title"] == "Thirty"

        wait_until(seen, 2 * CATALOGUE_CHECK_SECONDS + 1, "the changed movie", 0.05)
    finally:
        others.close()


def _recommended(client, user: int, limit: int = 20) -> list[int]:  # type: ignore[no-untyped-def]
    response = client.get(f"/api/v1/user/{user}/recommendations?limit={limit}")
    assert response.status_code == 200
    return [m["movie_id"] for m in response.get_json()["recommendations"]]


def _top(client) -> list[int]:  # type: ignore[no-untyped-def]
    return [
        e["movie"]["movie_id"] for e in client.get("/api/v1/movies/top").get_json()["top_movies"]
    ]


def test_a_retired_movie_leaves_lists_top_and_similar_at_once_and_for_good(  # type: ignore[no-untyped-def]
    client, refreshed: Database, cache: CacheStore, fast_settings: Settings
) -> None:
    user = 7
    first = _recommended(client, user)[0]
    popular = _top(client)[0]
    neighbour = client.get(f"/api/v1/movie/{popular}/similar?limit=5").get_json()["similar"]
    close = neighbour[0]["movie_id"]
    with refreshed.engine.connect() as connection:
        ratings_of = connection.execute(
            text("SELECT COUNT(*) FROM ratings WHERE movie_id = :m"), {"m": popular}
        ).scalar_one()
    for movie in (first, popular, close):
        assert client.delete(f"/api/v1/movie/{movie}").status_code == 200
    retired = {first, popular, close}

    def nowhere() -> None:
        assert not retired & set(_recommended(client, user))
        assert len(_recommended(client, user)) == 20
        top = _top(client)
        assert not retired & set(top) and len(top) == 100
        for movie in _top(client)[:3]:
            similar = client.get(f"/api/v1/movie/{movie}/similar?limit=20").get_json()["similar"]
            assert not retired & {m["movie_id"] for m in similar}

    nowhere()  # at once, before any refresh
    refresh_statistics(refreshed, cache, fast_settings)
    version = refresh_recommendations(refreshed, cache, fast_settings).version
    nowhere()  # and after
    model = cache.serving_model(version)
    assert model is not None and not retired & set(model.item_ids.tolist())
    # Its ratings stay: history, statistics, and the models' user side.
    with refreshed.engine.connect() as connection:
        kept = connection.execute(
            text("SELECT COUNT(*) FROM ratings WHERE movie_id = :m"), {"m": popular}
        ).scalar_one()
    assert kept == ratings_of > 0
    assert client.get(f"/api/v1/movie/{popular}/statistics").get_json()["votes"] == ratings_of
    assert client.get(f"/api/v1/movie/{popular}").get_json()["retired"] is True
    raters = [u for u in range(1, 61) if popular in rated_movies(refreshed, u)]
    ratings = client.get(f"/api/v1/user/{raters[0]}/ratings/top?limit=1000").get_json()
    assert popular in {r["movie"]["movie_id"] for r in ratings["ratings"]}


def test_a_new_movie_joins_the_lists_at_the_next_refresh_marked_new(  # type: ignore[no-untyped-def]
    client, refreshed: Database, cache: CacheStore, fast_settings: Settings
) -> None:
    movie = _created(client)
    movie_id = movie["movie_id"]
    model = cache.serving_model()
    assert model is not None and movie_id not in model.item_ids  # not until the next refresh
    assert client.get(f"/api/v1/movie/{movie_id}").get_json()["new"] is True
    report = refresh_recommendations(refreshed, cache, fast_settings)
    assert report.new_movies >= 1 and report.content_seconds > 0
    model = cache.serving_model(report.version)
    assert model is not None and movie_id in model.item_ids
    assert client.get(f"/api/v1/movie/{movie_id}").get_json()["new"] is True
    assert client.get("/api/v1/movie/30").get_json()["new"] is False
    # Every list item says whether it is new; a user who rates it warms it up at the next
    # refreshes (here, fewer than CONTENT_WARM_RATINGS ratings: still new).
    items = client.get("/api/v1/user/7/recommendations").get_json()["recommendations"]
    assert all(item["new"] is bool(model.is_new([item["movie_id"]])[0]) for item in items)
    assert (
        client.put("/api/v1/user/7/rating", json={"movie_id": movie_id, "rating": 5}).status_code
        == 200
    )
    refresh_recommendations(refreshed, cache, fast_settings)
    assert client.get(f"/api/v1/movie/{movie_id}").get_json()["new"] is True
