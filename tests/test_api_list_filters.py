"""Genre and year filters and pagination (``genres``, ``year_min``, ``year_max``, ``offset``) on
GET /api/v1/user/<id>/recommendations and GET /api/v1/movies/top, on both back ends: filters
apply before the limit (the list is read deeper than the cached list to fill it), pages do not
overlap, bad values are a 400 naming the parameter."""

from __future__ import annotations

import pytest

from conftest import rated_movies
from movierec.cache import CacheStore
from movierec.db import Database
from movierec.db.models import Movie
from movierec.services import movie_filters

# Synthetic data set (conftest.small_movielens): 120 movies 10..1200, the i-th of genre
# ["Drama", "Comedy", "Action|Adventure", "Thriller|Crime", "Animation|Children"][i % 5] and
# year 1950 + i % 70 (none when i % 17 == 5): 24 comedies.
USER = 7


@pytest.fixture(autouse=True, params=["top list read deeper", "matching movies ranked"])
def top_list_way(request, monkeypatch):  # type: ignore[no-untyped-def]
    """Both ways of finding the top movies that pass a filter: on this small catalogue every
    filter matches few enough movies to be ranked from their statistics, unless told not to."""
    if request.param == "top list read deeper":
        monkeypatch.setattr(movie_filters, "RANK_MATCHING_UP_TO", 0)
    return request.param


def _catalogue(db: Database) -> dict[int, Movie]:
    with db.session() as session:
        return {movie.movie_id: movie for movie in session.query(Movie)}


def _genres(movie: dict | Movie) -> set[str]:  # type: ignore[type-arg]
    genres = movie["genres"] if isinstance(movie, dict) else movie.genres
    return set((genres or "").split("|"))


def _recommendations(client, query: str, user_id: int = USER) -> dict:  # type: ignore[no-untyped-def, type-arg]
    response = client.get(f"/api/v1/user/{user_id}/recommendations?{query}")
    assert response.status_code == 200, response.get_json()
    return response.get_json()  # type: ignore[no-any-return]


def _ids(movies: list[dict]) -> list[int]:  # type: ignore[type-arg]
    return [movie["movie_id"] for movie in movies]


def _top(client, query: str) -> list[dict]:  # type: ignore[no-untyped-def, type-arg]
    response = client.get(f"/api/v1/movies/top?{query}")
    assert response.status_code == 200, response.get_json()
    return [entry["movie"] for entry in response.get_json()["top_movies"]]


def test_a_genre_fills_the_limit_from_beyond_the_cached_list(  # type: ignore[no-untyped-def]
    client, refreshed: Database, cache: CacheStore
) -> None:
    catalogue = _catalogue(refreshed)
    comedies = {m for m, movie in catalogue.items() if "Comedy" in _genres(movie)}
    cached = cache.recommendations_for(USER) or []
    rated = rated_movies(refreshed, USER)
    top = cache.top_movie_ids(0, 10_000) or []
    in_cached = [m for m in cached if m in comedies]
    from_top = [m for m in top if m in comedies and m not in rated and m not in cached]
    limit = len(in_cached) + 3  # more than the cached list holds
    assert len(from_top) >= 3

    body = _recommendations(client, f"genres=Comedy&limit={limit}")
    assert _ids(body["recommendations"]) == in_cached + from_top[:3]
    assert all(movie["genres"] == "Comedy" for movie in body["recommendations"])
    assert (body["source"], body["backfilled"]) == ("model", 3)
    # Case-insensitive, any of several; spaces and empty items do not matter.
    either = _recommendations(client, "genres=comedy,%20DRAMA,&limit=25")["recommendations"]
    assert len(either) == 25
    assert all(_genres(movie) & {"Comedy", "Drama"} for movie in either)
    assert {"Comedy", "Drama"} <= set().union(*(_genres(movie) for movie in either))
    # Everything there is: fewer than asked for, none rated, all comedies.
    everything = _ids(_recommendations(client, "genres=Comedy&limit=1000")["recommendations"])
    assert set(everything) == comedies - rated
    assert len(everything) == len(set(everything))


def test_year_range_and_genre_together(client, refreshed: Database) -> None:  # type: ignore[no-untyped-def]
    catalogue = _catalogue(refreshed)
    rated = rated_movies(refreshed, USER)
    query = "genres=Action,Thriller&year_min=1960&year_max=1990&limit=1000"
    got = _recommendations(client, query)["recommendations"]
    expected = {
        m
        for m, movie in catalogue.items()
        if _genres(movie) & {"Action", "Thriller"}
        and movie.year is not None
        and 1960 <= movie.year <= 1990
        and m not in rated
    }
    assert set(_ids(got)) == expected and expected
    assert all(1960 <= movie["year"] <= 1990 for movie in got)
    # A bound leaves out the movies of unknown year; no bound keeps them.
    no_year = {m for m, movie in catalogue.items() if movie.year is None}
    assert no_year
    assert not set(_ids(_top(client, "year_min=1800&limit=1000"))) & no_year
    assert no_year <= set(_ids(_top(client, "limit=1000")))
    one_year = _top(client, "year_min=1975&year_max=1975&limit=1000")
    assert one_year and {movie["year"] for movie in one_year} == {1975}
    # Nothing matches: an empty list, not an error.
    assert _recommendations(client, "year_min=2090")["recommendations"] == []
    assert _top(client, "genres=Western") == []


def test_offset_pages_recommendations_without_overlap(  # type: ignore[no-untyped-def]
    client, refreshed: Database, cache: CacheStore
) -> None:
    whole = _ids(_recommendations(client, "limit=45")["recommendations"])
    pages = [
        _ids(_recommendations(client, f"limit=15&offset={offset}")["recommendations"])
        for offset in (0, 15, 30)
    ]
    assert [len(page) for page in pages] == [15, 15, 15]
    assert pages[0] + pages[1] + pages[2] == whole
    # A page past the cached list: backfilled from the top movies, counted as such.
    body = _recommendations(client, "limit=10&offset=25")
    assert (body["source"], body["backfilled"]) == ("model", 5)
    # Filtered pages: the same list, cut at other places.
    comedies = _ids(_recommendations(client, "genres=Comedy&limit=12")["recommendations"])
    first = _ids(_recommendations(client, "genres=Comedy&limit=5")["recommendations"])
    second = _ids(_recommendations(client, "genres=Comedy&limit=7&offset=5")["recommendations"])
    assert first + second == comedies
    far = _recommendations(client, "genres=Comedy&offset=1000")["recommendations"]
    assert far == []


def test_top_movies_filtered_and_paged(  # type: ignore[no-untyped-def]
    client, refreshed: Database, cache: CacheStore
) -> None:
    catalogue = _catalogue(refreshed)
    top = cache.top_movie_ids(0, 10_000) or []
    action = [m for m in top if "Action" in _genres(catalogue[m])]
    assert len(action) == 24
    response = client.get("/api/v1/movies/top?genres=action&limit=10")
    entries = response.get_json()["top_movies"]
    assert [entry["movie"]["movie_id"] for entry in entries] == action[:10]
    stat = cache.movie_stat(action[0])
    assert stat is not None and entries[0]["votes"] == stat.votes
    assert _ids(_top(client, "genres=Action&limit=10&offset=10")) == action[10:20]
    assert _ids(_top(client, "genres=Action&limit=10&offset=20")) == action[20:24]
    assert _ids(_top(client, "limit=5&offset=3")) == top[3:8]
    assert _ids(_top(client, "offset=10000")) == []


def test_cold_start_is_filtered_too(client, refreshed: Database, cache: CacheStore) -> None:  # type: ignore[no-untyped-def]
    from movierec.db.models import User

    with refreshed.session() as session:
        user = User()
        session.add(user)
        session.flush()
        user_id = user.user_id
    catalogue = _catalogue(refreshed)
    top = cache.top_movie_ids(0, 10_000) or []
    animated = [m for m in top if "Animation" in _genres(catalogue[m])]
    body = _recommendations(client, "genres=Animation&limit=8", user_id)
    assert _ids(body["recommendations"]) == animated[:8]
    assert (body["source"], body["backfilled"]) == ("popular", 8)
    # Dismissed movies stay out of filtered lists as well.
    put = client.put(f"/api/v1/user/{user_id}/dismissed", json={"movie_id": animated[0]})
    assert put.status_code == 201
    again = _recommendations(client, "genres=Animation&limit=8", user_id)
    assert _ids(again["recommendations"]) == animated[1:9]


@pytest.mark.parametrize(
    ("query", "field", "says"),
    [
        ("genres=Comdy", "genres", "known genres: Action, Adventure"),
        ("genres=Comedy,Nope,Zap", "genres", "unknown genres 'Nope', 'Zap'"),
        ("genres=" + "x" * 501, "genres", "at most 500"),
        ("year_min=2000&year_max=1990", "year_max", "must not be before year_min (2000)"),
        ("year_min=abc", "year_min", "valid integer"),
        ("year_max=1700", "year_max", "greater than or equal to 1800"),
        ("year_min=2101", "year_min", "less than or equal to 2100"),
        ("offset=-1", "offset", "greater than or equal to 0"),
        ("offset=10001", "offset", "less than or equal to 10000"),
        ("offset=1.5", "offset", "valid integer"),
    ],
)
def test_bad_filter_values_are_400(client, refreshed: Database, query, field, says) -> None:  # type: ignore[no-untyped-def]
    for url in (f"/api/v1/user/{USER}/recommendations", "/api/v1/movies/top"):
        response = client.get(f"{url}?{query}")
        assert response.status_code == 400, (url, query)
        message = response.get_json()["error"]["message"]
        assert message.startswith(f"{field}: ") and says in message, message


def test_filters_are_in_the_openapi_document(client) -> None:  # type: ignore[no-untyped-def]
    document = client.get("/api/v1/openapi.json").get_json()
    for path in ("/api/v1/user/{user_id}/recommendations", "/api/v1/movies/top"):
        parameters = {p["name"]: p for p in document["paths"][path]["get"]["parameters"]}
        assert {"genres", "year_min", "year_max", "offset", "limit"} <= set(parameters)
        assert "Film-Noir" in parameters["genres"]["description"]
    dismissed = document["paths"]["/api/v1/user/{user_id}/dismissed"]
    assert set(dismissed) == {"get", "put", "delete"}
    assert {"200", "201", "404"} <= set(dismissed["put"]["responses"])
