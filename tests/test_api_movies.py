"""GET /api/v1/movie/<id>."""

from __future__ import annotations

from movierec.db import Database


def test_get_movie(client, loaded_db: Database) -> None:  # type: ignore[no-untyped-def]
    response = client.get("/api/v1/movie/30")
    assert response.status_code == 200
    body = response.get_json()
    assert list(body) == [
        "movie_id", "title", "year", "genres", "description", "collection", "keywords",
        "retired", "new",
    ]  # fmt: skip
    # Synthetic movies.csv row: 30,Movie 30 (1952),Action|Adventure (conftest.make_movielens).
    assert body == {
        "movie_id": 30,
        "title": "Movie 30",
        "year": 1952,
        "genres": "Action|Adventure",
        "description": None,
        "collection": None,
        "keywords": None,
        "retired": False,
        "new": None,  # no model published yet
    }


def test_unknown_movie(client, loaded_db: Database) -> None:  # type: ignore[no-untyped-def]
    response = client.get("/api/v1/movie/35")
    assert response.status_code == 404
    assert response.get_json() == {"error": {"status": 404, "message": "movie 35 not found"}}
