"""Without statistics in Redis (never published, Redis restarted empty, a version whose keys
vanished) or without Redis at all, top movies and recommendations come from the database
instead of a 503, and writes that do not need Redis keep working."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from sqlalchemy import event, text

from conftest import make_test_app, rated_movies
from movierec.cache import CacheStore
from movierec.config import Settings, load_settings
from movierec.db import Database
from movierec.jobs.refresh import refresh_statistics
from movierec.services import ratings as ratings_service


def _top(client, limit: int = 100) -> dict:  # type: ignore[no-untyped-def]
    response = client.get(f"/api/v1/movies/top?limit={limit}")
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def _ids(response) -> list[int]:  # type: ignore[no-untyped-def]
    assert response.status_code == 200, response.get_json()
    return [movie["movie_id"] for movie in response.get_json()["recommendations"]]


def _entries(body: dict) -> list[tuple[int, int, float | None]]:
    return [(e["movie"]["movie_id"], e["votes"], e["avg_rating"]) for e in body["top_movies"]]


def _published_top(client, loaded_db: Database, cache: CacheStore, settings: Settings) -> dict:  # type: ignore[no-untyped-def]
    """What the same request answers once the statistics refresh has published (the reference
    the fallback must match)."""
    refresh_statistics(loaded_db, cache, settings)
    body = _top(client)
    assert body["source"] == "cache"
    return body


def _forget_published_statistics(cache: CacheStore) -> None:
    """This test session's statistics keys only, as after a Redis restarted empty (never the
    whole shared Redis)."""
    for key in cache.client.scan_iter(match=cache.key("stats", "*"), count=1000):
        cache.client.delete(key)


def test_top_movies_without_statistics_come_from_the_database(  # type: ignore[no-untyped-def]
    client, loaded_db: Database, cache: CacheStore, settings: Settings
) -> None:
    assert cache.current_version("stats") is None
    fallback = _top(client)
    assert fallback["source"] == "database"
    published = _published_top(client, loaded_db, cache, settings)
    assert _entries(fallback) == _entries(published)  # same order, votes and averages
    assert len(fallback["top_movies"]) == 100
    assert fallback["top_movies"][0]["movie"] == published["top_movies"][0]["movie"]
    # Redis restarted empty: the database again, not a 503.
    _forget_published_statistics(cache)
    again = _top(client, limit=7)
    assert again["source"] == "database" and _entries(again) == _entries(published)[:7]


def test_a_statistics_version_whose_keys_vanished_falls_back_too(  # type: ignore[no-untyped-def]
    client, loaded_db: Database, cache: CacheStore, settings: Settings
) -> None:
    published = _published_top(client, loaded_db, cache, settings)
    version = cache.current_version("stats")
    cache.client.delete(cache.key("stats", version, "movies"), cache.key("stats", version, "top"))
    assert cache.current_version("stats") == version  # "current" still names it
    body = _top(client)
    assert body["source"] == "database" and _entries(body) == _entries(published)


def test_cold_start_without_statistics_comes_from_the_database(  # type: ignore[no-untyped-def]
    client, loaded_db: Database, cache: CacheStore, settings: Settings
) -> None:
    response = client.get("/api/v1/user/5/recommendations?limit=15")
    assert response.get_json()["source"] == "database"
    fallback = _ids(response)
    top = [
        movie_id for movie_id, _, _ in _entries(_published_top(client, loaded_db, cache, settings))
    ]
    expected = [m for m in top if m not in rated_movies(loaded_db, 5)][:15]
    assert fallback == expected
    response = client.get("/api/v1/user/5/recommendations?limit=15")
    assert _ids(response) == expected and response.get_json()["source"] == "popular"  # Redis


def test_the_database_ranking_is_one_query_cached_briefly(  # type: ignore[no-untyped-def]
    app: Flask, loaded_db: Database, cache: CacheStore
) -> None:
    client = app.test_client()
    aggregates: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        # The ranking's aggregate (votes and average per movie), not the user's own rows.
        if "GROUP BY RATINGS.MOVIE_ID" in statement.upper():
            aggregates.append(statement)

    engine = app.extensions["movierec.db"].engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        first = _top(client)
        for _ in range(5):
            assert _top(client) == first
        _ids(client.get("/api/v1/user/5/recommendations"))
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert len(aggregates) == 1, aggregates


@pytest.fixture
def redis_down(settings: Settings, loaded_db: Database) -> Iterator[Flask]:
    broken = load_settings(
        DATABASE_URL=settings.database_url,
        REDIS_URL="redis://127.0.0.1:9/0",
        REDIS_KEY_PREFIX=settings.redis_key_prefix,
    )
    yield from make_test_app(broken)


def test_with_redis_down_reads_fall_back_and_writes_work(  # type: ignore[no-untyped-def]
    redis_down: Flask, client, loaded_db: Database, cache: CacheStore, settings: Settings
) -> None:
    down = redis_down.test_client()
    body = _top(down)
    assert body["source"] == "database"
    top = [
        movie_id for movie_id, _, _ in _entries(_published_top(client, loaded_db, cache, settings))
    ]
    assert [movie_id for movie_id, _, _ in _entries(body)] == top
    # A known user (one the last refresh gave a list) gets the top movies they have not rated.
    expected = [m for m in top if m not in rated_movies(loaded_db, 7)][:20]
    assert _ids(down.get("/api/v1/user/7/recommendations")) == expected
    assert down.get("/api/v1/user/4242/recommendations").status_code == 404
    # Writes that need only the database.
    assert (
        down.put("/api/v1/user/7/rating", json={"movie_id": top[0], "rating": 2}).status_code == 200
    )
    assert down.put("/api/v1/user", json={"gender": "F"}).status_code == 201
    # Watched takes the database's average (item 6), so it needs no Redis either.
    unrated = next(m for m in top if m not in rated_movies(loaded_db, 7))
    with loaded_db.engine.connect() as connection:
        average = connection.execute(
            text("SELECT AVG(rating) FROM ratings WHERE movie_id = :m"), {"m": unrated}
        ).scalar_one()
    response = down.put("/api/v1/user/7/watched", json={"movie_id": unrated})
    assert response.status_code == 200, response.get_json()
    with loaded_db.engine.connect() as connection:
        stored = connection.execute(
            text("SELECT rating, is_implicit FROM ratings WHERE user_id = 7 AND movie_id = :m"),
            {"m": unrated},
        ).one()
    assert (stored[0], bool(stored[1])) == (ratings_service.round_half_star(average), True)
