"""Recommendations and top movies, served from the lists the last refresh cached in Redis and
corrected for what the user has done since.

The cached lists were ranked by the ranking model (RANKER) and carry its scores and the rating
model's predicted stars; movies taken from the top list to fill a list up carry neither.

A request costs one query for the movies the user rated, watched or dismissed (as of now, and
whether the user exists), one Redis read of their cached list, at most one Redis read of the top
list (for cold start or backfill) and one query for the movie details. A genre or year filter
adds one query (the ids of the matching movies) and, when few movies match, a few more reads of
the top list (``top_list_reads``); ``offset`` skips that many of the movies that pass.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from movierec.cache import CacheStore
from movierec.cache.store import CachedList, MovieStat
from movierec.db import Database
from movierec.db.models import Movie
from movierec.db.repositories.movies import movies_by_ids
from movierec.db.repositories.user_history import excluded_movie_ids_of_user
from movierec.recommender.lists import merge_recommendations
from movierec.services.errors import NotFound, ServiceError
from movierec.services.movie_filters import NO_FILTER, MovieFilter, top_list_reads

log = logging.getLogger(__name__)


class NotReady(ServiceError):
    """What the answer needs has not been computed yet (no statistics published so far)."""


@dataclass(frozen=True)
class TopMovie:
    movie: Movie
    votes: int
    avg_rating: float | None


# Where a list came from: the user's own ranked list, or the top movies (a user the last
# refresh did not know). A list of the first kind may end with top movies (``backfilled``).
SOURCE_MODEL = "model"
SOURCE_POPULAR = "popular"


@dataclass(frozen=True)
class Recommendation:
    movie: Movie
    score: float | None  # the ranking model's; None for a movie from the top list
    predicted_rating: float | None  # the rating model's (stars); None where not predicted


@dataclass(frozen=True)
class Recommendations:
    items: list[Recommendation]
    source: str  # SOURCE_MODEL | SOURCE_POPULAR
    backfilled: int  # how many items came from the top movies


def recommend(
    db: Database,
    cache: CacheStore,
    user_id: int,
    limit: int,
    *,
    offset: int = 0,
    movie_filter: MovieFilter = NO_FILTER,
) -> Recommendations:
    """Up to ``limit`` movies for the user, best first, none of which they rated, watched or
    dismissed, all passing ``movie_filter``, after skipping the first ``offset`` such movies.

    A user with a cached list gets it minus what they rated since, filled up from the top
    movies; a user without one (new since the last refresh, or nothing cached) gets the top
    movies they have not rated. Raises ``NotFound`` for an unknown user, ``NotReady`` when
    nothing can be recommended because no statistics have been published yet.
    """
    wanted = offset + limit
    matching: set[int] | None = None
    with db.session() as session:
        exclude = excluded_movie_ids_of_user(session, user_id)
        if exclude is None:
            raise NotFound(f"user {user_id} not found")
        if movie_filter:
            matching = movie_filter.matching_ids(session)
            # No deeper than the matching movies the user may get: the search ends there.
            wanted = min(wanted, len(matching - exclude))
        cached = cache.cached_list(user_id) or CachedList([], {}, {})
        chosen = _pick(cache, cached.movie_ids, exclude, wanted, matching)[offset:]
        movies = movies_by_ids(session, chosen)
        # Checked on the page only: a movie gone before ``offset`` shifts later pages by one.
        gone = set(chosen) - movies.keys()
        if gone:  # cached before they left the catalogue: pick again without them
            log.warning("cached movies no longer in the catalogue: %s", sorted(gone))
            chosen = _pick(cache, cached.movie_ids, exclude | gone, wanted, matching)[offset:]
            movies = movies_by_ids(session, chosen)
    ranked = set(cached.movie_ids)
    items = [
        Recommendation(
            movies[m],
            cached.scores.get(m) if m in ranked else None,
            cached.predicted_ratings.get(m) if m in ranked else None,
        )
        for m in chosen
        if m in movies
    ]
    return Recommendations(
        items=items,
        source=SOURCE_MODEL if cached.movie_ids else SOURCE_POPULAR,
        backfilled=sum(1 for item in items if item.movie.movie_id not in ranked),
    )


def _pick(
    cache: CacheStore,
    cached: Sequence[int],
    exclude: set[int],
    limit: int,
    matching: set[int] | None = None,
) -> list[int]:
    """The first ``limit`` of ``cached`` then the top movies, without ``exclude``, and only
    movies in ``matching`` when a filter gave that."""
    keep = None if matching is None else matching.__contains__
    chosen = merge_recommendations(cached, (), exclude, limit, keep)
    if len(chosen) == limit:
        return chosen
    # Deep enough that ``limit`` remain after skipping every excluded or already chosen movie;
    # with a filter, deeper and deeper until ``limit`` of them pass it (or its few movies).
    top = None
    for top in top_list_reads(cache, limit + len(exclude), matching):
        chosen = merge_recommendations(chosen, top, exclude, limit, keep)
        if len(chosen) == limit:
            break
    if top is None:
        if not chosen:
            raise NotReady("movie statistics are not computed yet; retry in a minute")
        log.warning("no movie statistics published yet: %d of %d movies", len(chosen), limit)
    return chosen


def top_movies(
    db: Database,
    cache: CacheStore,
    limit: int,
    *,
    offset: int = 0,
    movie_filter: MovieFilter = NO_FILTER,
) -> list[TopMovie]:
    """The ``limit`` most rated movies (then best average) passing ``movie_filter``, after the
    first ``offset`` of them, with their statistics."""
    if movie_filter:
        with db.session() as session:
            matching = movie_filter.matching_ids(session)
        wanted = min(offset + limit, len(matching))
        # The top list filtered: a cold-start pick with nothing excluded.
        chosen = _pick(cache, (), set(), wanted, matching)[offset:]
        stat_of = cache.movie_stats(chosen) or {}
        stats: list[MovieStat] = [stat_of[m] for m in chosen if m in stat_of]
    else:
        stats = cache.top_movies(offset, offset + limit)
    if not stats and cache.current_version("stats") is None:
        raise NotReady("movie statistics are not computed yet; retry in a minute")
    with db.session() as session:
        found = movies_by_ids(session, (stat.movie_id for stat in stats))
    return [
        TopMovie(found[stat.movie_id], stat.votes, stat.avg_rating)
        for stat in stats
        if stat.movie_id in found
    ]
