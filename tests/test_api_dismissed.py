"""Dismissed movies ("not interested") through the HTTP API on both back ends: PUT, GET and
DELETE /api/v1/user/<id>/dismissed, and that a dismissed movie leaves every kind of list (the
cached one, its backfill, cold start) at once and comes back when un-dismissed."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import text

from conftest import new_user, rated_movies
from movierec.cache import CacheStore
from movierec.db import Database

# Synthetic data set (conftest.small_movielens): users 1..60, movies 10, 20, ..., 1200.
USER = 7


def _recommended(client, user_id: int, limit: int = 20) -> list[int]:  # type: ignore[no-untyped-def]
    response = client.get(f"/api/v1/user/{user_id}/recommendations?limit={limit}")
    assert response.status_code == 200, response.get_json()
    return [movie["movie_id"] for movie in response.get_json()["recommendations"]]


def _dismiss(client, user_id: int, movie_id: int):  # type: ignore[no-untyped-def]
    return client.put(f"/api/v1/user/{user_id}/dismissed", json={"movie_id": movie_id})


def _undismiss(client, user_id: int, movie_id: int):  # type: ignore[no-untyped-def]
    return client.delete(f"/api/v1/user/{user_id}/dismissed", json={"movie_id": movie_id})


def _dismissed_rows(db: Database, user_id: int) -> set[int]:
    with db.engine.connect() as connection:
        rows = connection.execute(
            text("SELECT movie_id FROM dismissed_movies WHERE user_id = :user"), {"user": user_id}
        )
        return {movie_id for (movie_id,) in rows}


def test_dismiss_is_idempotent_listed_newest_first_and_no_rating(  # type: ignore[no-untyped-def]
    client, loaded_db: Database
) -> None:
    rated_before = rated_movies(loaded_db, USER)
    first_movie, second_movie = 10, 20
    before = datetime.now(UTC)
    first = _dismiss(client, USER, first_movie)
    assert first.status_code == 201
    body = first.get_json()
    assert list(body) == ["dismissed_at", "movie_id", "user_id"]
    assert (body["movie_id"], body["user_id"]) == (first_movie, USER)
    dismissed_at = datetime.fromisoformat(body["dismissed_at"])
    assert body["dismissed_at"].endswith("+00:00")
    assert before <= dismissed_at <= datetime.now(UTC)
    # Again: nothing changes, the first time is kept.
    again = _dismiss(client, USER, first_movie)
    assert (again.status_code, again.get_json()) == (200, body)
    assert _dismiss(client, USER, second_movie).status_code == 201

    listed = client.get(f"/api/v1/user/{USER}/dismissed")
    assert listed.status_code == 200
    page = listed.get_json()
    assert (page["user_id"], page["limit"]) == (USER, 20)
    assert [item["movie"]["movie_id"] for item in page["dismissed"]] == [second_movie, first_movie]
    movie = client.get(f"/api/v1/movie/{first_movie}").get_json()
    assert page["dismissed"][1] == {
        "dismissed_at": body["dismissed_at"],
        # The fields every list shows (the movie's own page shows its content besides).
        "movie": {name: movie[name] for name in page["dismissed"][1]["movie"]},
    }
    assert list(page["dismissed"][1]["movie"]) == [
        "movie_id", "title", "year", "genres", "description",
    ]  # fmt: skip
    one = client.get(f"/api/v1/user/{USER}/dismissed?limit=1").get_json()
    assert [item["movie"]["movie_id"] for item in one["dismissed"]] == [second_movie]
    # Not a rating: the ratings are as they were.
    assert rated_movies(loaded_db, USER) == rated_before
    assert _dismissed_rows(loaded_db, USER) == {first_movie, second_movie}


def test_dismissed_movie_leaves_the_cached_list_and_comes_back(  # type: ignore[no-untyped-def]
    client, refreshed: Database, cache: CacheStore
) -> None:
    before = _recommended(client, USER)
    assert before == (cache.recommendations_for(USER) or [])[:20]
    gone = [before[0], before[7]]
    for movie in gone:
        assert _dismiss(client, USER, movie).status_code == 201
    after = _recommended(client, USER)
    cached = cache.recommendations_for(USER) or []
    assert after == [m for m in cached if m not in gone][:20]
    assert not set(after) & set(gone)
    for movie in gone:
        assert _undismiss(client, USER, movie).status_code == 200
    assert _recommended(client, USER) == before


def test_dismissed_movie_is_never_backfilled(  # type: ignore[no-untyped-def]
    client, refreshed: Database, cache: CacheStore
) -> None:
    cached = cache.recommendations_for(USER) or []
    rated = rated_movies(refreshed, USER)
    top = cache.top_movie_ids(0, 10_000) or []
    backfill = [m for m in top if m not in rated and m not in cached]
    # Asking for more than the cached list: the rest comes from the top movies ...
    assert _recommended(client, USER, 35) == cached + backfill[:5]
    assert _dismiss(client, USER, backfill[0]).status_code == 201
    # ... but never the dismissed one.
    assert _recommended(client, USER, 35) == cached + backfill[1:6]


def test_cold_start_skips_dismissed_movies(  # type: ignore[no-untyped-def]
    client, refreshed: Database, cache: CacheStore
) -> None:
    user_id = new_user(refreshed)
    top = cache.top_movie_ids(0, 10_000) or []
    assert _recommended(client, user_id, 10) == top[:10]
    for movie in (top[0], top[4]):
        assert _dismiss(client, user_id, movie).status_code == 201
    assert _recommended(client, user_id, 10) == [m for m in top if m not in (top[0], top[4])][:10]
    assert _undismiss(client, user_id, top[4]).status_code == 200
    assert _recommended(client, user_id, 10) == top[1:11]


def test_a_dismissed_movie_stays_out_when_its_rating_is_deleted(  # type: ignore[no-untyped-def]
    client, refreshed: Database, cache: CacheStore
) -> None:
    user_id = new_user(refreshed)
    top = cache.top_movie_ids(0, 10_000) or []
    rated = client.put(f"/api/v1/user/{user_id}/rating", json={"movie_id": top[0], "rating": 2})
    assert rated.status_code == 200
    assert _dismiss(client, user_id, top[0]).status_code == 201
    deleted = client.delete(f"/api/v1/user/{user_id}/rating", json={"movie_id": top[0]})
    assert deleted.status_code == 200
    assert top[0] not in _recommended(client, user_id, 10)


def test_unknown_user_movie_or_dismissal_is_404(client, loaded_db: Database) -> None:  # type: ignore[no-untyped-def]
    cases = [
        (_dismiss(client, 4242, 10), "user 4242 not found"),
        (_dismiss(client, USER, 15), "movie 15 not found"),
        (_undismiss(client, 4242, 10), "user 4242 not found"),
        (_undismiss(client, USER, 15), "movie 15 not found"),
        (_undismiss(client, USER, 10), f"user {USER} has not dismissed movie 10"),
        (client.get("/api/v1/user/4242/dismissed"), "user 4242 not found"),
    ]
    for response, message in cases:
        assert response.status_code == 404
        assert response.get_json() == {"error": {"status": 404, "message": message}}
    assert _dismissed_rows(loaded_db, USER) == set()


def test_bad_requests_are_400_or_415(client, loaded_db: Database) -> None:  # type: ignore[no-untyped-def]
    url = f"/api/v1/user/{USER}/dismissed"
    for body in ({"movie_id": "10"}, {"movie_id": True}, {}, {"movie_id": 10, "rating": 3}):
        response = client.put(url, json=body)
        assert response.status_code == 400, body
        assert response.get_json()["error"]["message"]
    assert client.put(url, data="movie_id=10").status_code == 415
    assert client.get(f"{url}?limit=0").status_code == 400
    assert _dismissed_rows(loaded_db, USER) == set()


def test_deleting_the_user_deletes_their_dismissals(client, loaded_db: Database) -> None:  # type: ignore[no-untyped-def]
    assert _dismiss(client, USER, 10).status_code == 201
    assert client.delete(f"/api/v1/user/{USER}").status_code == 200
    assert _dismissed_rows(loaded_db, USER) == set()
