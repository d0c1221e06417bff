"""Offline ranking evaluation: hold out each user's latest ratings, build their lists the way the
refresh and the web tier build them, and measure how many held-out movies the lists find.

Protocol (docs/model-selection.md, "Ranking evaluation"):

- Split: per user, the latest ``test_fraction`` of their ratings (at least one; equal times
  ordered by movie id) form the test set, the rest the training set (``temporal_split``). Tuning
  uses a validation split carved the same way out of the training part (``validation_split``),
  never the test set. ``random_split`` draws the held-out ratings at random per user instead,
  for comparison with published figures.
- Lists: the ranker is fitted on the training set; every test user's top ``k`` is what
  ``iter_top_n`` gives (training movies masked, as the refresh masks rated ones), completed from
  the popular list by ``merge_recommendations`` as the web tier does (users with no training
  rating get the popular list: the cold start).
- Metrics at k, averaged over the users with at least one relevant held-out movie: precision,
  recall, NDCG, MAP and hit rate, for two relevances: held-out movies rated at least
  ``relevance_threshold`` (``rel``), and any held-out movie (``any``). Over all lists: catalogue
  coverage and distinct movies, the mean popularity (training ratings) of the recommended
  movies, and the share of list slots holding movies with fewer than ``min_votes`` ratings.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from movierec.recommender.data import InteractionMatrix, RatingArrays
from movierec.recommender.lists import merge_recommendations
from movierec.recommender.popularity import PopularityRanker
from movierec.recommender.ranking import Ranker
from movierec.recommender.scoring import RatedItems, iter_top_n

SPLITS = ("temporal", "random")
RELEVANCES = ("rel", "any")
USER_METRICS = ("precision", "recall", "ndcg", "map", "hit_rate")

# Progress callback: (what, users done, users in all).
Progress = Callable[[str, int, int], None]


class EvaluationError(ValueError):
    """The data cannot be evaluated as asked (no timestamps for a temporal split, too few...)."""


@dataclass(frozen=True)
class Split:
    train: RatingArrays
    test: RatingArrays
    kind: str


def _held_out_counts(n_per_user: np.ndarray, test_fraction: float) -> np.ndarray:
    # Round half up, at least one: 20% of 21 ratings holds out 4, of 3 ratings 1.
    return np.maximum(1, np.floor(n_per_user * test_fraction + 0.5)).astype(np.int64)


def _split_by_rank(ratings: RatingArrays, order: np.ndarray, test_fraction: float) -> np.ndarray:
    """Boolean test mask: within each user (``order`` groups users together and sorts each
    user's ratings oldest first), the last ``test_fraction`` of the ratings."""
    users = ratings.user_ids[order]
    starts = np.flatnonzero(np.r_[True, users[1:] != users[:-1]])
    counts = np.diff(np.r_[starts, len(users)])
    rank_from_end = np.arange(len(users)) - np.repeat(starts + counts, counts)  # -n..-1
    held = np.repeat(_held_out_counts(counts, test_fraction), counts)
    mask = np.zeros(len(users), dtype=bool)
    mask[order] = rank_from_end >= -held
    return mask


def temporal_split(ratings: RatingArrays, test_fraction: float = 0.2) -> Split:
    """Each user's latest ``test_fraction`` of ratings (at least one; ties by movie id) held out."""
    if ratings.timestamps is None:
        raise EvaluationError("a temporal split needs the ratings' timestamps")
    _check_fraction(test_fraction)
    order = np.lexsort((ratings.movie_ids, ratings.timestamps, ratings.user_ids))
    test = _split_by_rank(ratings, order, test_fraction)
    return Split(ratings.take(~test), ratings.take(test), "temporal")


def random_split(ratings: RatingArrays, test_fraction: float = 0.2, seed: int = 0) -> Split:
    """The same number of ratings per user as ``temporal_split`` holds out, drawn at random."""
    _check_fraction(test_fraction)
    shuffle = np.random.default_rng(seed).permutation(len(ratings))
    order = shuffle[np.argsort(ratings.user_ids[shuffle], kind="stable")]
    test = _split_by_rank(ratings, order, test_fraction)
    return Split(ratings.take(~test), ratings.take(test), "random")


def make_split(
    ratings: RatingArrays, kind: str, test_fraction: float = 0.2, seed: int = 0
) -> Split:
    if kind == "temporal":
        return temporal_split(ratings, test_fraction)
    if kind == "random":
        return random_split(ratings, test_fraction, seed)
    raise EvaluationError(f"unknown split {kind!r}: choose one of {', '.join(SPLITS)}")


def validation_split(split: Split, test_fraction: float = 0.2, seed: int = 0) -> Split:
    """A split of ``split.train`` carved the same way: for tuning, so the test set stays
    unseen. (Users with a single training rating end up with none and get the cold start.)"""
    return make_split(split.train, split.kind, test_fraction, seed)


def _check_fraction(test_fraction: float) -> None:
    if not 0 < test_fraction < 1:
        raise EvaluationError(f"the test fraction must be between 0 and 1, not {test_fraction}")


# -- lists ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class EvaluationContext:
    """What every model of one evaluation shares: the split, the training matrix and the
    popular list (the cold start and backfill of every model's lists)."""

    split: Split
    interactions: InteractionMatrix
    popular: np.ndarray  # raw movie ids, top order
    test_user_ids: np.ndarray  # ascending
    catalogue_size: int
    min_votes: int

    @classmethod
    def build(
        cls, split: Split, min_votes: int, catalogue_size: int | None = None
    ) -> EvaluationContext:
        if split.train.empty or split.test.empty:
            raise EvaluationError("the split left no training or no test ratings")
        interactions = InteractionMatrix.from_ratings(split.train)
        popularity = PopularityRanker(min_votes).fit(interactions)
        popular = interactions.item_ids[np.argsort(-popularity.item_score, kind="stable")]
        known = np.union1d(split.train.movie_ids, split.test.movie_ids)
        return cls(
            split=split,
            interactions=interactions,
            popular=popular,
            test_user_ids=np.unique(split.test.user_ids),
            catalogue_size=catalogue_size or len(known),
            min_votes=min_votes,
        )


def served_lists(
    ranker: Ranker,
    context: EvaluationContext,
    k: int,
    *,
    memory_bytes: int = 128 * 2**20,
    threads: int = 1,
    progress: Progress | None = None,
) -> np.ndarray:
    """Every test user's top ``k`` as the service would serve it: a ``(test users, k)`` array
    of raw movie ids (-1 pads a list shorter than ``k``: fewer unrated movies than ``k``)."""
    interactions = context.interactions
    rated = RatedItems.from_matrix(interactions.matrix)
    wanted = set(context.test_user_ids.tolist())
    ranked: dict[int, np.ndarray] = {}
    done = 0

    def on_batch(users: int, seconds: float) -> None:
        nonlocal done
        done += users
        if progress is not None:
            progress("scoring", done, interactions.n_users)

    for user_list in iter_top_n(
        ranker, rated, k, memory_bytes=memory_bytes, threads=threads, on_batch=on_batch
    ):
        if user_list.user_id in wanted:
            ranked[user_list.user_id] = user_list.movie_ids
    lists = np.full((len(context.test_user_ids), k), -1, dtype=np.int64)
    rows = interactions.user_positions(context.test_user_ids)
    matrix = interactions.matrix
    for index, user_id in enumerate(context.test_user_ids.tolist()):
        row = rows[index]
        seen = set() if row < 0 else set(interactions.item_ids[matrix.indices[
            matrix.indptr[row] : matrix.indptr[row + 1]]].tolist())  # fmt: skip
        chosen = merge_recommendations(
            ranked.get(user_id, np.empty(0, dtype=np.int64)).tolist(), context.popular, seen, k
        )
        lists[index, : len(chosen)] = chosen
    return lists


# -- metrics --------------------------------------------------------------------------------


def _pair_keys(user_ids: np.ndarray, movie_ids: np.ndarray) -> np.ndarray:
    return (np.asarray(user_ids, dtype=np.int64) << 32) | np.asarray(movie_ids, dtype=np.int64)


def user_metrics(
    user_ids: np.ndarray, lists: np.ndarray, relevant: RatingArrays, k: int
) -> dict[str, float]:
    """Precision, recall, NDCG, MAP and hit rate at ``k`` of ``lists`` (row i belongs to
    ``user_ids[i]``) against the ``relevant`` (user, movie) pairs, averaged over the users that
    have at least one relevant pair. Gains are binary."""
    n_relevant = np.zeros(len(user_ids), dtype=np.int64)
    users, counts = np.unique(relevant.user_ids, return_counts=True)
    rows = np.searchsorted(user_ids, users)
    inside = (rows < len(user_ids)) & (user_ids[rows.clip(max=len(user_ids) - 1)] == users)
    n_relevant[rows[inside]] = counts[inside]
    judged = n_relevant > 0
    if not judged.any():
        return {name: float("nan") for name in USER_METRICS} | {"users": 0}
    lists = lists[judged, :k]
    n_relevant = n_relevant[judged]
    keys = _pair_keys(np.repeat(user_ids[judged], lists.shape[1]), lists.ravel())
    hits = np.isin(keys, _pair_keys(relevant.user_ids, relevant.movie_ids)).reshape(lists.shape)
    hits &= lists >= 0
    n_hits = hits.sum(axis=1)
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    ideal = np.cumsum(discounts)[np.minimum(n_relevant, k) - 1]
    precision_at = np.cumsum(hits, axis=1) / np.arange(1, lists.shape[1] + 1)
    return {
        "precision": float(np.mean(n_hits / k)),
        "recall": float(np.mean(n_hits / n_relevant)),
        "ndcg": float(np.mean((hits * discounts[: lists.shape[1]]).sum(axis=1) / ideal)),
        "map": float(np.mean((precision_at * hits).sum(axis=1) / np.minimum(n_relevant, k))),
        "hit_rate": float(np.mean(n_hits > 0)),
        "users": int(judged.sum()),
    }


def list_metrics(lists: np.ndarray, context: EvaluationContext) -> dict[str, float]:
    """Catalogue coverage, distinct movies, mean popularity and the share of rare movies, over
    every slot of every list."""
    slots = lists[lists >= 0]
    counts = context.interactions.item_counts()
    positions = context.interactions.item_positions(slots)
    popularity = np.where(positions >= 0, counts[positions.clip(min=0)], 0)
    distinct = len(np.unique(slots))
    return {
        "distinct_movies": distinct,
        "coverage": distinct / context.catalogue_size if context.catalogue_size else 0.0,
        "mean_popularity": float(popularity.mean()) if len(slots) else 0.0,
        "rare_share": float(np.mean(popularity < context.min_votes)) if len(slots) else 0.0,
    }


# -- one evaluation ---------------------------------------------------------------------------


@dataclass
class RankerResult:
    model: str
    params: dict[str, Any]
    metrics: dict[str, float]
    fit_seconds: float
    score_seconds: float
    lists: np.ndarray | None = field(default=None, repr=False)

    def as_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "params": self.params,
            **self.metrics,
            "fit_seconds": self.fit_seconds,
            "score_seconds": self.score_seconds,
        }


def evaluate_ranker(
    label: str,
    make: Callable[[], Ranker],
    context: EvaluationContext,
    k: int,
    relevance_threshold: float,
    *,
    memory_bytes: int = 128 * 2**20,
    threads: int = 1,
    progress: Progress | None = None,
    keep_lists: bool = False,
) -> RankerResult:
    """Fit the ranker ``make()`` builds on the training set, serve every test user's top ``k``
    and measure them."""
    started = time.perf_counter()
    ranker = make().fit(context.interactions)
    fitted = time.perf_counter()
    lists = served_lists(
        ranker, context, k, memory_bytes=memory_bytes, threads=threads, progress=progress
    )
    scored = time.perf_counter()
    test = context.split.test
    metrics: dict[str, float] = {}
    for relevance in RELEVANCES:
        relevant = test.take(test.ratings >= relevance_threshold) if relevance == "rel" else test
        for name, value in user_metrics(context.test_user_ids, lists, relevant, k).items():
            metrics[f"{name}_{relevance}"] = value
    metrics.update(list_metrics(lists, context))
    return RankerResult(
        model=label,
        params=ranker.params(),
        metrics=metrics,
        fit_seconds=fitted - started,
        score_seconds=scored - fitted,
        lists=lists if keep_lists else None,
    )


def evaluate_rankers(
    makers: Mapping[str, Callable[[], Ranker]],
    context: EvaluationContext,
    k: int,
    relevance_threshold: float,
    **options: Any,
) -> list[RankerResult]:
    """Every model of ``makers`` (label -> factory), with the popularity baseline first."""
    results = [
        evaluate_ranker(
            "popular",
            lambda: PopularityRanker(context.min_votes),
            context,
            k,
            relevance_threshold,
            **options,
        )
    ]
    for label, make in makers.items():
        if label != "popular":
            results.append(evaluate_ranker(label, make, context, k, relevance_threshold, **options))
    return results


def headline(results: Sequence[RankerResult], metric: str = "ndcg_rel") -> dict[str, float]:
    """Each model's ``metric`` as a multiple of the popularity baseline's."""
    baseline = next(result for result in results if result.model == "popular")
    base = baseline.metrics[metric]
    return {
        result.model: result.metrics[metric] / base if base else float("nan") for result in results
    }
