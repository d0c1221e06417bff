"""A user's published list served as it stands, without a query, and only while
nothing can have made it out of date: the user's writes through any process (the Redis mark,
and the database's record when the mark is lost), a load, a list too short for the page.
On the real back ends; two apps stand for two web processes."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from flask import Flask

from conftest import counted_queries, make_test_app, recorded_calls
from movierec.cache import CacheStore
from movierec.config import Settings
from movierec.db import Database
from movierec.db.repositories import users as users_repo
from movierec.jobs.refresh import refresh_recommendations
from movierec.services import recommendations as recommendations_service
from movierec.services.changes import COMMIT_MARGIN_SECONDS, RecentChanges

USERS = (3, 7, 12, 25, 41)


@pytest.fixture
def apps(settings: Settings, refreshed: Database, cache: CacheStore) -> Iterator[list[Flask]]:
    """Two apps on the same back ends, each with its own process state (catalogue, model,
    recently changed users), that read the database's record at most once an hour: what a
    test sees of another app's write came through Redis."""
    first, second = make_test_app(settings), make_test_app(settings)
    pair = [next(first), next(second)]
    for app in pair:
        app.extensions["movierec.changes"].check_seconds = 3600.0
    yield pair
    for generator in (first, second):
        next(generator, None)


def _get(app: Flask, user_id: int, query: str = "") -> dict:  # type: ignore[type-arg]
    response = app.test_client().get(f"/api/v1/user/{user_id}/recommendations{query}")
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_an_unchanged_users_list_is_served_without_a_query_and_as_the_longer_way_serves_it(
    apps: list[Flask], cache: CacheStore
) -> None:
    app = apps[0]
    pages = {"": (0, 20), "?limit=5&offset=3": (3, 5), "?limit=30": (0, 30)}
    for user in USERS:  # the first answers of a process read the movies and the changes
        _get(app, user, "?limit=30")
    quick = {}
    for query, (offset, limit) in pages.items():
        with counted_queries(app.extensions["movierec.db"]) as statements:
            quick[query] = {user: _get(app, user, query) for user in USERS}
        assert statements == [], query
        for user, answer in quick[query].items():
            assert answer["source"] == "model"
            ids = [m["movie_id"] for m in answer["recommendations"]]
            assert ids == (cache.recommendations_for(user) or [])[offset : offset + limit]
    assert any("because" in m for a in quick[""].values() for m in a["recommendations"])
    # Marked changed (at a time after the refresh read the ratings, though nothing changed):
    # each answer reads the user's ratings, computes the reasons anew, and is the same.
    for user in USERS:
        cache.mark_user_changed(user, time.time())
    for query in pages:
        with counted_queries(app.extensions["movierec.db"]) as statements:
            assert {user: _get(app, user, query) for user in USERS} == quick[query], query
        assert len(statements) >= len(USERS)


def test_every_write_through_one_process_shows_in_the_next_answer_of_another(
    apps: list[Flask], cache: CacheStore, refreshed: Database
) -> None:
    writer = apps[0].test_client()
    user = USERS[0]
    listed = [m["movie_id"] for m in _get(apps[1], user)["recommendations"]]
    rated = writer.put(f"/api/v1/user/{user}/rating", json={"movie_id": listed[0], "rating": 2})
    assert rated.status_code == 200
    answer = _get(apps[1], user)
    assert answer["source"] == "fold_in"
    assert listed[0] not in [m["movie_id"] for m in answer["recommendations"]]

    other = USERS[1]
    listed = [m["movie_id"] for m in _get(apps[1], other)["recommendations"]]
    assert (
        writer.put(f"/api/v1/user/{other}/dismissed", json={"movie_id": listed[1]}).status_code
        == 201
    )
    assert listed[1] not in [m["movie_id"] for m in _get(apps[1], other)["recommendations"]]

    third = USERS[2]
    listed = [m["movie_id"] for m in _get(apps[1], third)["recommendations"]]
    assert (
        writer.put(f"/api/v1/user/{third}/watched", json={"movie_id": listed[2]}).status_code == 200
    )
    assert listed[2] not in [m["movie_id"] for m in _get(apps[1], third)["recommendations"]]


def test_a_deleted_user_is_not_found_though_a_refresh_under_way_published_their_list(
    apps: list[Flask], cache: CacheStore, refreshed: Database
) -> None:
    user = USERS[3]
    listed = cache.published_list(user).cached
    assert listed is not None and _get(apps[1], user)["source"] == "model"
    assert apps[0].test_client().delete(f"/api/v1/user/{user}").status_code == 200
    # A refresh that read the ratings before the deletion publishes the user's list again.
    version = cache.current_version("recs")
    cache.client.hset(cache.key("recs", version), str(user), "1:0.5:4.000:,2:0.4:3.000:")
    response = apps[1].test_client().get(f"/api/v1/user/{user}/recommendations")
    assert response.status_code == 404, response.get_json()


def test_a_lost_redis_mark_is_made_good_from_the_database_within_the_check_interval(
    apps: list[Flask], cache: CacheStore, refreshed: Database
) -> None:
    writer, reader = apps
    user = USERS[4]
    listed = [m["movie_id"] for m in _get(reader, user)["recommendations"]]
    assert (
        writer.test_client()
        .put(f"/api/v1/user/{user}/rating", json={"movie_id": listed[0], "rating": 1})
        .status_code
        == 200
    )
    cache.client.hdel(cache.key("users", "changed"), str(user))  # the mark never arrived
    # The reader read the database's record less than its interval ago: the list it serves
    # is the published one, out of date for at most that long ...
    assert _get(reader, user)["source"] == "model"
    # ... and once the interval has passed, the record shows.
    reader.extensions["movierec.changes"].check_seconds = 0.0
    answer = _get(reader, user)
    assert answer["source"] == "fold_in"
    assert listed[0] not in [m["movie_id"] for m in answer["recommendations"]]


def test_after_a_load_or_with_a_page_beyond_the_list_the_answer_reads_the_ratings(
    apps: list[Flask], cache: CacheStore, refreshed: Database
) -> None:
    app = apps[0]
    user = USERS[0]
    _get(app, user)
    with counted_queries(app.extensions["movierec.db"]) as statements:
        _get(app, user, "?limit=25&offset=10")  # past the published 30: topped up
    assert statements
    cache.new_catalogue_version()  # a load: it may have changed the user's ratings
    with counted_queries(app.extensions["movierec.db"]) as statements:
        assert _get(app, user)["source"] == "model"
    assert statements


def test_the_refresh_leaves_dismissed_movies_out_and_forgets_the_marks_it_has_read(
    apps: list[Flask], cache: CacheStore, refreshed: Database, fast_settings: Settings
) -> None:
    client = apps[0].test_client()
    user = USERS[1]
    listed = cache.recommendations_for(user) or []
    for movie in listed[:3]:
        assert (
            client.put(f"/api/v1/user/{user}/dismissed", json={"movie_id": movie}).status_code
            == 201
        )
    assert cache.published_list(user).changed_at is not None
    refresh_recommendations(refreshed, cache, fast_settings)
    assert not set(listed[:3]) & set(cache.recommendations_for(user) or [])
    assert cache.published_list(user).changed_at is None  # read by this refresh


def test_the_database_record_counts_a_change_stamped_shortly_before_the_read(
    refreshed: Database,
) -> None:
    # Stamped before its commit: a refresh may read the ratings between the two, so a change
    # up to COMMIT_MARGIN_SECONDS older than the read still counts; an older one does not.
    read_at = time.time()
    with refreshed.session() as session:
        users_repo.mark_changed(session, 3, datetime.fromtimestamp(read_at - 10, UTC))
        users_repo.mark_changed(session, 7, datetime.fromtimestamp(read_at - 60, UTC))
    changes = RecentChanges(refreshed, check_seconds=0.0)
    assert COMMIT_MARGIN_SECONDS < 60
    assert changes.changed_after(3, read_at)
    assert not changes.changed_after(7, read_at)
    assert not changes.changed_after(12, read_at)  # never changed
    assert changes.changed_after(7, read_at - 45)  # an older refresh: read again, from further back


@pytest.fixture
def builds(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The users whose recommendations were built (not answered with kept bytes)."""
    return recorded_calls(monkeypatch, recommendations_service, "recommend", 4)


def test_an_unchanged_page_asked_again_is_answered_with_the_kept_bytes(
    apps: list[Flask],
    cache: CacheStore,
    refreshed: Database,
    fast_settings: Settings,
    builds: list[int],
) -> None:
    client = apps[0].test_client()
    user, path = USERS[0], f"/api/v1/user/{USERS[0]}/recommendations"
    first = client.get(path)
    assert first.status_code == 200 and first.get_json()["source"] == "model"
    assert client.get(path).data == first.data
    assert builds == [user]
    assert (
        client.get(f"{path}?limit=5").get_json()["recommendations"]
        == (first.get_json()["recommendations"][:5])
    )
    assert client.get(f"{path}?genres=Drama").status_code == 200  # filtered: never kept
    assert client.get(f"{path}?genres=Drama").status_code == 200
    assert builds == [user] * 4
    # Another user's answer is theirs, and a write of the user's is seen at once.
    assert client.get(f"/api/v1/user/{USERS[1]}/recommendations").data != first.data
    listed = [m["movie_id"] for m in first.get_json()["recommendations"]]
    apps[1].test_client().put(
        f"/api/v1/user/{user}/rating", json={"movie_id": listed[0], "rating": 3}
    )
    rated = client.get(path).get_json()
    assert rated["source"] == "fold_in" and listed[0] not in [
        m["movie_id"] for m in rated["recommendations"]
    ]
    # The next refresh publishes new lists: built again, then kept again.
    refresh_recommendations(refreshed, cache, fast_settings)
    del builds[:]
    refreshed_answer = client.get(path)
    assert refreshed_answer.get_json()["source"] == "model"
    assert client.get(path).data == refreshed_answer.data
    assert builds == [user]


def test_with_no_answers_kept_every_answer_is_built(
    settings: Settings, refreshed: Database, builds: list[int]
) -> None:
    made = make_test_app(settings.model_copy(update={"recommendation_answers_kept": 0}))
    client = next(made).test_client()
    path = f"/api/v1/user/{USERS[2]}/recommendations"
    assert client.get(path).data == client.get(path).data
    assert builds == [USERS[2]] * 2
    next(made, None)
