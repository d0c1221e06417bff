"""The two refresh use-cases: recommendations (train two models, score, publish) and movie
statistics.

A recommendations refresh trains the rating model (Surprise's SVD: the stars shown beside each
movie) and the ranking model (RANKER: what decides the list), places the movies with few or no
ratings by their content (``recommender.content``: the movies of the catalogue that are not
retired are served, new ones included), ranks every user's unrated movies with the ranker and
publishes each list with the ranker's scores and the predicted stars. The job never branches
on the algorithm: every ranker follows ``recommender.ranking.Ranker``.

Both hold a Redis job lock for their whole run, so two schedulers, or a scheduler and an
operator's ``movierec train``, never run the same refresh at once (the second gets
``LockBusy``). Both publish a complete new version to Redis and switch readers to it in one
step; if anything fails before the switch, the previous version keeps serving.
"""

from __future__ import annotations

import gc
import logging
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import numpy as np
import redis
from tqdm import tqdm

from movierec.cache import CacheStore
from movierec.cache.statistics import MovieStat
from movierec.cache.versions import new_version
from movierec.config import Settings
from movierec.db import Database
from movierec.db.repositories import model_runs
from movierec.db.repositories.dismissed import dismissed_arrays
from movierec.db.repositories.movies import catalogue_content
from movierec.db.repositories.ratings import ratings_arrays
from movierec.db.repositories.statistics import movie_aggregates
from movierec.jobs import arms
from movierec.recommender.content import ContentParams, place_by_content
from movierec.recommender.data import InteractionMatrix, positions
from movierec.recommender.explanations import liked_items
from movierec.recommender.just_watched import UserFollowers
from movierec.recommender.params import RANKER_PARAM_SETTINGS
from movierec.recommender.ranker_registry import TIME_AWARE_RANKERS, ranker_params
from movierec.recommender.scoring import (
    RatedItems,
    ScoredList,
    with_predicted_ratings,
)
from movierec.recommender.statistics import rank_movies
from movierec.recommender.training import NothingToTrain, SVDParams, fit_svd, training_rmse

log = logging.getLogger(__name__)

# Every user's list (movies best first, scores, predicted stars) on its way to Redis.
UserLists = Iterator[ScoredList]
ListsHook = Callable[[UserLists], UserLists]

RECOMMENDATIONS_JOB = "recommendations"
STATISTICS_JOB = "statistics"


@dataclass(frozen=True)
class RecommendationsReport:
    version: str
    n_users: int
    n_movies: int
    n_ratings: int
    list_length: int
    ranker: str
    load_seconds: float
    fit_seconds: float
    rank_fit_seconds: float
    score_seconds: float
    publish_seconds: float
    train_rmse: float
    total_seconds: float
    content_seconds: float = 0.0  # placing the movies with few or no ratings by content
    new_movies: int = 0  # served movies with fewer than CONTENT_WARM_RATINGS ratings

    def summary(self) -> str:
        return (
            f"recommendations {self.version}: {self.n_users:,} users x {self.n_movies:,} movies "
            f"from {self.n_ratings:,} ratings (train RMSE {self.train_rmse:.4f}); "
            f"ranked by {self.ranker}; load {self.load_seconds:.1f}s, "
            f"fit SVD {self.fit_seconds:.1f}s, fit {self.ranker} {self.rank_fit_seconds:.1f}s, "
            f"content {self.content_seconds:.1f}s ({self.new_movies:,} new movies), "
            f"score {self.score_seconds:.1f}s, publish {self.publish_seconds:.1f}s, "
            f"total {self.total_seconds:.1f}s"
        )


@dataclass(frozen=True)
class StatisticsReport:
    version: str
    n_movies: int
    n_rated: int
    n_with_average: int
    seconds: float

    def summary(self) -> str:
        return (
            f"statistics {self.version}: {self.n_movies:,} movies, {self.n_rated:,} rated, "
            f"{self.n_with_average:,} with an average; {self.seconds:.1f}s"
        )


def svd_params(settings: Settings) -> SVDParams:
    return SVDParams(
        n_factors=settings.model_n_factors,
        n_epochs=settings.model_n_epochs,
        lr_all=settings.model_lr_all,
        reg_all=settings.model_reg_all,
        random_state=settings.model_random_state,
    )


def ranker_config(settings: Settings, name: str | None = None) -> tuple[str, dict[str, object]]:
    """The configured ranker's (or ranker ``name``'s) name and its full parameters from the
    settings (defaults filled in)."""
    name = name or settings.ranker
    given = {
        param: getattr(settings, setting)
        for param, setting in RANKER_PARAM_SETTINGS.get(name, {}).items()
    }
    if name == "als":
        given["random_state"] = settings.model_random_state or 0
    return name, ranker_params(name, given)


def scoring_threads(settings: Settings) -> int:
    """SCORING_THREADS, else one per core this process may run on."""
    return settings.scoring_threads or max(1, len(os.sched_getaffinity(0)))


def content_params(settings: Settings) -> ContentParams:
    return ContentParams(warm_ratings=settings.content_warm_ratings)


def served_movie_ids(
    rated_ids: np.ndarray, catalogue_ids: np.ndarray, retired_ids: np.ndarray, with_content: bool
) -> np.ndarray:
    """The movies the lists may hold: with the content model every movie of the catalogue,
    else those someone has rated; never a retired one (its ratings still train the models)."""
    candidates = np.union1d(rated_ids, catalogue_ids) if with_content else rated_ids
    return np.setdiff1d(candidates, retired_ids, assume_unique=True)


def list_length(settings: Settings) -> int:
    """Movies kept per user: TOP_N plus a margin, so that the movies a user rates before the
    next refresh can be dropped at read time without falling back to the top movies."""
    return settings.top_n + settings.recommendations_margin


class _ScoringClock:
    def __init__(self, total_users: int, show_progress: bool) -> None:
        self.seconds = 0.0
        self.bar = tqdm(total=total_users, unit="users", desc="scoring", disable=not show_progress)

    def __call__(self, users: int, seconds: float) -> None:
        self.seconds += seconds
        self.bar.update(users)


def _now() -> datetime:
    return datetime.now(UTC)


def refresh_recommendations(
    db: Database,
    cache: CacheStore,
    settings: Settings,
    *,
    show_progress: bool = False,
    lists_hook: ListsHook | None = None,
) -> RecommendationsReport:
    """Train on every rating in the database, rank every user's unrated movies and publish
    the lists as a new Redis version. Raises ``LockBusy`` when another refresh is running,
    ``NothingToTrain`` when there are no ratings.

    ``lists_hook`` wraps the stream of lists on its way to Redis (tests use it to fail midway).
    """
    with cache.hold_lock(RECOMMENDATIONS_JOB):
        return _refresh_recommendations(db, cache, settings, show_progress, lists_hook)


def _refresh_recommendations(
    db: Database,
    cache: CacheStore,
    settings: Settings,
    show_progress: bool,
    lists_hook: ListsHook | None,
) -> RecommendationsReport:
    started = time.perf_counter()
    version = new_version()
    params = svd_params(settings)
    # The RANKER, or one ranker per arm of an A/B experiment (jobs.arms).
    experiment = settings.configured_experiment()
    planned = arms.plans(settings, experiment, ranker_config)
    ranker_name, ranker_settings = planned[0].name, planned[0].params
    log.info("recommendations refresh %s: loading ratings", version)
    # Read first: a load changes ratings before it announces a new catalogue version, so while
    # this one is current the lists miss no loaded rating (else the web tier reads the user's).
    catalogue_version = cache.catalogue_version()
    # Ratings written after this moment may be missing from the model: the web tier folds in
    # a user whose latest write is newer (a little early is harmless, late would not be).
    ratings_read_at = time.time()
    with db.engine.connect() as connection:
        # Flat arrays, no Python object per rating; with their times only when a ranker
        # learns from the order of the ratings (8 bytes a rating more).
        ratings = ratings_arrays(
            connection, with_timestamps=any(plan.name in TIME_AWARE_RANKERS for plan in planned)
        )
        dismissed_users, dismissed_movies = dismissed_arrays(connection)
        content, retired_ids = catalogue_content(connection)
    load_seconds = time.perf_counter() - started
    if ratings.empty:
        raise NothingToTrain("there are no ratings in the database to train on")
    with db.session() as session:
        model_runs.start_run(
            session, version, params.as_dict(), _now(), ranker_name, ranker_settings,
            experiment=arms.run_record(planned, experiment),
        )  # fmt: skip
    figures: dict[str, object] = {"n_ratings": len(ratings), "load_seconds": load_seconds}
    try:
        log.info(
            "recommendations refresh %s: training SVD on %s ratings with %s",
            version,
            f"{len(ratings):,}",
            params.as_dict(),
        )
        # Surprise's SVD.fit reproduced bit for bit on the arrays (recommender.sgd): the same
        # model as surprise.SVD, without its per-rating Python objects.
        trained = fit_svd(ratings, params)
        model = trained.model
        figures.update(
            n_users=model.n_users, n_movies=model.n_items, fit_seconds=trained.fit_seconds
        )
        figures["train_rmse"] = training_rmse(model, ratings)
        del trained
        gc.collect()

        log.info(
            "recommendations refresh %s: training %s", version, arms.describe(planned, experiment)
        )
        rank_started = time.perf_counter()
        interactions = InteractionMatrix.from_ratings(ratings, model.user_ids, model.item_ids)
        # The stars as read (float64: the matrix keeps float32), for the reasons of each list.
        liked = liked_items(model, ratings.user_ids, ratings.movie_ids, ratings.ratings)
        del ratings
        threads = scoring_threads(settings)
        fitted = [
            arms.fit(
                plan,
                interactions,
                model,
                params.reg_all,
                min_votes=settings.stat_movie_users_lower_limit,
                threads=threads,
            )
            for plan in planned
        ]
        figures["rank_fit_seconds"] = time.perf_counter() - rank_started
        interactions = replace(interactions, times=None)  # fitted: times done
        # The movies served: new ones placed by content, retired ones left out (the models'
        # user side keeps what their ratings taught it). Each arm's ranker has its own space.
        log.info("recommendations refresh %s: placing movies by content", version)
        with_content = settings.content_model
        served = served_movie_ids(model.item_ids, content.movie_ids, retired_ids, with_content)
        warm = content_params(settings)
        counts = interactions.item_counts()
        placements = [
            place_by_content(arm.ranker, content if with_content else None, counts, warm, served)
            for arm in fitted
        ]
        del content
        figures["content_seconds"] = sum(placement.seconds for placement in placements)
        figures["new_movies"] = int((placements[0].counts < warm.warm_ratings).sum())
        # The rating model on the same movies (a new one: Surprise's "unknown movie" estimate).
        fitted_ids, model = model.item_ids, model.with_items(served)
        moved = positions(served, fitted_ids)  # old column -> served column, -1: retired
        liked = liked.remapped(moved)
        # "Because you just watched" (a sequential ranker) weighs each user's ratings of the
        # served movies, as the web tier folds them in: read from the ratings while they last.
        arm_followers = [UserFollowers.of(arm.ranker, interactions.matrix, moved) for arm in fitted]
        # With each movie's number of ratings: what its vector rests on, which similar movies
        # weigh it by (the statistics may be newer than the vectors, or missing), and what
        # makes it new; and the content mapping, which places a movie created since.
        trained_rankers = [
            arms.servable(
                arm,
                model,
                params.reg_all,
                ratings_read_at,
                catalogue_version,
                followers,
                item_votes=placement.counts,
                content_map=placement.content_map if with_content else None,
                warm_ratings=warm.warm_ratings,
            )  # fmt: skip
            for arm, placement, followers in zip(fitted, placements, arm_followers, strict=True)
        ]
        # Neither rated nor dismissed: a list is served as published (services.recommendations).
        excluded = (
            RatedItems.from_matrix(interactions.matrix)
            .remapped(moved)
            .including(RatedItems.from_ratings(model, dismissed_users, dismissed_movies))
        )
        n_users = len(interactions.user_ids)
        del interactions, arm_followers

        clock = _ScoringClock(n_users, show_progress)
        publish_started = time.perf_counter()
        ranked = arms.ranked_lists(
            trained_rankers,
            experiment,
            excluded,
            list_length(settings),
            memory_bytes=settings.scoring_memory_mb * 2**20,
            threads=threads,
            on_batch=clock,
        )
        lists: UserLists = arms.explained(
            with_predicted_ratings(ranked, model), trained_rankers, experiment, model, liked
        )
        if lists_hook is not None:
            lists = lists_hook(lists)
        with clock.bar:
            cache.publish_recommendations(
                lists, version=version, **arms.publication(trained_rankers, experiment)
            )
        _forget_changes_before(cache, ratings_read_at)
        figures["score_seconds"] = clock.seconds
        figures["publish_seconds"] = time.perf_counter() - publish_started - clock.seconds
    except BaseException as error:
        with db.session() as session:
            model_runs.fail_run(
                session, version, _now(), f"{type(error).__name__}: {error}", **figures
            )
        raise
    with db.session() as session:
        model_runs.finish_run(session, version, _now(), **figures)
    report = RecommendationsReport(
        version=version,
        list_length=list_length(settings),
        ranker=arms.describe(planned, experiment),
        total_seconds=time.perf_counter() - started,
        **figures,  # type: ignore[arg-type]
    )
    return report


def _forget_changes_before(cache: CacheStore, ratings_read_at: float) -> None:
    # The published lists know every change marked before their ratings were read. Kept when
    # Redis fails now: an old mark costs a user one answer computed from their ratings.
    try:
        cache.forget_changes_before(ratings_read_at)
    except redis.RedisError as error:
        log.warning("cannot drop the change marks before the refresh: %s", error)


def refresh_statistics(db: Database, cache: CacheStore, settings: Settings) -> StatisticsReport:
    """Recompute every movie's votes and average and the top list, and publish them as a new
    Redis version. Raises ``LockBusy`` when another statistics refresh is running."""
    with cache.hold_lock(STATISTICS_JOB):
        started = time.perf_counter()
        with db.engine.connect() as connection:
            aggregates = movie_aggregates(connection)
        ranked = rank_movies(aggregates, settings.stat_movie_users_lower_limit)
        averages = ranked["avg_rating"].to_numpy()
        stats = (
            MovieStat(int(movie_id), int(votes), None if np.isnan(avg) else float(avg))
            for movie_id, votes, avg in zip(
                ranked["movie_id"].to_numpy(), ranked["votes"].to_numpy(), averages, strict=True
            )
        )
        version = cache.publish_statistics(stats)
        report = StatisticsReport(
            version=version,
            n_movies=len(ranked),
            n_rated=int((ranked["votes"] > 0).sum()),
            n_with_average=int((~np.isnan(averages)).sum()),
            seconds=time.perf_counter() - started,
        )
    return report
