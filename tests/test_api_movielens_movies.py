"""Similar movies and title search on ml-latest-small, with what the real refreshes publish: a
franchise's films find each other, films rated by a handful of people do not crowd the lists of
well-known ones, and the title that is the query comes first."""

from __future__ import annotations

import pandas as pd
import pytest

from conftest import ML_SMALL, requires_movielens
from movierec.cache import CacheStore
from movierec.config import Settings
from movierec.db import Database
from movierec.jobs.refresh import refresh_recommendations, refresh_statistics

pytestmark = requires_movielens()

STAR_WARS_IV, STAR_WARS_V, STAR_WARS_VI = 260, 1196, 1210
TOY_STORY, TOY_STORY_2 = 1, 3114


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
def votes() -> pd.Series:
    return pd.read_csv(ML_SMALL / "ratings.csv").groupby("movieId").size()


def _similar(api, movie_id: int, limit: int = 10) -> list[dict]:  # type: ignore[no-untyped-def]
    response = api.get(f"/api/v1/movie/{movie_id}/similar?limit={limit}")
    assert response.status_code == 200, response.get_json()
    return response.get_json()["similar"]


def test_a_franchise_finds_its_own_films(api, votes: pd.Series) -> None:  # type: ignore[no-untyped-def]
    found = _similar(api, STAR_WARS_IV)
    # Each with the votes its similarity rests on: the ratings the model was trained on.
    assert [entry["votes"] for entry in found] == [int(votes[e["movie_id"]]) for e in found]
    star_wars = [entry["movie_id"] for entry in found]
    assert {STAR_WARS_V, STAR_WARS_VI} <= set(star_wars[:5]), star_wars
    toy_story = [entry["movie_id"] for entry in _similar(api, TOY_STORY)]
    assert TOY_STORY_2 in toy_story, toy_story


def test_movies_few_people_rated_do_not_crowd_the_lists_of_well_known_ones(  # type: ignore[no-untyped-def]
    api, votes: pd.Series, settings: Settings
) -> None:
    # With the plain cosine, a fifth of these slots went to films with fewer than 5 ratings.
    most_rated = votes.sort_values(ascending=False, kind="stable").index[:100]
    slots = [entry["movie_id"] for m in most_rated for entry in _similar(api, int(m))]
    assert len(slots) == 10 * len(most_rated)
    rare = sum(votes.get(m, 0) < settings.stat_movie_users_lower_limit for m in slots)
    assert rare / len(slots) < 0.05


def test_the_title_that_is_the_query_comes_first(api) -> None:  # type: ignore[no-untyped-def]
    # MovieLens: "Terminator, The (1984)", 131 ratings, after four "Terminator ..." titles.
    response = api.get("/api/v1/movies/search?q=terminator")
    assert response.status_code == 200
    found = [(m["title"], m["votes"]) for m in response.get_json()["movies"]]
    assert found[0] == ("The Terminator", 131)
    assert [votes for _, votes in found[1:]] == sorted((v for _, v in found[1:]), reverse=True)
