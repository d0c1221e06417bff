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
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from movierec.cache import CacheStore
from movierec.cache.connection import REDIS_UNAVAILABLE
from movierec.cache.lists import NOTHING_PUBLISHED, PublishedList
from movierec.cache.signals import missing_reports
from movierec.cache.statistics import MovieStat
from movierec.db import Database
from movierec.db.repositories.movies import MovieDetails
from movierec.db.repositories.statistics import movie_aggregates
from movierec.recommender.lists import merge_recommendations
from movierec.recommender.statistics import rank_movies
from movierec.services.catalogue import MovieCatalogue
from movierec.services.movie_filters import NO_FILTER, MovieFilter, top_list_reads

log = logging.getLogger(__name__)

CACHE, DATABASE = "cache", "database"
# Long enough that a burst of requests during an outage costs one aggregate query per worker,
# short enough that the fallback list follows new ratings about as closely as a refresh would.
DATABASE_RANKING_TTL_SECONDS = 30.0


@dataclass(frozen=True)
class TopMovie:
    movie: MovieDetails
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

    def stats(self, n: int, offset: int = 0) -> list[MovieStat]:
        """Entries ``offset``..``offset + n - 1`` of the ranking."""
        return self._stats(slice(offset, offset + n))

    def stats_of(self, movie_ids: list[int]) -> list[MovieStat]:
        """The entries of ``movie_ids``, in that order (unknown ids left out)."""
        index = {int(m): i for i, m in enumerate(self.movie_ids)}
        return self._stats([index[m] for m in movie_ids if m in index])

    def _stats(self, where: slice | list[int]) -> list[MovieStat]:
        return [
            MovieStat(int(movie_id), int(votes), None if np.isnan(average) else float(average))
            for movie_id, votes, average in zip(
                self.movie_ids[where], self.votes[where], self.averages[where], strict=True
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
    """Why Redis cannot give the top list (None: it can, and an empty list is the truth). When
    nothing is published, the scheduler hears of it at once (``cache.signals``)."""
    if cache.published_version("stats") is None:
        missing_reports(cache).report("stats")
        return "no movie statistics published in Redis"
    return None


def fill_from_top(
    db: Database,
    cache: CacheStore,
    ranked: Sequence[int],
    exclude: set[int],
    limit: int,
    min_votes: int,
    matching: set[int] | None = None,
) -> tuple[list[int], str | None]:
    """The first ``limit`` of ``ranked`` then the top movies, without ``exclude`` and, with a
    filter, only movies in ``matching``; and where the top movies came from (CACHE, DATABASE;
    None: not needed). The published top list is read as deep as the filter needs
    (``top_list_reads``); without one in Redis (or without Redis) the database's ranking."""
    keep = None if matching is None else matching.__contains__
    chosen = merge_recommendations(ranked, (), exclude, limit, keep)
    if len(chosen) == limit:
        return chosen, None
    try:
        top = None
        for top in top_list_reads(cache, limit + len(exclude), matching):
            chosen = merge_recommendations(chosen, top, exclude, limit, keep)
            if len(chosen) == limit:
                return chosen, CACHE
        # An empty read is the truth only while the published version's keys are there.
        why = _unpublished(cache) if top == [] else None
        if top is not None and why is None:
            return chosen, CACHE
        if why is None:
            missing_reports(cache).report("stats")
            why = "no movie statistics published in Redis"
    except REDIS_UNAVAILABLE as error:
        why = f"Redis unavailable ({type(error).__name__})"
    ids = database_ranking(db, min_votes, why).movie_ids
    if matching is not None:
        ids = ids[np.isin(ids, np.fromiter(matching, np.int64, len(matching)))]
    return merge_recommendations(chosen, ids.tolist(), exclude, limit, keep), DATABASE


def stats_of_top_movies(
    db: Database, cache: CacheStore, movie_ids: Sequence[int], source: str | None, min_votes: int
) -> dict[int, MovieStat]:
    """The statistics of movies that ``fill_from_top`` took from the top list, from where it
    took them (``source``: CACHE, the published ones; DATABASE, the database's ranking);
    whatever Redis cannot give is left out."""
    if not movie_ids or source is None:
        return {}
    if source == DATABASE:
        stats = database_ranking(db, min_votes, "the top movies' statistics").stats_of(
            list(movie_ids)
        )
        return {stat.movie_id: stat for stat in stats}
    try:
        return cache.movie_stats(list(movie_ids)) or {}
    except REDIS_UNAVAILABLE:
        return {}


def top_movies(
    db: Database,
    cache: CacheStore,
    catalogue: MovieCatalogue,
    limit: int,
    min_votes: int,
    *,
    offset: int = 0,
    movie_filter: MovieFilter = NO_FILTER,
    catalogue_version: str | None = None,
) -> TopMovies:
    """The ``limit`` most rated movies (then best average) passing ``movie_filter``, after the
    first ``offset`` of them, with their statistics: the published ones, else the database's
    of now. Movie details come from ``catalogue`` (the process's copy, else the database), as of
    ``catalogue_version`` when the caller has just read it (``published_answer_versions``)."""
    if movie_filter:
        with db.session() as session:
            matching = movie_filter.matching_ids(session)
        wanted = min(offset + limit, len(matching))
        chosen, source = fill_from_top(db, cache, (), set(), wanted, min_votes, matching)
        chosen = chosen[offset:]
        if source == DATABASE:
            stats = database_ranking(db, min_votes, "filtered top movies").stats_of(chosen)
        else:
            source, stat_of = CACHE, cache.movie_stats(chosen) or {}
            stats = [stat_of[m] for m in chosen if m in stat_of]
    else:
        try:
            stats = cache.top_movies(offset, offset + limit)
            why = _unpublished(cache) if not stats else None
        except REDIS_UNAVAILABLE as error:
            stats, why = [], f"Redis unavailable ({type(error).__name__})"
        source = CACHE
        if why is not None:
            stats, source = database_ranking(db, min_votes, why).stats(limit, offset), DATABASE
    found = catalogue.movies_by_ids((stat.movie_id for stat in stats), catalogue_version)
    entries = [
        TopMovie(found[stat.movie_id], stat.votes, stat.avg_rating)
        for stat in stats
        if stat.movie_id in found
    ]
    return TopMovies(entries, source)


def published_answer_versions(cache: CacheStore) -> tuple[str, str] | None:
    """The statistics and catalogue versions a top-movies answer from the published statistics
    is a function of (with the query; published versions never change), or None when no
    statistics are published or Redis is down: the answer then comes from the database and
    must be computed each time."""
    try:
        statistics, catalogue = cache.statistics_and_catalogue_versions()
        if statistics is not None and catalogue is None:  # none yet: the first reader makes it
            catalogue = cache.catalogue_version()
    except REDIS_UNAVAILABLE:
        return None
    return None if statistics is None else (statistics, catalogue)


def published_list_or_none(cache: CacheStore, user_id: int) -> PublishedList:
    """The user's published list with its versions (``CacheStore.published_list``); nothing
    when Redis is down (the caller then falls back to the top movies, from the database if need
    be). No recommendations version at all (Redis restarted empty, say) is reported to the
    scheduler at once (``cache.signals``), so personalised lists come back within seconds."""
    try:
        published = cache.published_list(user_id)
    except REDIS_UNAVAILABLE as error:
        log.debug("Redis unavailable (%s): no cached list for user %d", error, user_id)
        return NOTHING_PUBLISHED
    if published.version is None:
        missing_reports(cache).report("recs")
    return published
