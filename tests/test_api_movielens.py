"""The original description's examples, on ml-latest-small (+ the TMDB overview sample)."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import pytest

from conftest import ML_SMALL, requires_movielens

pytestmark = requires_movielens(metadata=True)


@pytest.fixture
def api(ml_small_app):  # type: ignore[no-untyped-def]
    return ml_small_app.test_client()


def test_user_40_top_ratings(api) -> None:  # type: ignore[no-untyped-def]
    response = api.get("/api/v1/user/40/ratings/top?limit=5")
    assert response.status_code == 200
    body = response.get_json()
    assert (body["limit"], body["user_id"], len(body["ratings"])) == (5, 40, 5)
    first, second = body["ratings"][:2]
    assert first == {
        "is_implicit": False,
        "movie": {
            "movie_id": 685,
            "title": "It's My Party",
            "year": 1996,
            "genres": "Drama",
            "description": first["movie"]["description"],  # not in the TMDB sample
        },
        "rating": 5.0,
        "ts": "1996-05-14T07:54:02+00:00",
    }
    assert (second["movie"]["movie_id"], second["rating"]) == (82, 5.0)
    # movies.csv keeps the original title in parentheses: "Antonia's Line (Antonia)".
    assert second["movie"]["title"].startswith("Antonia's Line")
    assert second["ts"] == "1996-05-14T07:49:11+00:00"
    assert len(api.get("/api/v1/user/40/ratings/top").get_json()["ratings"]) == 20


def test_user_50_latest_ratings(api) -> None:  # type: ignore[no-untyped-def]
    body = api.get("/api/v1/user/50/ratings/latest?limit=5").get_json()
    assert body["limit"] == 5
    first, second = body["ratings"][:2]
    assert (first["movie"]["movie_id"], first["rating"], first["ts"]) == (
        1201,
        4.0,
        "2018-09-13T20:20:06+00:00",
    )
    assert first["movie"]["title"].startswith("The Good, the Bad and the Ugly")
    assert first["movie"]["year"] == 1966
    assert first["movie"]["description"].startswith("While the Civil War rages between the Union")
    # The rest straight from ratings.csv (the original's fragment shows an older data version).
    ratings = pd.read_csv(ML_SMALL / "ratings.csv")
    mine = ratings[ratings["userId"] == 50].sort_values(
        ["timestamp", "rating", "movieId"], ascending=[False, False, True]
    )
    assert [r["movie"]["movie_id"] for r in body["ratings"]] == mine["movieId"].head(5).tolist()
    assert [r["rating"] for r in body["ratings"]] == mine["rating"].head(5).tolist()
    assert second["ts"] == datetime.fromtimestamp(mine["timestamp"].iloc[1], UTC).isoformat()


def test_top_ratings_follow_the_data(api) -> None:  # type: ignore[no-untyped-def]
    ratings = pd.read_csv(ML_SMALL / "ratings.csv")
    mine = ratings[ratings["userId"] == 414].sort_values(
        ["rating", "timestamp", "movieId"], ascending=[False, False, True]
    )
    body = api.get("/api/v1/user/414/ratings/top?limit=1000").get_json()
    assert len(body["ratings"]) == min(len(mine), 1000)
    assert [r["movie"]["movie_id"] for r in body["ratings"]] == mine["movieId"].head(1000).tolist()


def test_movie_1193(api) -> None:  # type: ignore[no-untyped-def]
    assert api.get("/api/v1/movie/1193").get_json() == {
        "movie_id": 1193,
        "title": "One Flew Over the Cuckoo's Nest",
        "year": 1975,
        "genres": "Drama",
        "description": "While serving time for insanity at a state mental hospital, implacable "
        "rabble-rouser, Randle Patrick McMurphy inspires his fellow patients to rebel against "
        "the authoritarian rule of head nurse, Mildred Ratched.",
        "collection": None,  # TMDB has none for it
        "keywords": [
            "emotional",
            "jack nicholson",
            "mental illness",
        ],  # tags.csv, most applied first
        "retired": False,
        "new": None,  # no refresh in this module
    }


def test_new_user_gets_611(api) -> None:  # type: ignore[no-untyped-def]
    response = api.put("/api/v1/user", json={"gender": "M", "year_of_birth": "1982"})
    assert response.status_code == 201
    assert response.get_json() == {"gender": "M", "user_id": 611, "year_of_birth": 1982}
    # The original's answer, with `deleted` beside its (deprecated) `msg`.
    assert api.delete("/api/v1/user/611").get_json() == {
        "deleted": True, "msg": "deleted", "user_id": 611,
    }  # fmt: skip


def test_rating_example_of_user_30(api) -> None:  # type: ignore[no-untyped-def]
    body = api.put("/api/v1/user/30/rating", json={"movie_id": 251, "rating": 3.5}).get_json()
    assert (body["is_implicit"], body["movie_id"], body["rating"], body["user_id"]) == (
        False,
        251,
        3.5,
        30,
    )
    assert api.delete("/api/v1/user/30/rating", json={"movie_id": 251}).get_json() == {
        "deleted": True,
        "movie_id": 251,
        "msg": "deleted",
        "user_id": 30,
    }


def test_watched_example_of_user_60(api) -> None:  # type: ignore[no-untyped-def]
    assert api.put("/api/v1/user/60/watched", json={"movie_id": 261}).get_json() == {
        "movie_id": 261,
        "user_id": 60,
        "watched": True,
    }
    assert api.delete("/api/v1/user/60/watched", json={"movie_id": 261}).get_json() == {
        "movie_id": 261,
        "user_id": 60,
        "watched": False,
    }
