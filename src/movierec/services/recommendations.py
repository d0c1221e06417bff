"""Recommendations and top movies, served from the lists the last refresh cached in Redis and
corrected for what the user has done since.

The cached lists were ranked by the ranking model (RANKER) and carry its scores and the rating
model's predicted stars; movies taken from the top list to fill a list up carry neither.

A request costs one query for the movies the user rated or watched (as of now, and whether the
user exists), one Redis read of their cached list, at most one Redis read of the top list (for
cold start or backfill) and one query for the movie details.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from movierec.cache import CacheStore
from movierec.cache.store import CachedList
from movierec.db import Database
from movierec.db.models import Movie
from movierec.db.repositories.movies import movies_by_ids
from movierec.db.repositories.user_history import rated_movie_ids_of_user
from movierec.recommender.lists import merge_recommendations
from movierec.services.errors import NotFound
from movierec.services.top_movies import DATABASE, cached_list_or_none, top_movie_ids_or_database

log = logging.getLogger(__name__)


# Where a list came from: the user's own ranked list, or the top movies (a user the last
# refresh did not know). A list of the first kind may end with top movies (``backfilled``).
SOURCE_MODEL = "model"
SOURCE_POPULAR = "popular"
# The top movies computed from the database: Redis holds no statistics, or is down.
SOURCE_DATABASE = "database"


@dataclass(frozen=True)
class Recommendation:
    movie: Movie
    score: float | None  # the ranking model's; None for a movie from the top list
    predicted_rating: float | None  # the rating model's (stars); None where not predicted


@dataclass(frozen=True)
class Recommendations:
    items: list[Recommendation]
    source: str  # SOURCE_MODEL | SOURCE_POPULAR | SOURCE_DATABASE
    backfilled: int  # how many items came from the top movies


def recommend(
    db: Database, cache: CacheStore, user_id: int, limit: int, min_votes: int
) -> Recommendations:
    """Up to ``limit`` movies for the user, best first, none of which they rated or watched.

    A user with a cached list gets it minus what they rated since, filled up from the top
    movies; a user without one (new since the last refresh, or nothing cached) gets the top
    movies they have not rated. Without statistics in Redis (or without Redis) the top movies
    come from the database (``min_votes``: STAT_MOVIE_USERS_LOWER_LIMIT). Raises ``NotFound``
    for an unknown user.
    """
    with db.session() as session:
        exclude = rated_movie_ids_of_user(session, user_id)
        if exclude is None:
            raise NotFound(f"user {user_id} not found")
        cached = cached_list_or_none(cache, user_id) or CachedList([], {}, {})
        chosen, top_source = _pick(db, cache, cached.movie_ids, exclude, limit, min_votes)
        movies = movies_by_ids(session, chosen)
        gone = set(chosen) - movies.keys()
        if gone:  # cached before they left the catalogue: pick again without them
            log.warning("cached movies no longer in the catalogue: %s", sorted(gone))
            chosen, top_source = _pick(
                db, cache, cached.movie_ids, exclude | gone, limit, min_votes
            )
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
        source=SOURCE_MODEL
        if cached.movie_ids
        else (SOURCE_DATABASE if top_source == DATABASE else SOURCE_POPULAR),
        backfilled=sum(1 for item in items if item.movie.movie_id not in ranked),
    )


def _pick(
    db: Database,
    cache: CacheStore,
    cached: Sequence[int],
    exclude: set[int],
    limit: int,
    min_votes: int,
) -> tuple[list[int], str | None]:
    """The chosen ids, and where the top movies came from (None: not needed)."""
    chosen = merge_recommendations(cached, (), exclude, limit)
    if len(chosen) == limit:
        return chosen, None
    # Deep enough that ``limit`` remain after skipping every excluded or already chosen movie.
    top, source = top_movie_ids_or_database(db, cache, limit + len(exclude), min_votes)
    return merge_recommendations(chosen, top, exclude, limit), source
