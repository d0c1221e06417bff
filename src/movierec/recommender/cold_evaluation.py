"""How well new movies are ranked before anyone has rated them: the cold-movie protocol.

- Split (``cold_movie_split``, seeded): a ``fraction`` of the movies with at least
  ``min_ratings`` ratings become "new": every rating of theirs leaves the training set (it is
  the test set), and so do their keywords (tags are written by people who watched a movie; a
  new release has none). Their title, year, genres, description and collection stay: a new
  release has those.
- Ranking: every model is trained on the training set; for each user who rated a new movie at
  least ``relevance`` (and has a training rating), the new movies alone are ranked and the top
  ``k`` judged by NDCG@k against the new movies that user rated that well.
- Models: ``random`` (the floor), ``genre affinity`` (the share of the user's liked movies in
  each of a movie's genres), ``content neighbours`` (the summed similarity of a movie's nearest
  neighbours in content among the movies the user liked), and the content model
  (``recommender.content``: the ranker's scores with the new movies placed by their content),
  with all the content and with genres and year alone.
- Flooding: the content model's lists over the whole catalogue (top ``k`` of every training
  user, rated movies left out) and the share of their slots new movies take, against the new
  movies' share of the catalogue.
- Tuning (``cold_validation_split``): the same split drawn again, with another seed, from the
  training part alone (the test's new movies gone entirely), so nothing is chosen on the
  reported figures.

``temporal_with_content`` reports the other side: the ordinary temporal evaluation
(``recommender.evaluation``) of the configured ranker with and without the content model, so
that placing new and little-rated movies by content is seen not to cost the ordinary lists.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from movierec.recommender.content import ContentParams, place_by_content
from movierec.recommender.content_features import ContentEncoder, MovieContent
from movierec.recommender.data import InteractionMatrix, RatingArrays, positions
from movierec.recommender.evaluation import (
    EvaluationContext,
    EvaluationError,
    Progress,
    RankerResult,
    Split,
    evaluate_ranker,
    user_metrics,
)
from movierec.recommender.ranking import Ranker
from movierec.recommender.scoring import RatedItems, iter_top_n, top_k_columns

# The models of the table, in its order.
RANDOM = "random"
GENRE_AFFINITY = "genre affinity"
CONTENT_NEIGHBOURS = "content neighbours"
CONTENT_MODEL = "content model"
CONTENT_MODEL_GENRES_YEAR = "content model, genres + year"
MODELS = (RANDOM, GENRE_AFFINITY, CONTENT_NEIGHBOURS, CONTENT_MODEL, CONTENT_MODEL_GENRES_YEAR)

# Content neighbours: how many of a new movie's nearest movies (by content) count.
NEIGHBOURS = 50


@dataclass(frozen=True)
class ColdSplit:
    train: RatingArrays
    test: RatingArrays  # every rating of the new movies
    new_movie_ids: np.ndarray  # ascending
    content: MovieContent  # the catalogue, the new movies' keywords removed
    seed: int
    fraction: float
    min_ratings: int


def cold_movie_split(
    ratings: RatingArrays,
    content: MovieContent,
    fraction: float = 0.1,
    seed: int = 0,
    min_ratings: int = 10,
) -> ColdSplit:
    """``fraction`` of the movies with at least ``min_ratings`` ratings (drawn with ``seed``)
    turned new: their ratings are the test set, their keywords removed."""
    if not 0 < fraction < 1:
        raise EvaluationError(f"the fraction of new movies must be between 0 and 1, not {fraction}")
    movies, counts = np.unique(ratings.movie_ids, return_counts=True)
    eligible = movies[counts >= min_ratings]
    n_new = int(round(fraction * len(eligible)))
    if n_new < 2:
        raise EvaluationError(
            f"{len(eligible)} movies have {min_ratings}+ ratings: too few to turn "
            f"{fraction:.0%} of them new"
        )
    chosen = np.sort(np.random.default_rng(seed).choice(eligible, n_new, replace=False))
    missing = positions(content.movie_ids, chosen) < 0
    if missing.any():
        raise EvaluationError(f"no content for {int(missing.sum())} rated movie(s)")
    is_new = np.isin(ratings.movie_ids, chosen)
    return ColdSplit(
        train=ratings.take(~is_new),
        test=ratings.take(is_new),
        new_movie_ids=chosen,
        content=content.without_keywords(chosen),
        seed=seed,
        fraction=fraction,
        min_ratings=min_ratings,
    )


def cold_validation_split(split: ColdSplit, seed: int | None = None) -> ColdSplit:
    """The protocol drawn again from ``split``'s training part (another seed, other movies):
    what tuning may look at."""
    return cold_movie_split(
        split.train, split.content, split.fraction, split.seed + 1 if seed is None else seed,
        split.min_ratings,
    )  # fmt: skip


# -- the baselines ----------------------------------------------------------------------------


def _liked(interactions: InteractionMatrix, relevance: float) -> Any:
    """Each user's liked movies (rated >= relevance; all they rated when none is), as a CSR
    matrix of ones over the interaction matrix."""
    import scipy.sparse as sp

    matrix = interactions.matrix
    liked = (matrix >= relevance).astype(np.float64).tocsr()
    none = np.diff(liked.indptr) == 0
    if none.any():
        fallback = sp.diags(none.astype(np.float64)) @ (matrix != 0).astype(np.float64)
        liked = (liked + fallback).tocsr()
    return liked


def genre_affinity_scores(
    interactions: InteractionMatrix,
    content: MovieContent,
    user_rows: np.ndarray,
    movie_ids: np.ndarray,
    relevance: float,
) -> np.ndarray:
    """Score of each new movie for each user: the mean over its genres of the share of the
    user's liked movies that have the genre."""
    encoder = ContentEncoder().fit(content)
    genres = encoder.genre_matrix(content.take(content.rows_of(interactions.item_ids))) > 0
    liked = _liked(interactions, relevance)[user_rows]
    shares = np.asarray(liked @ genres.astype(np.float64)) / np.maximum(
        np.asarray(liked.sum(axis=1)), 1
    )
    new = encoder.genre_matrix(content.take(content.rows_of(movie_ids))) > 0
    per_genre = new.astype(np.float64) / np.maximum(new.sum(axis=1, keepdims=True), 1)
    return shares @ per_genre.T


def content_neighbour_scores(
    interactions: InteractionMatrix,
    content: MovieContent,
    user_rows: np.ndarray,
    movie_ids: np.ndarray,
    relevance: float,
    neighbours: int = NEIGHBOURS,
    params: ContentParams | None = None,
) -> np.ndarray:
    """Score of each new movie for each user: the summed cosine (in the content model's
    features, collection included) of the movie's ``neighbours`` nearest rated movies that
    the user liked."""
    params = params or ContentParams()
    encoder = ContentEncoder(params.features).fit(content)

    def unit_rows(ids: np.ndarray) -> np.ndarray:
        features = encoder.transform(content.take(content.rows_of(ids)))
        onehot = np.zeros((len(ids), features.n_collections))
        member = features.collections >= 0
        onehot[np.flatnonzero(member), features.collections[member]] = 1.0
        rows = np.hstack([features.dense, onehot])
        norms = np.linalg.norm(rows, axis=1, keepdims=True)
        return np.divide(rows, norms, out=np.zeros_like(rows), where=norms > 0)

    rated = interactions.item_ids[interactions.item_counts() > 0]
    similarity = unit_rows(movie_ids) @ unit_rows(rated).T  # new x rated movies
    if neighbours < similarity.shape[1]:
        cut = np.partition(similarity, -neighbours, axis=1)[:, -neighbours][:, None]
        similarity = np.where(similarity >= cut, similarity, 0.0)
    liked = _liked(interactions, relevance)[user_rows][:, positions(interactions.item_ids, rated)]
    return np.asarray(liked @ similarity.T)


# -- the protocol -----------------------------------------------------------------------------


@dataclass
class ColdMovieResult:
    model: str
    metrics: dict[str, float]


@dataclass
class ColdMovieEvaluation:
    """The table of the protocol, and what the content model's full lists did."""

    results: list[ColdMovieResult]
    n_users: int  # judged users
    n_new: int
    n_catalogue: int
    k: int
    relevance: float
    seed: int
    fraction: float
    min_ratings: int
    # The content model's lists over the whole catalogue: the share of their slots that new
    # movies take, per model variant, against their share of the catalogue.
    slot_share: dict[str, float] = field(default_factory=dict)

    @property
    def catalogue_share(self) -> float:
        return self.n_new / self.n_catalogue if self.n_catalogue else 0.0

    def metric(self, model: str, name: str = "ndcg") -> float:
        return next(r.metrics[name] for r in self.results if r.model == model)

    def as_dict(self) -> dict[str, Any]:
        genre = self.metric(GENRE_AFFINITY)
        return {
            "protocol": "cold movies",
            "k": self.k,
            "relevance_threshold": self.relevance,
            "seed": self.seed,
            "fraction": self.fraction,
            "min_ratings": self.min_ratings,
            "n_users": self.n_users,
            "n_new_movies": self.n_new,
            "catalogue": self.n_catalogue,
            "new_share_of_catalogue": self.catalogue_share,
            "new_share_of_slots": self.slot_share,
            "results": [
                {
                    "model": r.model,
                    **r.metrics,
                    "ndcg_vs_genre_affinity": r.metrics["ndcg"] / genre if genre else None,
                }
                for r in self.results
            ],
        }


def _scores_of_rows(
    ranker: Ranker, rows: np.ndarray, columns: np.ndarray, batch: int
) -> np.ndarray:
    """The ranker's scores of user ``rows`` (ascending) for movie ``columns``, a batch of
    consecutive rows at a time."""
    out = np.empty((len(rows), len(columns)))
    start = 0
    while start < len(rows):
        first = int(rows[start])
        stop = min(first + batch, int(rows[-1]) + 1)
        block = np.asarray(ranker.score_users(first, stop))
        inside = rows[start:][rows[start:] < stop]
        out[start : start + len(inside)] = block[inside - first][:, columns]
        start += len(inside)
    return out


def _lists(scores: np.ndarray, movie_ids: np.ndarray, k: int) -> np.ndarray:
    """The top ``k`` movie ids of each row (ties by lower movie id: ``movie_ids`` ascend)."""
    return movie_ids[top_k_columns(scores, k)]


def evaluate_cold_movies(
    split: ColdSplit,
    make_ranker: Callable[[], Ranker],
    params: ContentParams,
    *,
    k: int = 10,
    relevance: float = 4.0,
    neighbours: int = NEIGHBOURS,
    memory_bytes: int = 128 * 2**20,
    threads: int = 1,
    progress: Progress | None = None,
) -> ColdMovieEvaluation:
    """The protocol's table (module docstring) on ``split``."""
    catalogue = np.union1d(split.content.movie_ids, split.train.movie_ids)
    interactions = InteractionMatrix.from_ratings(split.train, item_ids=catalogue)
    relevant = split.test.take(split.test.ratings >= relevance)
    user_ids = np.unique(relevant.user_ids)
    user_ids = user_ids[interactions.user_positions(user_ids) >= 0]
    if not len(user_ids):
        raise EvaluationError("no user with a training rating rated a new movie that well")
    rows = interactions.user_positions(user_ids)
    new_ids = split.new_movie_ids
    new_columns = interactions.item_positions(new_ids)
    counts = interactions.item_counts()
    step = _Steps(progress, 5)

    results: list[ColdMovieResult] = []

    def judge(model: str, scores: np.ndarray) -> None:
        lists = _lists(scores, new_ids, k)
        metrics = user_metrics(user_ids, lists, relevant, k)
        results.append(ColdMovieResult(model, metrics))

    rng = np.random.default_rng(split.seed)
    judge(RANDOM, rng.random((len(user_ids), len(new_ids))))
    step("baselines")
    judge(
        GENRE_AFFINITY,
        genre_affinity_scores(interactions, split.content, rows, new_ids, relevance),
    )
    judge(
        CONTENT_NEIGHBOURS,
        content_neighbour_scores(
            interactions, split.content, rows, new_ids, relevance, neighbours, params
        ),
    )
    step("fitting the ranker")
    fitted = make_ranker().fit(interactions)
    slot_share: dict[str, float] = {}
    batch = max(1, memory_bytes // max(8 * interactions.n_items, 1))
    rated = RatedItems.from_matrix(interactions.matrix)
    for label, content in (
        (CONTENT_MODEL, split.content),
        (CONTENT_MODEL_GENRES_YEAR, split.content.genres_and_year_only()),
    ):
        step(label)
        ranker = copy.deepcopy(fitted)
        place_by_content(ranker, content, counts, params)
        judge(label, _scores_of_rows(ranker, rows, new_columns, batch))
        in_lists = 0
        slots = 0
        is_new = np.zeros(interactions.n_items, dtype=bool)
        is_new[new_columns] = True
        for user_list in iter_top_n(ranker, rated, k, memory_bytes=memory_bytes, threads=threads):
            columns = interactions.item_positions(user_list.movie_ids)
            in_lists += int(is_new[columns].sum())
            slots += len(columns)
        slot_share[label] = in_lists / slots if slots else 0.0
    return ColdMovieEvaluation(
        results=results,
        n_users=len(user_ids),
        n_new=len(new_ids),
        n_catalogue=len(catalogue),
        k=k,
        relevance=relevance,
        seed=split.seed,
        fraction=split.fraction,
        min_ratings=split.min_ratings,
        slot_share=slot_share,
    )


class _Steps:
    """Progress by named steps (``Progress``'s ``done`` of ``total`` steps)."""

    def __init__(self, progress: Progress | None, total: int) -> None:
        self.progress, self.total, self.done = progress, total, 0

    def __call__(self, what: str) -> None:
        if self.progress is not None:
            self.progress(what, self.done, self.total)
        self.done += 1


# -- the ordinary evaluation, with and without the content model -------------------------------


class ContentPlacedRanker:
    """A ranker that, once fitted, serves every movie of the catalogue with its movies placed
    by content (``recommender.content.place_by_content``), as the refresh serves them."""

    def __init__(self, base: Ranker, content: MovieContent, params: ContentParams) -> None:
        self.base, self.content, self.content_params = base, content, params
        self.name = base.name

    def fit(self, interactions: InteractionMatrix) -> ContentPlacedRanker:
        self.base.fit(interactions)
        place_by_content(
            self.base, self.content, interactions.item_counts(), self.content_params,
            served_ids=self.content.movie_ids,
        )  # fmt: skip
        self.user_ids, self.item_ids = self.base.user_ids, self.base.item_ids
        return self

    def __getattr__(self, name: str) -> Any:
        return getattr(self.base, name)


def catalogue_context(split: Split, content: MovieContent, min_votes: int) -> EvaluationContext:
    """An evaluation context whose training matrix has a column for every movie of the
    catalogue (those without training ratings empty): the lists may hold any of them."""
    base = EvaluationContext.build(split, min_votes, catalogue_size=len(content))
    catalogue = np.union1d(content.movie_ids, split.train.movie_ids)
    interactions = InteractionMatrix.from_ratings(split.train, item_ids=catalogue)
    return EvaluationContext(
        split=split,
        interactions=interactions,
        popular=base.popular,
        test_user_ids=base.test_user_ids,
        catalogue_size=len(catalogue),
        min_votes=min_votes,
    )


def temporal_with_content(
    split: Split,
    content: MovieContent,
    make_ranker: Callable[[], Ranker],
    params: ContentParams,
    *,
    k: int,
    relevance: float,
    min_votes: int,
    **options: Any,
) -> tuple[RankerResult, RankerResult]:
    """The configured ranker on the ordinary split without and with the content model (the
    movies without training ratings, or too few, placed by content), on the same test users.
    The movies without training ratings lose their keywords, as new movies do in the
    cold-movie protocol: their tags were written by people who watched them later."""
    unrated = np.setdiff1d(content.movie_ids, split.train.movie_ids)
    content = content.without_keywords(unrated)
    plain_context = EvaluationContext.build(split, min_votes, catalogue_size=len(content))
    without = evaluate_ranker(
        "without content", make_ranker, plain_context, k, relevance, **options
    )
    with_context = catalogue_context(split, content, min_votes)
    with_content = evaluate_ranker(
        "with content",
        lambda: ContentPlacedRanker(make_ranker(), content, params),
        with_context,
        k,
        relevance,
        **options,
    )
    return without, with_content
