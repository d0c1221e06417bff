"""The sequential ranker served: a user who rates a movie through the API gets, on the very next
request, a list that leans towards what people rate after it, and the order of their ratings
decides which movie that is."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import ML_SMALL, requires_movielens
from movierec.cache import CacheStore
from movierec.config import Settings
from movierec.data.load import load_movielens
from movierec.db import Database
from movierec.jobs.refresh import refresh_recommendations, refresh_statistics
from movierec.recommender.blended import BlendedRanker

# Well-known dramas and thrillers: Forrest Gump, Pulp Fiction, The Shawshank Redemption, The
# Silence of the Lambs, Schindler's List, The Usual Suspects, Fargo, Se7en, Braveheart, Apollo 13.
PROFILE = [356, 296, 318, 593, 527, 50, 608, 47, 110, 150]
# Then The Lord of the Rings: The Fellowship of the Ring, rated last or first.
FELLOWSHIP = 4993


def _followers(cache: CacheStore, movie_id: int, n: int) -> list[int]:
    model = cache.serving_model()
    assert model is not None and model.ranker_name == "sequential"
    ranker = model.ranker.base if isinstance(model.ranker, BlendedRanker) else model.ranker
    row = ranker.transitions[int(model.columns(np.array([movie_id]))[0])]
    best = row.indices[np.argsort(-row.data, kind="stable")[:n]]
    return [int(m) for m in model.item_ids[best]]


def _list_after_rating(client, movies: list[int]) -> list[int]:  # type: ignore[no-untyped-def]
    user_id = client.put("/api/v1/user", json={"gender": "F", "year_of_birth": 1990}).get_json()[
        "user_id"
    ]
    for movie in movies:  # one after the other: each rating stamped when it is written
        response = client.put(
            f"/api/v1/user/{user_id}/rating", json={"movie_id": movie, "rating": 4.5}
        )
        assert response.status_code in (200, 201), response.get_json()
    body = client.get(f"/api/v1/user/{user_id}/recommendations?limit=50").get_json()
    assert body["source"] == "fold_in"
    return [movie["movie_id"] for movie in body["recommendations"]]


@requires_movielens()
@pytest.mark.slow
@pytest.mark.movielens
def test_the_next_list_leans_towards_what_people_rate_after_the_latest_movie(  # type: ignore[no-untyped-def]
    client, db: Database, cache: CacheStore, settings: Settings
) -> None:
    load_movielens(db, str(ML_SMALL), show_progress=False)
    refresh_statistics(db, cache, settings)
    refresh_recommendations(db, cache, settings.model_copy(update={"ranker": "sequential"}))
    # Its two most frequent followers (the other two films of the trilogy on MovieLens).
    followers = [m for m in _followers(cache, FELLOWSHIP, 5) if m not in PROFILE][:2]
    rated_last = _list_after_rating(client, PROFILE + [FELLOWSHIP])
    rated_first = _list_after_rating(client, [FELLOWSHIP] + PROFILE)
    # The same movies rated, only the order differs: what people rate after it comes higher in
    # the list of the user who rated it last.
    for follower in followers:
        assert follower in rated_last
        last = rated_last.index(follower)
        first = rated_first.index(follower) if follower in rated_first else len(rated_first)
        assert last < first, (follower, last, first)
