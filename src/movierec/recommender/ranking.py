"""Ranking models: what decides each user's list.

A rating model (Surprise's SVD) answers "how many stars would this user give this movie"; ranked
by that estimate, every user gets the same few rare movies with a handful of perfect ratings.
Models trained on *who rated what* answer "what will this user watch next", which is what a
top-N list is for (Cremonesi, Koren & Turrin 2010). Every ranker here follows one small
protocol, so the refresh, the evaluation and the web tier never branch on the algorithm:

- ``fit(interactions)`` learns from an ``InteractionMatrix`` (users x movies);
- ``score_users(first, stop)`` scores user rows ``first..stop-1`` against every movie (higher
  is better; only the order within a row means anything);
- ``fold_in(item_rows, ratings)`` scores every movie for a user the model was not trained on
  (or whose ratings changed), from that user's rated movie columns alone, given in the order
  the user rated them (oldest first: time-aware rankers read the latest from the end);
- ``item_vectors()`` gives each movie's vector in the model's space (similar movies), or None;
- ``place_items(item_ids, vectors)``, after ``fit``, makes the ranker serve exactly the movies
  ``item_ids`` (ascending): movies it was fitted on but not among them leave (retired ones:
  their ratings trained the user side, they are never scored), movies it was not fitted on
  join (no ratings yet), and ``vectors`` (rows of ``item_ids``), when given, become the movie
  vectors: the content model's placement (``recommender.content``), so a new movie is scored
  in every list and in fold-in exactly as the others are. Without ``vectors`` a joining movie
  gets the ranker's "nothing known" (a zero vector, the lowest popularity score);
- ``params()`` are the parameters it was built with (recorded with each refresh);
- ``state()`` is what fold-in needs (the movie side only) as named numpy arrays, and
  ``restore(state)`` rebuilds a ranker from it that can fold in but has no user rows: the web
  tier loads it from Redis with each published version and never trains.

Rows and columns are those of the interaction matrix it was fitted on (ascending raw ids).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np
import scipy.sparse as sp

from movierec.recommender.data import InteractionMatrix, positions
from movierec.recommender.topn import blend_prepare, blend_select, select_rows
from movierec.recommender.training import RATING_SCALE, FactorModel, fold_in_user, score_block

log = logging.getLogger(__name__)

# BlendedRanker.select_top: above this fraction of candidate cells in a block, the predicted
# stars come from one BLAS product of the block rather than a dot product per candidate.
_BLAS_ABOVE = 0.05


class RankerError(ValueError):
    """A ranker cannot be built or fitted as asked (unknown name, too large a catalogue...)."""


@runtime_checkable
class Ranker(Protocol):
    name: ClassVar[str]
    user_ids: np.ndarray
    item_ids: np.ndarray

    def fit(self, interactions: InteractionMatrix) -> Ranker: ...

    def score_users(self, first: int, stop: int) -> np.ndarray: ...

    def fold_in(self, item_rows: np.ndarray, ratings: np.ndarray) -> np.ndarray: ...

    def item_vectors(self) -> np.ndarray | None: ...

    def place_items(self, item_ids: np.ndarray, vectors: np.ndarray | None) -> None: ...

    def params(self) -> dict[str, Any]: ...

    def state(self) -> dict[str, np.ndarray]: ...


class FoldInUnavailable(RankerError):
    """This ranker cannot be served for fold-in (its state does not fit the cache)."""


def _float32(array: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(array, dtype=np.float32)


def reindexed(
    old_ids: np.ndarray, new_ids: np.ndarray, values: np.ndarray, fill: float
) -> np.ndarray:
    """Rows of ``values`` (one per ``old_ids``) for ``new_ids``; ``fill`` for ids not in
    ``old_ids``."""
    rows = positions(old_ids, new_ids)
    out = np.full((len(new_ids), *values.shape[1:]), fill, dtype=values.dtype)
    out[rows >= 0] = values[rows[rows >= 0]]
    return out


def _placed_vectors(
    old_ids: np.ndarray, new_ids: np.ndarray, current: np.ndarray, vectors: np.ndarray | None
) -> np.ndarray:
    if vectors is None:
        return reindexed(old_ids, new_ids, current, 0.0)
    if vectors.shape != (len(new_ids), current.shape[1]):
        raise RankerError(
            f"placed vectors of shape {vectors.shape} for {len(new_ids)} movies x "
            f"{current.shape[1]} factors"
        )
    return np.ascontiguousarray(vectors, dtype=current.dtype)


# -- PureSVD --------------------------------------------------------------------------------


@dataclass(frozen=True)
class PureSVDParams:
    n_factors: int = 24
    # "rating": the user x movie matrix holds the stars, missing entries 0 (Cremonesi et al.'s
    # PureSVD); "binary": 1 for every rated or watched movie. The stars carry which movies a
    # user chose *and* liked; measured, they rank better on both splits (docs/engine.md).
    weighting: str = "rating"
    # Movie columns are divided by (their user count) ** popularity_damping before the SVD, so
    # the leading factors are not all "how popular is it" (0: the plain PureSVD of the paper).
    popularity_damping: float = 0.0

    def __post_init__(self) -> None:
        if self.weighting not in ("rating", "binary"):
            raise RankerError(
                f"PureSVD weighting must be 'rating' or 'binary', not {self.weighting!r}"
            )


class PureSVDRanker:
    """PureSVD (Cremonesi, Koren & Turrin 2010): a truncated SVD ``X ~ U S V^T`` of the user x
    movie matrix (missing entries are 0); a user's scores are ``x_u V V^T``: their row projected
    onto the movie factors and back. Fold-in is the same projection, so a new user costs two
    small products, and the movie factors ``V`` are the space of similar movies."""

    name: ClassVar[str] = "puresvd"

    def __init__(self, params: PureSVDParams | None = None) -> None:
        self.config = params or PureSVDParams()

    def fit(self, interactions: InteractionMatrix) -> PureSVDRanker:
        from scipy.sparse.linalg import svds

        matrix = (
            interactions.binary() if self.config.weighting == "binary" else interactions.matrix
        ).astype(np.float32)
        self._column_scale = np.ones(interactions.n_items, dtype=np.float32)
        if self.config.popularity_damping:
            counts = np.maximum(interactions.item_counts(), 1).astype(np.float64)
            self._column_scale = _float32(counts**-self.config.popularity_damping)
            matrix = (matrix @ sp.diags(self._column_scale)).tocsr()
        k = min(self.config.n_factors, min(matrix.shape) - 1)
        if k < 1:
            raise RankerError("PureSVD needs at least two users and two movies")
        # ARPACK from a fixed start vector: the same data gives the same factors.
        start = np.random.default_rng(0).standard_normal(min(matrix.shape))
        _, _, vt = svds(matrix, k=k, v0=start, return_singular_vectors="vh")
        self.item_factors = _float32(vt.T)  # movies x k, orthonormal columns
        self.user_ids, self.item_ids = interactions.user_ids, interactions.item_ids
        self.user_factors = _float32(matrix @ self.item_factors)  # x_u V
        return self

    def score_users(self, first: int, stop: int) -> np.ndarray:
        return self.user_factors[first:stop] @ self.item_factors.T

    def fold_in(self, item_rows: np.ndarray, ratings: np.ndarray) -> np.ndarray:
        rows = np.asarray(item_rows, dtype=np.int64)
        weights = (
            np.ones(len(rows), dtype=np.float32)
            if self.config.weighting == "binary"
            else np.asarray(ratings, dtype=np.float32)
        ) * self._column_scale[rows]
        return self.item_factors @ (weights @ self.item_factors[rows])

    def item_vectors(self) -> np.ndarray:
        return self.item_factors

    def place_items(self, item_ids: np.ndarray, vectors: np.ndarray | None) -> None:
        item_ids = np.asarray(item_ids, dtype=np.int64)
        # A movie joining without ratings: the column scale of a movie rated once (1 ** -d).
        self._column_scale = reindexed(self.item_ids, item_ids, self._column_scale, 1.0)
        self.item_factors = _placed_vectors(self.item_ids, item_ids, self.item_factors, vectors)
        self.item_ids = item_ids

    def params(self) -> dict[str, Any]:
        return asdict(self.config)

    def state(self) -> dict[str, np.ndarray]:
        return {"item_factors": self.item_factors, "column_scale": self._column_scale}

    @classmethod
    def restore(cls, params: dict[str, Any], state: dict[str, np.ndarray]) -> PureSVDRanker:
        ranker = cls(PureSVDParams(**params))
        ranker.item_factors, ranker._column_scale = state["item_factors"], state["column_scale"]
        return ranker


# -- ALS (implicit) ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ALSParams:
    n_factors: int = 64
    regularization: float = 0.05
    # Confidence of a rated or watched movie, against 1 for the others (Hu, Koren & Volinsky
    # 2008; implicit's alpha times the binary matrix).
    alpha: float = 2.0
    iterations: int = 15
    random_state: int = 0


class ALSRanker:
    """Implicit-feedback ALS from the ``implicit`` library on the binary user x movie matrix.
    Fold-in is ALS's own user step: the least-squares solve against the fixed movie factors."""

    name: ClassVar[str] = "als"

    def __init__(self, params: ALSParams | None = None, num_threads: int = 0) -> None:
        self.config = params or ALSParams()
        self.num_threads = num_threads

    def fit(self, interactions: InteractionMatrix) -> ALSRanker:
        from implicit.cpu.als import AlternatingLeastSquares
        from threadpoolctl import threadpool_limits

        confidence = interactions.binary() * np.float32(self.config.alpha)
        # implicit parallelises itself; a multi-threaded BLAS underneath only contends with it
        # (and implicit warns about it when the model is created).
        with threadpool_limits(1, "blas"):
            self._model = AlternatingLeastSquares(
                factors=self.config.n_factors,
                regularization=self.config.regularization,
                alpha=1.0,  # already applied above
                iterations=self.config.iterations,
                random_state=self.config.random_state,
                num_threads=self.num_threads,
            )
            self._model.fit(confidence, show_progress=False)
        self.user_ids, self.item_ids = interactions.user_ids, interactions.item_ids
        self.user_factors = _float32(self._model.user_factors)
        self.item_factors = _float32(self._model.item_factors)
        return self

    def score_users(self, first: int, stop: int) -> np.ndarray:
        return self.user_factors[first:stop] @ self.item_factors.T

    def fold_in(self, item_rows: np.ndarray, ratings: np.ndarray) -> np.ndarray:
        rows = np.asarray(item_rows, dtype=np.int64)
        # implicit's user step, in closed form: with confidence c = alpha on the rated movies
        # (preference 1) and 1 elsewhere (preference 0), minimise
        # sum_i c_i (p_i - x.y_i)^2 + reg |x|^2, i.e.
        # x = (Y^T Y + (alpha - 1) Y_r^T Y_r + reg I)^-1 alpha Y_r^T 1.
        alpha = self.config.alpha
        rated = self.item_factors[rows].astype(np.float64)
        gram = self._gram() + (alpha - 1.0) * (rated.T @ rated)
        gram[np.diag_indices_from(gram)] += self.config.regularization
        user = np.linalg.solve(gram, alpha * rated.sum(axis=0))
        return self.item_factors @ user.astype(np.float32)

    def _gram(self) -> np.ndarray:
        if getattr(self, "_yty", None) is None:
            items = self.item_factors.astype(np.float64)
            self._yty = items.T @ items
        return self._yty.copy()

    def item_vectors(self) -> np.ndarray:
        return self.item_factors

    def place_items(self, item_ids: np.ndarray, vectors: np.ndarray | None) -> None:
        item_ids = np.asarray(item_ids, dtype=np.int64)
        self.item_factors = _placed_vectors(self.item_ids, item_ids, self.item_factors, vectors)
        self.item_ids = item_ids
        self._yty = None  # the fold-in's Gram matrix is over the movies served

    def params(self) -> dict[str, Any]:
        return asdict(self.config)

    def state(self) -> dict[str, np.ndarray]:
        return {"item_factors": self.item_factors}

    @classmethod
    def restore(cls, params: dict[str, Any], state: dict[str, np.ndarray]) -> ALSRanker:
        ranker = cls(ALSParams(**params))
        ranker.item_factors = state["item_factors"]
        return ranker


# -- EASE -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EASEParams:
    regularization: float = 250.0
    # Its dense movies x movies matrix: refuse catalogues larger than this (59k movies would
    # need 14 GB in float32).
    max_items: int = 20_000


class EASERanker:
    """EASE (Steck 2019): a closed-form item-item model ``B = I - P / diag(P)`` with
    ``P = (X^T X + lambda I)^-1``. Strong on small catalogues; memory is quadratic in movies."""

    name: ClassVar[str] = "ease"

    def __init__(self, params: EASEParams | None = None) -> None:
        self.config = params or EASEParams()

    def fit(self, interactions: InteractionMatrix) -> EASERanker:
        if interactions.n_items > self.config.max_items:
            raise RankerError(
                f"EASE needs a dense {interactions.n_items:,} x {interactions.n_items:,} matrix; "
                f"it is limited to {self.config.max_items:,} movies: use puresvd or als"
            )
        matrix = interactions.binary()
        gram = (matrix.T @ matrix).toarray().astype(np.float64)
        gram[np.diag_indices_from(gram)] += self.config.regularization
        inverse = np.linalg.inv(gram)
        weights = -inverse / np.diag(inverse)
        weights[np.diag_indices_from(weights)] = 0.0
        self.weights = _float32(weights)
        self._matrix = matrix
        self.user_ids, self.item_ids = interactions.user_ids, interactions.item_ids
        # The movies of the matrix's columns (the weights' rows): those it was fitted on.
        self._fitted_ids = self.item_ids
        return self

    def score_users(self, first: int, stop: int) -> np.ndarray:
        return np.asarray(self._matrix[first:stop] @ self.weights)

    def fold_in(self, item_rows: np.ndarray, ratings: np.ndarray) -> np.ndarray:
        rated = positions(self._fitted_ids, self.item_ids[np.asarray(item_rows, dtype=np.int64)])
        return self.weights[rated[rated >= 0]].sum(axis=0)

    def item_vectors(self) -> np.ndarray | None:
        return None

    def place_items(self, item_ids: np.ndarray, vectors: np.ndarray | None) -> None:
        # Columns (the movies scored) follow item_ids; rows stay the fitted movies (a user's
        # ratings, retired movies' included, still weigh in).
        item_ids = np.asarray(item_ids, dtype=np.int64)
        self.weights = np.ascontiguousarray(
            reindexed(self.item_ids, item_ids, self.weights.T, 0.0).T
        )
        self.item_ids = item_ids

    def params(self) -> dict[str, Any]:
        return asdict(self.config)

    def state(self) -> dict[str, np.ndarray]:
        # The dense movies x movies weights: hundreds of MB even for a small catalogue.
        raise FoldInUnavailable("EASE's weights are too large to publish for fold-in")


# -- Surprise's SVD estimate (the original behaviour) ----------------------------------------


class RatingModelRanker:
    """Ranks by the rating model's unclipped estimate ``mu + b_u + b_i + p_u . q_i`` (MovieRec's
    original lists; RANKER=svd). It is fitted by the refresh's rating-model step, not here."""

    name: ClassVar[str] = "svd"

    def __init__(self, model: FactorModel | None = None, regularization: float = 0.02) -> None:
        self.regularization = regularization  # the SVD's reg_all, for fold-in
        if model is not None:
            self._use(model)

    def _use(self, model: FactorModel) -> None:
        self.model = model
        self.user_ids, self.item_ids = model.user_ids, model.item_ids

    def fit(self, interactions: InteractionMatrix) -> RatingModelRanker:
        if getattr(self, "model", None) is None:
            raise RankerError("the svd ranker ranks with an already trained rating model")
        return self

    def score_users(self, first: int, stop: int) -> np.ndarray:
        return score_block(self.model, first, stop)

    def fold_in(self, item_rows: np.ndarray, ratings: np.ndarray) -> np.ndarray:
        bias, factors = fold_in_user(self.model, item_rows, ratings, self.regularization)
        model = self.model
        return model.global_mean + bias + model.item_bias + model.item_factors @ factors

    def item_vectors(self) -> np.ndarray:
        return self.model.item_factors

    def place_items(self, item_ids: np.ndarray, vectors: np.ndarray | None) -> None:
        # The rating model's estimate needs a bias beside the factors: a movie without ratings
        # keeps Surprise's estimate for an unknown movie (mu + b_u), content or not.
        self._use(self.model.with_items(item_ids))

    def params(self) -> dict[str, Any]:
        return {}

    def state(self) -> dict[str, np.ndarray]:
        return {}  # everything it needs is the rating model, published beside every ranker

    @classmethod
    def restore(
        cls, params: dict[str, Any], state: dict[str, np.ndarray], rating_model: FactorModel,
        regularization: float,
    ) -> RatingModelRanker:  # fmt: skip
        return cls(rating_model, regularization)


# -- popularity (the baseline, and the cold-start list) ----------------------------------------


class PopularityRanker:
    """The same list for everyone: the movies by how many users rated them (most first), then
    by average rating. The baseline every evaluation reports, and what new users get."""

    name: ClassVar[str] = "popular"

    def __init__(self, min_votes: int = 5) -> None:
        self.min_votes = min_votes

    def fit(self, interactions: InteractionMatrix) -> PopularityRanker:
        from movierec.recommender.statistics import top_order

        counts = interactions.item_counts()
        sums = np.asarray(interactions.matrix.sum(axis=0)).ravel().astype(np.float64)
        order = top_order(interactions.item_ids, counts, sums, self.min_votes)
        # Score = places from the bottom, so the best has the highest score.
        self.item_score = np.empty(interactions.n_items, dtype=np.float32)
        self.item_score[order] = np.arange(len(order), 0, -1, dtype=np.float32)
        self.user_ids, self.item_ids = interactions.user_ids, interactions.item_ids
        return self

    def score_users(self, first: int, stop: int) -> np.ndarray:
        return np.broadcast_to(self.item_score, (stop - first, len(self.item_score))).copy()

    def fold_in(self, item_rows: np.ndarray, ratings: np.ndarray) -> np.ndarray:
        return self.item_score.copy()

    def item_vectors(self) -> np.ndarray | None:
        return None

    def place_items(self, item_ids: np.ndarray, vectors: np.ndarray | None) -> None:
        item_ids = np.asarray(item_ids, dtype=np.int64)
        self.item_score = reindexed(self.item_ids, item_ids, self.item_score, 0.0)  # last
        self.item_ids = item_ids

    def params(self) -> dict[str, Any]:
        return {"min_votes": self.min_votes}

    def state(self) -> dict[str, np.ndarray]:
        return {"item_score": self.item_score}

    @classmethod
    def restore(cls, params: dict[str, Any], state: dict[str, np.ndarray]) -> PopularityRanker:
        ranker = cls(int(params.get("min_votes", 5)))
        ranker.item_score = state["item_score"]
        return ranker


# -- blend: the ranker's order, nudged by the predicted stars ---------------------------------


class BlendedRanker:
    """A ranker's scores, normalised so each user's best movie scores 1, plus ``weight`` per
    star the rating model predicts (clipped to the scale). The ranker decides which movies are
    candidates (a rare movie with a high predicted rating but a low ranker score stays out); the
    stars re-order near-equals towards the movies the user is predicted to like. Measured on
    several MovieLens variants, a small weight improves NDCG on both splits
    (docs/engine.md, "Choosing the default")."""

    def __init__(
        self, base: Ranker, rating_model: FactorModel, weight: float, regularization: float = 0.02
    ) -> None:
        self.base, self.rating_model, self.weight = base, rating_model, weight
        # The SVD's reg_all: folding a user into the rating model uses the same penalty.
        self.regularization = regularization
        self.name = base.name  # type: ignore[misc]

    def fit(self, interactions: InteractionMatrix) -> BlendedRanker:
        self.base.fit(interactions)
        self.user_ids, self.item_ids = self.base.user_ids, self.base.item_ids
        model = self.rating_model
        self._user_rows = positions(model.user_ids, self.user_ids)
        self._item_rows = positions(model.item_ids, self.item_ids)
        # Trained on the same ratings (the refresh): the same rows and columns, no mapping.
        self._aligned = np.array_equal(model.user_ids, self.user_ids) and np.array_equal(
            model.item_ids, self.item_ids
        )
        return self

    def _blend(self, scores: np.ndarray, stars: np.ndarray) -> np.ndarray:
        # In place on the stars block: one extra block of memory, not three.
        best = np.abs(scores).max(axis=-1, keepdims=True)
        np.clip(stars, *RATING_SCALE, out=stars)
        stars *= self.weight
        stars += scores / np.where(best > 0, best, 1.0)
        return stars

    def select_top(
        self,
        first: int,
        stop: int,
        rated_indptr: np.ndarray,
        rated_indices: np.ndarray,
        columns: np.ndarray,
        values: np.ndarray,
        counts: np.ndarray,
    ) -> None:
        """The best ``columns.shape[1]`` unrated movies of user rows ``first..stop-1`` by the
        blended score (``recommender.topn.select_rows``' contract): with an aligned rating
        model, without computing the predicted stars of movies that cannot make the list."""
        k = columns.shape[1]
        if not self._aligned:
            scores = np.require(self.score_users(first, stop), requirements=("C", "W"))
            select_rows(scores, rated_indptr, rated_indices, first, k, columns, values, counts)
            return
        model = self.rating_model
        base = self.base.score_users(first, stop)
        if base.dtype not in (np.float32, np.float64):
            base = base.astype(np.float64)
        base = np.require(base, requirements=("C", "W"))
        users = np.ascontiguousarray(model.user_factors[first:stop], dtype=np.float64)
        user_norms = np.sqrt(np.einsum("ij,ij->i", users, users))
        offsets = model.global_mean + model.user_bias[first:stop]
        items, item_norms, item_bias = self._item_arrays()
        low, high = map(float, RATING_SCALE)
        thresholds = np.empty(stop - first)
        candidates = blend_prepare(
            base, user_norms, offsets, item_norms, item_bias, float(self.weight), low, high,
            rated_indptr, rated_indices, first, k, thresholds,
        )  # fmt: skip
        # Many candidates: one BLAS product for the block beats a dot product per candidate.
        use_dots = candidates > _BLAS_ABOVE * base.size
        dots = users @ items.T if use_dots else np.empty((0, 0))
        blend_select(
            base, thresholds, users, user_norms, offsets, items, item_norms, item_bias, dots,
            use_dots, float(self.weight), low, high, k, columns, values, counts,
        )  # fmt: skip

    def _item_arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if getattr(self, "_items", None) is None:
            model = self.rating_model
            factors = np.ascontiguousarray(model.item_factors, dtype=np.float64)
            self._items = (
                factors,
                np.sqrt(np.einsum("ij,ij->i", factors, factors)),
                np.ascontiguousarray(model.item_bias, dtype=np.float64),
            )
        return self._items

    def score_users(self, first: int, stop: int) -> np.ndarray:
        model = self.rating_model
        if self._aligned:
            return self._blend(self.base.score_users(first, stop), score_block(model, first, stop))
        users, items = self._user_rows[first:stop], self._item_rows
        known_users, known_items = users >= 0, items >= 0
        stars = np.full((stop - first, len(items)), model.global_mean)
        # mu + b_u + b_i + p_u . q_i for the pairs the rating model knows (all of them when
        # both were trained on the same ratings, as in the refresh).
        block = model.user_factors[users[known_users]] @ model.item_factors[items[known_items]].T
        block += np.add.outer(
            model.global_mean + model.user_bias[users[known_users]],
            model.item_bias[items[known_items]],
        )
        stars[np.ix_(known_users, known_items)] = block
        return self._blend(self.base.score_users(first, stop), stars)

    def fold_in(self, item_rows: np.ndarray, ratings: np.ndarray) -> np.ndarray:
        model, items = self.rating_model, self._item_rows
        rows = np.asarray(item_rows, dtype=np.int64)
        known = items[rows] >= 0
        # The user's own stars: their bias and factors folded into the rating model too.
        bias, factors = fold_in_user(
            model, items[rows][known], np.asarray(ratings)[known], self.regularization
        )
        if self._aligned:  # no per-movie gather of the factor matrix: one product
            # In the factors' own precision (float32 when served): a float64 vector would
            # make numpy convert the whole movie matrix first.
            stars = (model.item_factors @ factors.astype(model.item_factors.dtype)).astype(
                np.float64
            )
            stars += model.item_bias
            stars += model.global_mean + bias
        else:
            stars = np.full(len(items), model.global_mean + bias)
            seen = items >= 0
            stars[seen] += model.item_bias[items[seen]] + model.item_factors[items[seen]] @ factors
        return self._blend(self.base.fold_in(rows, ratings), stars)

    def item_vectors(self) -> np.ndarray | None:
        return self.base.item_vectors()

    def place_items(self, item_ids: np.ndarray, vectors: np.ndarray | None) -> None:
        """The base ranker's placement; the rating model serves the same movies (a movie it
        was not trained on gets Surprise's estimate for an unknown movie, ``mu + b_u``)."""
        self.base.place_items(item_ids, vectors)
        self.rating_model = self.rating_model.with_items(self.base.item_ids)
        self.item_ids = self.base.item_ids
        self._item_rows = positions(self.rating_model.item_ids, self.item_ids)
        self._aligned = np.array_equal(
            self.rating_model.user_ids, self.user_ids
        ) and np.array_equal(self.rating_model.item_ids, self.item_ids)
        self._items = None

    def params(self) -> dict[str, Any]:
        return {**self.base.params(), "rating_weight": self.weight}

    def state(self) -> dict[str, np.ndarray]:
        return self.base.state()

    @classmethod
    def restore(
        cls, base: Ranker, rating_model: FactorModel, weight: float, regularization: float
    ) -> BlendedRanker:
        ranker = cls(base, rating_model, weight, regularization)
        ranker.user_ids = np.empty(0, dtype=np.int64)
        ranker.item_ids = base.item_ids
        ranker._user_rows = np.empty(0, dtype=np.int64)
        ranker._item_rows = positions(rating_model.item_ids, base.item_ids)
        ranker._aligned = np.array_equal(rating_model.item_ids, base.item_ids)
        return ranker


# The time-aware ranker builds on PureSVD above, so it is imported once that exists.
from movierec.recommender.sequential import SequentialParams, SequentialRanker  # noqa: E402

RANKERS: dict[str, type] = {
    cls.name: cls
    for cls in (
        PureSVDRanker, ALSRanker, EASERanker, SequentialRanker, RatingModelRanker,
        PopularityRanker,
    )
}  # fmt: skip


PARAMS_TYPES: dict[str, type] = {
    PureSVDRanker.name: PureSVDParams,
    ALSRanker.name: ALSParams,
    EASERanker.name: EASEParams,
    SequentialRanker.name: SequentialParams,
}

# Rankers that learn from the order of each user's ratings: they are fitted on an interaction
# matrix with the ratings' times, and fold a user in from their ratings oldest first.
TIME_AWARE_RANKERS = frozenset({SequentialRanker.name})


def ranker_params(name: str, given: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The full parameter set of ranker ``name``: its defaults updated with ``given`` (unknown
    names are an error, so a typo in a settings file is not silently ignored)."""
    if name not in RANKERS:
        raise RankerError(f"unknown ranker {name!r}: choose one of {', '.join(RANKERS)}")
    kind = PARAMS_TYPES.get(name)
    given = dict(given or {})
    if kind is None:
        return {}
    weight = float(given.pop("rating_weight", 0.0))
    if not 0 <= weight < float("inf"):
        raise RankerError(f"rating_weight must be >= 0, not {weight}")
    known = {f.name for f in fields(kind)}
    unknown = sorted(set(given) - known)
    if unknown:
        raise RankerError(f"ranker {name!r} has no parameter {', '.join(unknown)}")
    try:
        return {**asdict(kind(**given)), "rating_weight": weight}
    except TypeError as error:
        raise RankerError(f"ranker {name!r}: {error}") from None


def build_ranker(
    name: str,
    params: Mapping[str, Any] | None = None,
    *,
    rating_model: FactorModel | Callable[[], FactorModel] | None = None,
    rating_regularization: float = 0.02,
    min_votes: int = 5,
    threads: int = 0,
) -> Ranker:
    """An unfitted ranker by name. ``rating_model`` (or a function that trains it) is only
    used by ``svd``, which ranks with it, and by a blend (``rating_weight`` > 0);
    ``rating_regularization`` (the SVD's reg_all) folds new users into it; ``min_votes`` is
    only used by ``popular``."""
    full = ranker_params(name, params)
    weight = full.pop("rating_weight", 0.0)
    if name == PopularityRanker.name:
        return PopularityRanker(min_votes)
    if name in (RatingModelRanker.name,) or weight:
        if rating_model is None:
            raise RankerError(f"the {name} ranker (rating_weight {weight}) needs the rating model")
        model = rating_model() if callable(rating_model) else rating_model
        if name == RatingModelRanker.name:
            return RatingModelRanker(model, rating_regularization)
    base: Ranker
    if name == PureSVDRanker.name:
        base = PureSVDRanker(PureSVDParams(**full))
    elif name == ALSRanker.name:
        base = ALSRanker(ALSParams(**full), num_threads=threads)
    elif name == SequentialRanker.name:
        base = SequentialRanker(SequentialParams(**full), num_threads=max(1, threads))
    else:
        base = EASERanker(EASEParams(**full))
    return BlendedRanker(base, model, weight, rating_regularization) if weight else base
