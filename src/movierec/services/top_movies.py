"""Top movies from the published statistics in Redis, or else from the database.

Redis restarted empty, a statistics version whose keys vanished, or Redis down altogether must
not turn top movies and cold start into 503s until the scheduler republishes: the same ranking
(``rank_movies`` over ``movie_aggregates``, one aggregate query) is then computed from the
database, kept in this process for ``DATABASE_RANKING_TTL_SECONDS`` so a burst of requests
costs one query, and answered with ``source: "database"`` instead of ``"cache"``.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from dataclasses import dataclass

import numpy as np

from movierec.cache import CacheStore
from movierec.cache.store import REDIS_UNAVAILABLE, CachedList, MovieStat
from movierec.db import Database
from movierec.db.models import Movie
from movierec.db.repositories.movies import movies_by_ids
from movierec.db.repositories.statistics import movie_aggregates
from movierec.recommender.statistics import rank_movies

log = logging.getLogger(__name__)

CACHE, DATABASE = "cache", "database"
# Long enough that a burst of requests during an outage costs one aggregate query per worker,
# short enough that the fallback list follows new ratings about as closely as a refresh would.
DATABASE_RANKING_TTL_SECONDS = 30.0


@dataclass(frozen=True)
class TopMovie:
    movie: Movie
    votes: int
    avg_rating: float | None


@dataclass(frozen=True)
class TopMovies:
    entries: list[TopMovie]
    source: str  # CACHE or DATABASE


@dataclass(frozen=True)
class _Ranking:
    movie_ids: np.ndarray
    votes: np.ndarray
    averages: np.ndarray  # NaN below the votes limit
    expires: float

    def stats(self, n: int) -> list[MovieStat]:
        return [
            MovieStat(int(movie_id), int(votes), None if np.isnan(average) else float(average))
            for movie_id, votes, average in zip(
                self.movie_ids[:n], self.votes[:n], self.averages[:n], strict=True
            )
        ]


# Per database handle (an app's, a test's) and votes limit; forgotten with the handle.
_rankings: weakref.WeakKeyDictionary[Database, dict[int, _Ranking]] = weakref.WeakKeyDictionary()
_rankings_lock = threading.Lock()


def database_ranking(db: Database, min_votes: int, why: str) -> _Ranking:
    """Every movie in top order, computed by the database (cached briefly in this process)."""
    with _rankings_lock:  # one query per expiry, not one per waiting request
        ranking = _rankings.get(db, {}).get(min_votes)
        if ranking is not None and ranking.expires > time.monotonic():
            return ranking
        log.warning("%s: top movies computed from the database", why)
        with db.engine.connect() as connection:
            ranked = rank_movies(movie_aggregates(connection), min_votes)
        ranking = _Ranking(
            ranked["movie_id"].to_numpy(),
            ranked["votes"].to_numpy(),
            ranked["avg_rating"].to_numpy(),
            time.monotonic() + DATABASE_RANKING_TTL_SECONDS,
        )
        _rankings.setdefault(db, {})[min_votes] = ranking
        return ranking


def _unpublished(cache: CacheStore) -> str | None:
    """Why Redis cannot give the top list (None: it can, and an empty list is the truth)."""
    if cache.published_version("stats") is None:
        return "no movie statistics published in Redis"
    return None


def top_movie_ids_or_database(
    db: Database, cache: CacheStore, n: int, min_votes: int
) -> tuple[list[int], str]:
    """The first ``n`` movie ids of the top list and where they came from (CACHE/DATABASE)."""
    try:
        ids = cache.top_movie_ids(0, n)
        why = "no movie statistics published in Redis" if ids is None else None
        if ids == [] and n > 0:
            why = _unpublished(cache)
    except REDIS_UNAVAILABLE as error:
        ids, why = None, f"Redis unavailable ({type(error).__name__})"
    if why is None and ids is not None:
        return ids, CACHE
    ranking = database_ranking(db, min_votes, why or "no top list in Redis")
    return [int(m) for m in ranking.movie_ids[:n]], DATABASE


def top_movies(db: Database, cache: CacheStore, limit: int, min_votes: int) -> TopMovies:
    """The ``limit`` most rated movies (then best average), with their statistics: the
    published ones, else the database's of now."""
    try:
        stats: list[MovieStat] = cache.top_movies(0, limit)
        why = _unpublished(cache) if not stats else None
    except REDIS_UNAVAILABLE as error:
        stats, why = [], f"Redis unavailable ({type(error).__name__})"
    source = CACHE
    if why is not None:
        stats, source = database_ranking(db, min_votes, why).stats(limit), DATABASE
    with db.session() as session:
        found = movies_by_ids(session, (stat.movie_id for stat in stats))
    entries = [
        TopMovie(found[stat.movie_id], stat.votes, stat.avg_rating)
        for stat in stats
        if stat.movie_id in found
    ]
    return TopMovies(entries, source)


def cached_list_or_none(cache: CacheStore, user_id: int) -> CachedList | None:
    """The user's cached list, or None when there is none or Redis is down (the caller then
    falls back to the top movies, from the database if need be)."""
    try:
        return cache.cached_list(user_id)
    except REDIS_UNAVAILABLE as error:
        log.debug("Redis unavailable (%s): no cached list for user %d", error, user_id)
        return None
