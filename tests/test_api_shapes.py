"""One shape for one kind of answer, and a document that says it: every list echoes its page
(`limit`, and `offset` where it takes one), every list of movies is flat (the movie's fields
with what the list adds), every DELETE of a resource answers `deleted`, and the old fields a
client may read are still there for this version, marked deprecated in the OpenAPI document."""

from __future__ import annotations

import pytest

from movierec.cache import CacheStore
from movierec.config import Settings
from movierec.db import Database

MOVIE_FIELDS = {"movie_id", "title", "year", "genres", "description"}
USER = 3  # of the synthetic set (conftest.small_movielens): users 1..60, movies 10..1200


def _get(client, path: str) -> dict:  # type: ignore[no-untyped-def]
    response = client.get(path)
    assert response.status_code == 200, (path, response.get_json())
    return response.get_json()


@pytest.mark.parametrize(
    ("path", "default", "with_offset"),
    [
        (f"/api/v1/user/{USER}/recommendations", 20, True),
        ("/api/v1/movies/top", 100, True),
        (f"/api/v1/user/{USER}/ratings/top", 20, False),
        (f"/api/v1/user/{USER}/ratings/latest", 20, False),
        (f"/api/v1/user/{USER}/dismissed", 20, False),
        ("/api/v1/movies/search?q=movie", 20, False),
        ("/api/v1/movie/10/similar", 10, False),
    ],
)
def test_every_list_echoes_its_page(  # type: ignore[no-untyped-def]
    client, refreshed: Database, path: str, default: int, with_offset: bool
) -> None:
    joiner = "&" if "?" in path else "?"
    assert _get(client, path)["limit"] == default
    asked = _get(client, f"{path}{joiner}limit=3" + ("&offset=2" if with_offset else ""))
    assert asked["limit"] == 3
    if with_offset:
        assert asked["offset"] == 2 and _get(client, path)["offset"] == 0
    else:
        assert "offset" not in asked


def test_lists_of_movies_are_flat(client, refreshed: Database, cache: CacheStore) -> None:  # type: ignore[no-untyped-def]
    top = _get(client, "/api/v1/movies/top?limit=5")["top_movies"]
    found = _get(client, "/api/v1/movies/search?q=movie&limit=5")["movies"]
    similar = _get(client, "/api/v1/movie/10/similar?limit=5")["similar"]
    recommended = _get(client, f"/api/v1/user/{USER}/recommendations?limit=5")["recommendations"]
    for entries, extra in [
        (top, {"avg_rating", "votes", "movie"}),
        (found, {"votes"}),
        (similar, {"score", "votes"}),
        (recommended, {"predicted_rating", "score", "new", "because", "because_kind"}),
    ]:
        assert entries
        for entry in entries:
            assert MOVIE_FIELDS <= set(entry) <= MOVIE_FIELDS | extra, entry
    # A reason comes with its kind: the liked movies it is like, or (the default ranker is
    # time-aware) the one just watched that it follows.
    for entry in recommended:
        assert ("because" in entry) == ("because_kind" in entry), entry
        assert entry.get("because_kind", "liked") in ("liked", "just_watched")
    for entry in top:  # the nested movie of earlier answers: the same fields, for one version
        assert entry["movie"] == {name: entry[name] for name in MOVIE_FIELDS}


def test_a_cold_start_list_says_what_each_movie_was_chosen_by(  # type: ignore[no-untyped-def]
    client, refreshed: Database, cache: CacheStore, settings: Settings
) -> None:
    new = client.put("/api/v1/user", json={}).get_json()["user_id"]
    body = _get(client, f"/api/v1/user/{new}/recommendations?limit=5")
    assert body["source"] == "popular" and body["backfilled"] == 5
    top = _get(client, "/api/v1/movies/top?limit=5")["top_movies"]
    for entry, movie in zip(body["recommendations"], top, strict=True):
        assert (entry["movie_id"], entry["votes"], entry["avg_rating"]) == (
            movie["movie_id"], movie["votes"], movie["avg_rating"],
        )  # fmt: skip
        assert entry["score"] is None and entry["predicted_rating"] is None
    # A ranked movie carries its prediction instead.
    ranked = _get(client, f"/api/v1/user/{USER}/recommendations?limit=5")["recommendations"]
    assert all("votes" not in entry and entry["score"] is not None for entry in ranked)


def test_every_delete_of_a_resource_answers_deleted(client, refreshed: Database) -> None:  # type: ignore[no-untyped-def]
    rated = _get(client, f"/api/v1/user/{USER}/ratings/latest?limit=1")["ratings"][0]
    movie = rated["movie"]["movie_id"]
    assert client.put(f"/api/v1/user/{USER}/dismissed", json={"movie_id": 20}).status_code in (
        200, 201,
    )  # fmt: skip
    answers = {
        "rating": client.delete(f"/api/v1/user/{USER}/rating", json={"movie_id": movie}),
        "dismissed": client.delete(f"/api/v1/user/{USER}/dismissed", json={"movie_id": 20}),
        "user": client.delete(f"/api/v1/user/{USER}"),
    }
    expected = {
        "rating": {"movie_id": movie, "user_id": USER},
        "dismissed": {"movie_id": 20, "user_id": USER},
        "user": {"user_id": USER},
    }
    for what, response in answers.items():
        assert response.status_code == 200, (what, response.get_json())
        # `msg` kept for this version (deprecated), beside the ids and `deleted`.
        assert response.get_json() == {"deleted": True, "msg": "deleted", **expected[what]}


def test_the_document_states_the_shapes_the_scales_and_the_rules(client, db: Database) -> None:  # type: ignore[no-untyped-def]
    document = _get(client, "/api/v1/openapi.json")
    schemas = document["components"]["schemas"]
    for name in ("UserDeletedOut", "RatingDeletedOut", "DismissalDeletedOut"):
        properties = schemas[name]["properties"]
        assert properties["msg"].get("deprecated") is True, name
        assert properties["deleted"]["description"], name
    assert schemas["TopMovieOut"]["properties"]["movie"].get("deprecated") is True
    for name in ("RecommendationsOut", "TopMoviesOut", "SimilarMoviesOut", "MovieSearchOut"):
        assert "limit" in schemas[name]["required"], name
    score = schemas["RecommendedMovieOut"]["properties"]["score"]["description"]
    assert "RANKER_RATING_WEIGHT" in score and "1.5" in score
    # The kinds of reason a client may be given, and what each names.
    kind = schemas["RecommendedMovieOut"]["properties"]["because_kind"]
    assert {"enum": ["liked", "just_watched"], "type": "string"} in kind["anyOf"]
    assert "sequential" in kind["description"] and "latest ratings" in kind["description"]
    assert "because_kind" not in schemas["RecommendedMovieOut"].get("required", [])
    similar = schemas["SimilarMovieOut"]["properties"]["score"]["description"]
    assert "-1 to 1" in similar and "STAT_MOVIE_USERS_LOWER_LIMIT" in similar
    # The year range a client must respect, in the parameters' own descriptions.
    for path in ("/api/v1/movies/top", "/api/v1/user/{user_id}/recommendations"):
        parameters = {p["name"]: p for p in document["paths"][path]["get"]["parameters"]}
        assert "not after `year_max`" in parameters["year_min"]["description"]
        assert "year_min=2099&year_max=1800` is a 400" in parameters["year_max"]["description"]
