"""Recommendations and top movies, served from what the last refresh published in Redis and
corrected for what the user has done since.

Where a list comes from (``source``):

- ``model``: the list the refresh ranked for the user (the ranking model, RANKER), with its
  scores and the rating model's predicted stars, minus what the user rated since;
- ``fold_in``: the user rated or watched something after the refresh read the ratings (or the
  refresh did not know them): their list is computed now from the published model's movie side
  and their current ratings (``recommender.serving``), so a new rating changes the very next
  answer;
- ``popular``: a user with no ratings (or no model published yet) gets the top movies.

Any list is filled up from the top movies (``backfilled`` counts those; they carry no score or
predicted stars). Each ranked movie may carry ``because``: up to two movies the user rated
highly that are most similar to it in the ranker's movie space.

A request costs one query for the user's ratings (as of now, and whether the user exists), one
Redis read of their cached list, at most one Redis read of the top list (for cold start or
backfill) and one query for the movie details; the model is read from Redis once per version.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from movierec.cache import CacheStore
from movierec.cache.store import CachedList, MovieStat
from movierec.db import Database
from movierec.db.models import Movie
from movierec.db.repositories.movies import movies_by_ids
from movierec.db.repositories.user_history import UserHistory, user_history
from movierec.recommender.lists import merge_recommendations
from movierec.recommender.serving import ServingModel
from movierec.services.errors import NotFound, ServiceError

log = logging.getLogger(__name__)


class NotReady(ServiceError):
    """What the answer needs has not been computed yet (no statistics published so far)."""


@dataclass(frozen=True)
class TopMovie:
    movie: Movie
    votes: int
    avg_rating: float | None


# Where a list came from; see the module docstring.
SOURCE_MODEL = "model"
SOURCE_FOLD_IN = "fold_in"
SOURCE_POPULAR = "popular"

# A rating at least this high makes a movie a reason ("because you liked ...").
LIKED_THRESHOLD = 4.0
EXPLANATIONS_PER_MOVIE = 2


@dataclass(frozen=True)
class Recommendation:
    movie: Movie
    score: float | None  # the ranking model's; None for a movie from the top list
    predicted_rating: float | None  # the rating model's (stars); None where not predicted
    because: list[Movie]  # liked movies most similar to it (may be empty)


@dataclass(frozen=True)
class Recommendations:
    items: list[Recommendation]
    source: str  # SOURCE_MODEL | SOURCE_FOLD_IN | SOURCE_POPULAR
    backfilled: int  # how many items came from the top movies


def recommend(db: Database, cache: CacheStore, user_id: int, limit: int) -> Recommendations:
    """Up to ``limit`` movies for the user, best first, none of which they rated or watched.

    Raises ``NotFound`` for an unknown user, ``NotReady`` when nothing can be recommended
    because no statistics have been published yet.
    """
    with db.session() as session:
        history = user_history(session, user_id)
        if history is None:
            raise NotFound(f"user {user_id} not found")
        exclude = set(history.movie_ids.tolist())
        model = cache.serving_model()
        ranked, source = _ranked_list(cache, model, user_id, history, limit)
        chosen = _pick(cache, ranked.movie_ids, exclude, limit)
        reasons = _explain(model, history, ranked, chosen)
        wanted = set(chosen).union(*reasons.values()) if reasons else set(chosen)
        movies = movies_by_ids(session, wanted)
        gone = set(chosen) - movies.keys()
        if gone:  # cached before they left the catalogue: pick again without them
            log.warning("cached movies no longer in the catalogue: %s", sorted(gone))
            chosen = _pick(cache, ranked.movie_ids, exclude | gone, limit)
            movies.update(movies_by_ids(session, set(chosen) - movies.keys()))
    in_ranked = set(ranked.movie_ids)
    items = [
        Recommendation(
            movies[m],
            ranked.scores.get(m) if m in in_ranked else None,
            ranked.predicted_ratings.get(m) if m in in_ranked else None,
            [movies[r] for r in reasons.get(m, ()) if r in movies],
        )
        for m in chosen
        if m in movies
    ]
    return Recommendations(
        items=items,
        source=source,
        backfilled=sum(1 for item in items if item.movie.movie_id not in in_ranked),
    )


def _ranked_list(
    cache: CacheStore,
    model: ServingModel | None,
    user_id: int,
    history: UserHistory,
    limit: int,
) -> tuple[CachedList, str]:
    """The user's ranked movies (before exclusions and backfill) and where they came from."""
    cached = cache.cached_list(user_id)
    changed_since = (
        history.latest is not None
        and model is not None
        and model.can_fold_in
        and (cached is None or history.latest > model.ratings_read_at)
    )
    if changed_since:
        assert model is not None
        ids, scores, stars = model.recommend(
            history.movie_ids, history.ratings, history.movie_ids, limit
        )
        movie_ids = ids.tolist()
        return (
            CachedList(
                movie_ids,
                dict(zip(movie_ids, scores.tolist(), strict=True)),
                dict(zip(movie_ids, np.round(stars, 3).tolist(), strict=True)),
            ),
            SOURCE_FOLD_IN,
        )
    if cached is not None and cached.movie_ids:
        return cached, SOURCE_MODEL
    return CachedList([], {}, {}), SOURCE_POPULAR


def _explain(
    model: ServingModel | None, history: UserHistory, ranked: CachedList, chosen: list[int]
) -> dict[int, list[int]]:
    if model is None:
        return {}
    liked = history.liked(LIKED_THRESHOLD)
    in_ranked = set(ranked.movie_ids)
    explained = np.array([m for m in chosen if m in in_ranked], dtype=np.int64)
    return model.explain(liked, explained, EXPLANATIONS_PER_MOVIE)


def _pick(cache: CacheStore, cached: Sequence[int], exclude: set[int], limit: int) -> list[int]:
    chosen = merge_recommendations(cached, (), exclude, limit)
    if len(chosen) == limit:
        return chosen
    # Deep enough that ``limit`` remain after skipping every excluded or already chosen movie.
    top = cache.top_movie_ids(0, limit + len(exclude))
    if top is None:
        if not chosen:
            raise NotReady("movie statistics are not computed yet; retry in a minute")
        log.warning("no movie statistics published yet: %d of %d movies", len(chosen), limit)
        return chosen
    return merge_recommendations(chosen, top, exclude, limit)


def top_movies(db: Database, cache: CacheStore, limit: int) -> list[TopMovie]:
    """The ``limit`` most rated movies (then best average), with their statistics."""
    stats: list[MovieStat] = cache.top_movies(0, limit)
    if not stats and cache.current_version("stats") is None:
        raise NotReady("movie statistics are not computed yet; retry in a minute")
    with db.session() as session:
        found = movies_by_ids(session, (stat.movie_id for stat in stats))
    return [
        TopMovie(found[stat.movie_id], stat.votes, stat.avg_rating)
        for stat in stats
        if stat.movie_id in found
    ]
