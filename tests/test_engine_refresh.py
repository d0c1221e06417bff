"""The refresh use-cases against the real database and Redis: train, score, publish, record
the run; failures midway; the lock; statistics equal to an in-memory computation."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import delete, select

from movierec.cache import CacheStore
from movierec.cache.locks import LockBusy
from movierec.cache.statistics import MovieStat
from movierec.config import Settings
from movierec.db import Database
from movierec.db.models import ModelRun, Rating
from movierec.db.repositories.ratings import ratings_frame
from movierec.db.repositories.statistics import movie_aggregates
from movierec.jobs.refresh import (
    list_length,
    ranker_config,
    refresh_recommendations,
    refresh_statistics,
    svd_params,
)
from movierec.recommender.statistics import aggregate_ratings
from movierec.recommender.training import NothingToTrain, train_svd


@pytest.fixture
def fast_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"model_n_factors": 8, "model_n_epochs": 10})


def _ratings(db: Database) -> pd.DataFrame:
    with db.engine.connect() as connection:
        return ratings_frame(connection)


def test_refresh_publishes_a_list_for_every_user_and_records_the_run(
    loaded_db: Database, cache: CacheStore, fast_settings: Settings
) -> None:
    report = refresh_recommendations(loaded_db, cache, fast_settings)
    ratings = _ratings(loaded_db)
    assert cache.current_version("recs") == report.version
    assert report.n_users == ratings["user_id"].nunique() == cache.recommendation_users()
    assert report.n_ratings == len(ratings)
    movies = set(ratings["movie_id"])
    length = list_length(fast_settings)
    assert length == fast_settings.top_n + fast_settings.recommendations_margin
    for user, rated in ratings.groupby("user_id")["movie_id"]:
        cached = cache.recommendations_for(int(user))
        assert cached is not None
        assert len(cached) == min(length, len(movies - set(rated)))
        assert len(set(cached)) == len(cached)
        assert not set(cached) & set(rated)
        assert set(cached) <= movies
    with loaded_db.session() as session:
        run = session.get(ModelRun, report.version)
        assert run is not None
        assert run.status == "succeeded"
        assert run.params["n_factors"] == 8 and run.params["n_epochs"] == 10
        assert (run.n_users, run.n_movies, run.n_ratings) == (
            report.n_users,
            report.n_movies,
            report.n_ratings,
        )
        assert run.fit_seconds > 0 and run.score_seconds > 0 and run.publish_seconds >= 0
        assert 0 < run.train_rmse < 1.5
        assert run.finished_at >= run.started_at
        assert run.ranker == report.ranker == fast_settings.ranker == "sequential"
        assert run.ranker_params == ranker_config(fast_settings)[1]
        assert run.rank_fit_seconds is not None and run.rank_fit_seconds > 0


def _surprise(ratings: pd.DataFrame, settings: Settings):  # type: ignore[no-untyped-def]
    return train_svd(ratings[["user_id", "movie_id", "rating"]], svd_params(settings)).algo


def test_published_stars_are_surprises_clipped_prediction(
    loaded_db: Database, cache: CacheStore, fast_settings: Settings
) -> None:
    refresh_recommendations(loaded_db, cache, fast_settings)
    algo = _surprise(_ratings(loaded_db), fast_settings)  # seeded: the refresh's own model
    for user in (1, 17, 42):
        cached = cache.cached_list(user)
        assert cached is not None and cached.movie_ids
        for movie in cached.movie_ids:
            expected = algo.predict(user, movie, clip=True).est
            assert cached.predicted_ratings[movie] == pytest.approx(expected, abs=5e-4)
        scores = [cached.scores[movie] for movie in cached.movie_ids]
        assert scores == sorted(scores, reverse=True)


def test_ranker_svd_ranks_by_surprises_estimate_as_before(
    loaded_db: Database, cache: CacheStore, fast_settings: Settings
) -> None:
    settings = fast_settings.model_copy(update={"ranker": "svd"})
    report = refresh_recommendations(loaded_db, cache, settings)
    ratings = _ratings(loaded_db)
    algo = _surprise(ratings, settings)
    rated = ratings.groupby("user_id")["movie_id"].apply(set)
    movies = sorted(set(ratings["movie_id"]))
    for user in (3, 30):
        estimates = sorted(
            (-algo.predict(user, m, clip=False).est, m) for m in movies if m not in rated[user]
        )
        assert cache.recommendations_for(user) == [m for _, m in estimates[: report.list_length]]
    with loaded_db.session() as session:
        assert session.get(ModelRun, report.version).ranker == "svd"


def test_the_default_ranker_does_not_rank_like_the_rating_model(
    loaded_db: Database, cache: CacheStore, fast_settings: Settings
) -> None:
    # The point of the two models: the default lists are not the SVD's estimate order.
    refresh_recommendations(loaded_db, cache, fast_settings)
    default = {user: cache.recommendations_for(user) for user in range(1, 21)}
    refresh_recommendations(loaded_db, cache, fast_settings.model_copy(update={"ranker": "svd"}))
    by_estimate = {user: cache.recommendations_for(user) for user in range(1, 21)}
    assert sum(default[u][:10] == by_estimate[u][:10] for u in default) < 5


def test_a_refresh_sees_ratings_added_since_the_last(
    loaded_db: Database, cache: CacheStore, fast_settings: Settings
) -> None:
    refresh_recommendations(loaded_db, cache, fast_settings)
    first = cache.recommendations_for(1)
    assert first
    with loaded_db.session() as session:
        session.add_all(
            Rating(user_id=1, movie_id=m, rating=4.0, ts=datetime.now(UTC)) for m in first[:3]
        )
    refresh_recommendations(loaded_db, cache, fast_settings)
    assert not set(first[:3]) & set(cache.recommendations_for(1) or [])


def test_a_refresh_failing_midway_leaves_the_previous_version_serving(
    loaded_db: Database, cache: CacheStore, fast_settings: Settings
) -> None:
    good = refresh_recommendations(loaded_db, cache, fast_settings)
    before = {user: cache.recommendations_for(user) for user in range(1, 61)}

    def fail_after_some_users(lists):  # type: ignore[no-untyped-def]
        for done, item in enumerate(lists):
            if done == 25:
                raise RuntimeError("scoring blew up")
            yield item

    settings = fast_settings.model_copy(update={"redis_chunk_size": 5})
    store = CacheStore(cache.url, cache.prefix, chunk_size=settings.redis_chunk_size)
    with pytest.raises(RuntimeError, match="scoring blew up"):
        refresh_recommendations(loaded_db, store, settings, lists_hook=fail_after_some_users)
    store.close()
    assert cache.current_version("recs") == good.version
    assert {user: cache.recommendations_for(user) for user in range(1, 61)} == before
    with loaded_db.session() as session:
        runs = {run.version: run for run in session.scalars(select(ModelRun))}
    failed = [run for run in runs.values() if run.status == "failed"]
    assert len(failed) == 1 and "scoring blew up" in (failed[0].error or "")
    assert failed[0].fit_seconds > 0  # the figures up to the failure are kept
    leftovers = list(cache.client.scan_iter(match=cache.key("recs", failed[0].version) + "*"))
    assert leftovers == []
    assert cache.lock_holder("recommendations") is None  # released despite the failure


def test_a_refresh_while_another_runs_is_refused(
    loaded_db: Database, cache: CacheStore, fast_settings: Settings
) -> None:
    with cache.hold_lock("recommendations"):
        with pytest.raises(LockBusy, match="another recommendations job is running"):
            refresh_recommendations(loaded_db, cache, fast_settings)
        report = refresh_statistics(loaded_db, cache, fast_settings)  # a different job
    assert report.n_movies == 120
    assert cache.current_version("recs") is None


def test_no_ratings_no_refresh(db: Database, cache: CacheStore, fast_settings: Settings) -> None:
    with pytest.raises(NothingToTrain):
        refresh_recommendations(db, cache, fast_settings)
    assert cache.current_version("recs") is None
    with db.session() as session:
        assert session.scalars(select(ModelRun)).all() == []


def test_movie_aggregates_query_equals_pandas(loaded_db: Database) -> None:
    with loaded_db.session() as session:  # a movie nobody rated must still be listed
        session.execute(delete(Rating).where(Rating.movie_id == 10))
    with loaded_db.engine.connect() as connection:
        from_sql = movie_aggregates(connection).set_index("movie_id")
    from_pandas = aggregate_ratings(_ratings(loaded_db)).set_index("movie_id")
    assert len(from_sql) == 120
    assert from_sql.loc[10, "votes"] == 0 and np.isnan(from_sql.loc[10, "avg_rating"])
    rated = from_sql.drop(index=10)
    pd.testing.assert_series_equal(rated["votes"], from_pandas["votes"], check_names=False)
    np.testing.assert_allclose(rated["avg_rating"], from_pandas["avg_rating"], rtol=1e-12)


def test_statistics_refresh_publishes_every_movie_in_top_order(
    loaded_db: Database, cache: CacheStore, settings: Settings
) -> None:
    report = refresh_statistics(loaded_db, cache, settings)
    assert cache.current_version("stats") == report.version
    ratings = _ratings(loaded_db)
    expected = aggregate_ratings(ratings).set_index("movie_id")
    top = cache.top_movies(0, 1000)
    assert len(top) == report.n_movies == 120
    limit = settings.stat_movie_users_lower_limit
    for stat in top:
        row = expected.loc[stat.movie_id]
        assert stat.votes == row["votes"]
        if row["votes"] >= limit:
            assert stat.avg_rating == pytest.approx(row["avg_rating"], abs=1e-12)
        else:
            assert stat.avg_rating is None
    keys = [
        (-s.votes, -(s.avg_rating if s.avg_rating is not None else -1), s.movie_id) for s in top
    ]
    assert keys == sorted(keys)
    some = top[0]
    assert cache.movie_stat(some.movie_id) == MovieStat(some.movie_id, some.votes, some.avg_rating)
