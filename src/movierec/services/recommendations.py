"""Recommendations and top movies, served from what the last refresh published in Redis and
corrected for what the user has done since.

Where a list comes from (``source``):

- ``model``: the list the refresh ranked for the user (the ranking model, RANKER), with its
  scores and the rating model's predicted stars, minus what the user rated since;
- ``fold_in``: the user rated or watched something after the refresh read the ratings (or the
  refresh did not know them): their list is computed now from the published model's movie side
  and their current ratings (``recommender.serving``), so a new rating changes the very next
  answer;
- ``popular``: a user with no ratings (or no model published yet) gets the top movies;
- ``database``: the same, with the top movies computed from the database because Redis holds no
  statistics or is down (``services.top_movies``).

Any list is filled up from the top movies (``backfilled`` counts those; they carry no score or
predicted stars). Each ranked movie may carry ``because``: up to two movies the user rated
highly that are most similar to it in the ranker's movie space (``because_kind`` "liked"), or,
for the sequential ranker where the movie comes mainly from what people rate next, the one of
the user's latest ratings it follows ("just_watched": ``recommender.just_watched``).

A dismissed movie ("not interested") is never recommended, from any source. A genre or year
filter (``movie_filter``) keeps only matching movies, looking as deep into the lists as it takes
(one query for the matching ids; ``services.movie_filters``); ``offset`` skips that many of the
movies that pass.

A request starts with one Redis read: the user's cached list with its version, the movie
catalogue's version and the user's change mark. When nothing can have changed the list since
the refresh published it, it is served as it is, without a query (``_as_published``): the
refresh left out every movie the user had rated or dismissed and attached the reasons, the
user has not written since its ratings were read (``services.changes``: the Redis mark, and
the database's record read at most once a second), no load has happened since (the same
catalogue version), and the list is long enough for the page without the top movies (no genre
or year filter). That is the answer most requests get, so it must cost no database round
trip, and it is the same answer the longer way below gives for that user. Until the next
refresh or load it is also the same answer every time, so the web tier keeps it, finished,
under ``ListRead.answer_key``.

Otherwise one query reads the user's ratings and what they dismissed (as of now, and whether
the user exists), and at most a few Redis reads of the top list follow (cold start, backfill,
filters). The movie details come from the process's catalogue (``services.catalogue``: a
query only for movies it does not hold yet), the model from Redis once per version.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from movierec import metrics
from movierec.cache import CacheStore
from movierec.cache.lists import CachedList, PublishedList
from movierec.db import Database
from movierec.db.repositories.movies import MovieDetails
from movierec.db.repositories.user_history import UserHistory, user_history
from movierec.recommender.explanations import EXPLANATIONS_PER_MOVIE, LIKED_THRESHOLD
from movierec.recommender.serving import ServingModel
from movierec.services.catalogue import MovieCatalogue
from movierec.services.changes import RecentChanges
from movierec.services.errors import NotFound
from movierec.services.experiments import Arm, Experiment
from movierec.services.movie_filters import NO_FILTER, MovieFilter
from movierec.services.top_movies import (
    DATABASE,
    fill_from_top,
    published_list_or_none,
    stats_of_top_movies,
)

log = logging.getLogger(__name__)


# Where a list came from; see the module docstring.
SOURCE_MODEL = "model"
SOURCE_FOLD_IN = "fold_in"
SOURCE_POPULAR = "popular"
# The top movies computed from the database: Redis holds no statistics, or is down.
SOURCE_DATABASE = "database"

# What a recommendation's ``because`` names: liked movies most similar to it, or the one of
# the user's latest ratings it follows.
BECAUSE_LIKED = "liked"
BECAUSE_JUST_WATCHED = "just_watched"


@dataclass(frozen=True)
class Recommendation:
    movie: MovieDetails
    score: float | None  # the ranking model's; None for a movie from the top list
    predicted_rating: float | None  # the rating model's (stars); None where not predicted
    because: list[MovieDetails]  # liked movies most similar to it (may be empty)
    # For a movie from the top list (what it was chosen by, in place of a prediction): its
    # votes and average as the top list has them; None for a ranked movie.
    votes: int | None = None
    avg_rating: float | None = None
    # Fewer than CONTENT_WARM_RATINGS ratings at the last refresh (placed by its content).
    new: bool = False
    because_kind: str = BECAUSE_LIKED  # BECAUSE_LIKED | BECAUSE_JUST_WATCHED


@dataclass(frozen=True)
class Recommendations:
    items: list[Recommendation]
    source: str  # SOURCE_MODEL | SOURCE_FOLD_IN | SOURCE_POPULAR | SOURCE_DATABASE
    backfilled: int  # how many items came from the top movies
    # The page of the published list as it stands (``_as_published``): then the answer is a
    # function of the ``ListRead.answer_key`` it was asked under alone.
    as_published: bool = False


@dataclass(frozen=True)
class ListRead:
    """What a recommendations request reads first (``read_list``): the user's published list
    with its versions, and the model of the refresh that published it (with an A/B
    experiment, the model of the user's arm)."""

    published: PublishedList
    model: ServingModel | None
    # The experiment the refresh published and the user's arm in it; None without one.
    experiment: Experiment | None = None
    arm: Arm | None = None

    def answer_key(
        self,
        changes: RecentChanges,
        user_id: int,
        offset: int,
        limit: int,
        movie_filter: MovieFilter = NO_FILTER,
    ) -> tuple | None:
        """When nothing can have made the user's list out of date and the page lies within it
        (the module docstring), what the answer is a function of: the user, the list's and the
        catalogue's versions and the page. None otherwise. The answer asked under a key is the
        same every time, so an answer of ``recommend(...).as_published`` may be kept under it
        and sent again without being built; the key changes with the next refresh or load."""
        published, model = self.published, self.model
        if (
            movie_filter
            or model is None
            or model.catalogue_version is None
            or model.catalogue_version != published.catalogue_version  # a load since
            or published.length() < offset + limit  # the top movies would fill it up
        ):
            return None
        if published.changed_at is not None and published.changed_at > model.ratings_read_at:
            return None
        if changes.changed_after(user_id, model.ratings_read_at):  # a mark lost on its way
            return None
        return (user_id, published.version, published.catalogue_version, offset, limit)


def read_list(cache: CacheStore, user_id: int) -> ListRead:
    """The user's published list with its versions, in one Redis round trip (nothing when
    Redis is down), and the model of its refresh: a list and the model it is judged by must
    come from one refresh."""
    published = published_list_or_none(cache, user_id)
    models = cache.published_models(published.version)
    if models.experiment is None:
        return ListRead(published, models.model)
    arm = models.experiment.arm_of(user_id)
    return ListRead(published, cache.arm_model(models, arm.name), models.experiment, arm)


def recommend(
    db: Database,
    cache: CacheStore,
    catalogue: MovieCatalogue,
    changes: RecentChanges,
    user_id: int,
    limit: int,
    min_votes: int,
    *,
    offset: int = 0,
    movie_filter: MovieFilter = NO_FILTER,
    read: ListRead | None = None,
) -> Recommendations:
    """Up to ``limit`` movies for the user, best first, none of which they rated, watched or
    dismissed, all passing ``movie_filter``, after skipping the first ``offset`` such movies.

    Without statistics in Redis (or without Redis) the top movies come from the database
    (``min_votes``: STAT_MOVIE_USERS_LOWER_LIMIT). Movie details come from ``catalogue`` (the
    process's copy, else the database); ``changes`` tells users changed lately; ``read``: the
    caller's ``read_list`` of this request, else it is read here. Raises ``NotFound`` for an
    unknown user.
    """
    read = read or read_list(cache, user_id)
    published, model = read.published, read.model
    if read.answer_key(changes, user_id, offset, limit, movie_filter) is not None:
        served = _as_published(catalogue, published, offset, limit, model)
        if served is not None:
            metrics.count_recommendation(SOURCE_MODEL)
            return served
    wanted = offset + limit
    matching: set[int] | None = None
    with db.connection() as connection:
        history = user_history(connection, user_id)
        if history is None:
            raise NotFound(f"user {user_id} not found")
        # Rated or watched, or dismissed: all read by that one query.
        exclude = set(history.movie_ids.tolist()) | history.dismissed
        if movie_filter:
            matching = movie_filter.matching_ids(connection)
            # No deeper than the matching movies the user may get: the search ends there.
            wanted = min(wanted, len(matching - exclude))
    # The rest holds no connection of its own: the top list's and the catalogue's database
    # fallbacks take one from the pool, and a request must never hold two.
    ranked, source = _ranked_list(model, published.cached, history, exclude, wanted, matching)
    chosen, top_source = fill_from_top(
        db, cache, ranked.movie_ids, exclude, wanted, min_votes, matching
    )
    chosen = chosen[offset:]
    reasons, just_watched = _explain(model, history, ranked, chosen)
    wanted_details = set(chosen).union(*reasons.values()) if reasons else set(chosen)
    movies = catalogue.movies_by_ids(wanted_details, published.catalogue_version)
    # Checked on the page only: a movie gone before ``offset`` shifts later pages by one.
    gone = set(chosen) - movies.keys()
    if gone:  # cached before they left the catalogue: pick again without them
        log.warning("cached movies no longer in the catalogue: %s", sorted(gone))
        chosen, top_source = fill_from_top(
            db, cache, ranked.movie_ids, exclude | gone, wanted, min_votes, matching
        )
        chosen = chosen[offset:]
        movies.update(
            catalogue.movies_by_ids(set(chosen) - movies.keys(), published.catalogue_version)
        )
    in_ranked = set(ranked.movie_ids)
    chosen = [m for m in chosen if m in movies]
    from_top = [m for m in chosen if m not in in_ranked]
    top_stats = stats_of_top_movies(db, cache, from_top, top_source, min_votes)
    items = [
        Recommendation(
            movies[m],
            ranked.scores.get(m) if m in in_ranked else None,
            ranked.predicted_ratings.get(m) if m in in_ranked else None,
            [movies[r] for r in reasons.get(m, ()) if r in movies],
            top_stats[m].votes if m in top_stats else None,
            top_stats[m].avg_rating if m in top_stats else None,
            new,
            _kind(m, just_watched),
        )
        for m, new in zip(chosen, _new(model, chosen), strict=True)
    ]
    source = SOURCE_DATABASE if source == SOURCE_POPULAR and top_source == DATABASE else source
    metrics.count_recommendation(source)
    return Recommendations(
        items=items,
        source=source,
        backfilled=sum(1 for item in items if item.movie.movie_id not in in_ranked),
    )


def _kind(movie_id: int, just_watched: frozenset[int] | set[int]) -> str:
    return BECAUSE_JUST_WATCHED if movie_id in just_watched else BECAUSE_LIKED


def _new(model: ServingModel | None, movie_ids: list[int]) -> list[bool]:
    """Which movies are new (``ServingModel.is_new``); none without a model."""
    if model is None or not movie_ids:
        return [False] * len(movie_ids)
    return model.is_new(np.asarray(movie_ids, dtype=np.int64)).tolist()


def _as_published(
    catalogue: MovieCatalogue,
    published: PublishedList,
    offset: int,
    limit: int,
    model: ServingModel | None = None,
) -> Recommendations | None:
    """The page of the user's published list as it stands, for a list nothing can have made
    out of date (``ListRead.answer_key``); None when it cannot be served so (published before
    lists came finished, or a movie of the page has left the catalogue)."""
    cached = published.head(offset + limit)
    if cached is None or cached.reasons is None:  # published before lists came finished
        return None
    chosen = cached.movie_ids[offset : offset + limit]
    reasons = {m: cached.reasons[m] for m in chosen if m in cached.reasons}
    wanted_details = set(chosen).union(*reasons.values())
    movies = catalogue.movies_by_ids(wanted_details, published.catalogue_version)
    if any(m not in movies for m in chosen):  # gone from the catalogue: the longer way
        return None
    items = [
        Recommendation(
            movies[m],
            cached.scores.get(m),
            cached.predicted_ratings.get(m),
            [movies[r] for r in reasons.get(m, ()) if r in movies],
            new=new,
            because_kind=_kind(m, cached.just_watched),
        )
        for m, new in zip(chosen, _new(model, chosen), strict=True)
    ]
    return Recommendations(items=items, source=SOURCE_MODEL, backfilled=0, as_published=True)


def _ranked_list(
    model: ServingModel | None,
    cached: CachedList | None,
    history: UserHistory,
    exclude: set[int],
    wanted: int,
    matching: set[int] | None,
) -> tuple[CachedList, str]:
    """The user's ranked movies (before exclusions and backfill) and where they came from,
    given their published list (None when there is none, or Redis is down)."""
    changed_since = (
        history.latest is not None
        and model is not None
        and model.can_fold_in
        and (cached is None or history.latest > model.ratings_read_at)
    )
    if changed_since:
        assert model is not None
        excluded = np.fromiter(exclude, np.int64, len(exclude))
        allowed = None if matching is None else np.fromiter(matching, np.int64, len(matching))
        ids, scores, stars = model.recommend(
            history.movie_ids, history.ratings, excluded, wanted, only=allowed
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
) -> tuple[dict[int, list[int]], set[int]]:
    """The reasons of the ranked movies of ``chosen`` and those of them whose reason is the
    movie they follow, computed as the refresh computes them for a published list."""
    if model is None:
        return {}, set()
    liked = history.liked(LIKED_THRESHOLD)
    in_ranked = set(ranked.movie_ids)
    explained = np.array([m for m in chosen if m in in_ranked], dtype=np.int64)
    reasons = model.explain(liked, explained, EXPLANATIONS_PER_MOVIE)
    # The history comes oldest first: the order picks the latest ratings.
    followed = model.followed(history.movie_ids, history.ratings, explained)
    reasons.update((movie, [source]) for movie, source in followed.items())
    return reasons, set(followed)
