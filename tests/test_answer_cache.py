"""Finished top-movies answers kept per process under the published versions they were made
from: the same bytes while nothing is published, a new answer once statistics or
the catalogue change, and never a kept answer for what came from the database."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from conftest import recorded_calls
from movierec.answer_cache import AnswerCache
from movierec.cache import CacheStore
from movierec.config import Settings
from movierec.db import Database
from movierec.db.models import Rating, User
from movierec.jobs.refresh import refresh_statistics
from movierec.services import top_movies as top_movies_service
from movierec.services.catalogue import announce_new_catalogue


@pytest.fixture
def builds(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many top-movies answers were computed (not taken from the kept ones), by limit."""
    return recorded_calls(monkeypatch, top_movies_service, "top_movies", 3)


def test_the_same_query_on_the_same_versions_is_answered_with_the_kept_bytes(  # type: ignore[no-untyped-def]
    client, refreshed: Database, builds: list[int]
) -> None:
    first = client.get("/api/v1/movies/top?limit=7")
    again = client.get("/api/v1/movies/top?limit=7")
    assert first.status_code == again.status_code == 200
    assert again.data == first.data and first.get_json()["source"] == "cache"
    assert builds == [7]
    other = client.get("/api/v1/movies/top?limit=7&offset=2").get_json()["top_movies"]
    assert other[:5] == first.get_json()["top_movies"][2:]  # a query of its own
    assert builds == [7, 7]
    comedies = client.get("/api/v1/movies/top?limit=7&genres=comedy").get_json()["top_movies"]
    assert all("Comedy" in entry["movie"]["genres"] for entry in comedies)
    assert builds == [7, 7, 7]


def test_new_statistics_or_a_new_catalogue_make_a_new_answer(  # type: ignore[no-untyped-def]
    client, refreshed: Database, cache: CacheStore, fast_settings: Settings, builds: list[int]
) -> None:
    before = client.get("/api/v1/movies/top?limit=3").get_json()["top_movies"]
    last = before[-1]["movie"]["movie_id"]
    # Enough new users rate the third movie to put it first, and the statistics are published.
    votes_needed = before[0]["votes"] - before[-1]["votes"] + 1
    with refreshed.session() as session:
        users = [User(gender="F") for _ in range(votes_needed)]
        session.add_all(users)
        session.flush()
        session.add_all(
            Rating(user_id=u.user_id, movie_id=last, rating=5.0, ts=datetime.now(UTC))
            for u in users
        )
    refresh_statistics(refreshed, cache, fast_settings)
    after = client.get("/api/v1/movies/top?limit=3").get_json()["top_movies"]
    assert after[0]["movie"]["movie_id"] == last and after[0]["votes"] > before[0]["votes"]
    assert builds == [3, 3]
    assert announce_new_catalogue(cache) is None
    assert client.get("/api/v1/movies/top?limit=3").get_json()["top_movies"] == after
    assert builds == [3, 3, 3]  # computed again, though to the same movies


def test_answers_from_the_database_are_never_kept(  # type: ignore[no-untyped-def]
    client, loaded_db: Database, cache: CacheStore, builds: list[int]
) -> None:
    assert cache.current_version("stats") is None
    for _ in range(2):
        assert client.get("/api/v1/movies/top?limit=5").get_json()["source"] == "database"
    assert builds == [5, 5]


def test_the_kept_answers_are_bounded_least_recently_used_first() -> None:
    answers = AnswerCache(max_answers=2)
    answers.put("a", "1")
    answers.put("b", "2")
    assert answers.get("a") == "1"  # now the most recently used
    answers.put("c", "3")
    assert (answers.get("a"), answers.get("b"), answers.get("c")) == ("1", None, "3")
    assert len(answers) == 2
    none_kept = AnswerCache(max_answers=0)
    none_kept.put("a", "1")
    assert none_kept.get("a") is None and len(none_kept) == 0
