"""Filters, pagination and dismissed movies on ml-latest-small, with the lists the real jobs
publish: a genre fills the limit from far beyond the cached list, a rare genre from deep in the
top list."""

from __future__ import annotations

import pandas as pd
import pytest

from conftest import ML_SMALL, rated_movies, requires_movielens
from movierec.cache import CacheStore
from movierec.config import Settings
from movierec.db import Database
from movierec.jobs.refresh import refresh_recommendations, refresh_statistics

pytestmark = requires_movielens()

USER = 51  # rated more than 300 movies: the exclusion set is large


@pytest.fixture
def api(ml_small_app, session_db: Database, settings: Settings):  # type: ignore[no-untyped-def]
    cache: CacheStore = ml_small_app.extensions["movierec.cache"]
    if cache.current_version("stats") is None:  # once per back end
        refresh_statistics(session_db, cache, settings)
    if cache.current_version("recs") is None:
        quick = settings.model_copy(update={"model_n_epochs": 10})
        refresh_recommendations(session_db, cache, quick)
    return ml_small_app.test_client()


@pytest.fixture(scope="module")
def genres_of() -> dict[int, set[str]]:
    movies = pd.read_csv(ML_SMALL / "movies.csv")
    return {
        int(m): set(g.split("|")) for m, g in zip(movies["movieId"], movies["genres"], strict=True)
    }


def _ids(response, key: str = "recommendations") -> list[int]:  # type: ignore[no-untyped-def]
    assert response.status_code == 200, response.get_json()
    items = response.get_json()[key]
    return [item["movie"]["movie_id"] if "movie" in item else item["movie_id"] for item in items]


def test_ten_comedies_for_a_heavy_rater(api, session_db: Database, genres_of) -> None:  # type: ignore[no-untyped-def]
    cache: CacheStore = api.application.extensions["movierec.cache"]
    cached = cache.recommendations_for(USER) or []
    rated = rated_movies(session_db, USER)
    got = _ids(api.get(f"/api/v1/user/{USER}/recommendations?genres=Comedy&limit=10"))
    assert len(got) == len(set(got)) == 10
    assert all("Comedy" in genres_of[m] for m in got)
    assert not set(got) & rated
    in_cached = [m for m in cached if "Comedy" in genres_of[m]]
    assert got[: len(in_cached)] == in_cached[:10]
    # Pages of the same filtered list do not overlap and continue it.
    more = _ids(api.get(f"/api/v1/user/{USER}/recommendations?genres=Comedy&limit=10&offset=10"))
    assert len(more) == 10 and not set(more) & set(got)
    both = _ids(api.get(f"/api/v1/user/{USER}/recommendations?genres=Comedy&limit=20"))
    assert both == got + more


def test_a_rare_genre_from_deep_in_the_top_list(api, genres_of) -> None:  # type: ignore[no-untyped-def]
    cache: CacheStore = api.application.extensions["movierec.cache"]
    top = cache.top_movie_ids(0, 100_000) or []
    noir = [m for m in top if "Film-Noir" in genres_of[m]]
    assert len(noir) == 87
    assert top.index(noir[19]) > 1000  # the 20th is far down the list
    got = _ids(api.get("/api/v1/movies/top?genres=film-noir&limit=20"), "top_movies")
    assert got == noir[:20]
    assert _ids(api.get("/api/v1/movies/top?genres=Film-Noir&offset=80"), "top_movies") == noir[80:]
    forties = api.get("/api/v1/movies/top?genres=Film-Noir&year_min=1940&year_max=1949")
    entries = forties.get_json()["top_movies"]
    assert entries and all(1940 <= entry["movie"]["year"] <= 1949 for entry in entries)
    assert [entry["movie"]["movie_id"] for entry in entries] == [
        m for m in noir if m in {entry["movie"]["movie_id"] for entry in entries}
    ]  # in top order


def test_dismissed_comedies_are_replaced(api, session_db: Database) -> None:  # type: ignore[no-untyped-def]
    url = f"/api/v1/user/{USER}/recommendations?genres=Comedy&limit=10"
    before = _ids(api.get(url))
    for movie in before[:3]:
        put = api.put(f"/api/v1/user/{USER}/dismissed", json={"movie_id": movie})
        assert put.status_code == 201
    after = _ids(api.get(url))
    assert len(after) == 10 and not set(after) & set(before[:3])
    assert after[:7] == before[3:]
    listed = _ids(api.get(f"/api/v1/user/{USER}/dismissed"), "dismissed")
    assert listed == before[:3][::-1]  # most recently dismissed first
    for movie in before[:3]:
        assert (
            api.delete(f"/api/v1/user/{USER}/dismissed", json={"movie_id": movie}).status_code
            == 200
        )
    assert _ids(api.get(url)) == before
