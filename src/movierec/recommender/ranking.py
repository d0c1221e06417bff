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
  (or whose ratings changed), from that user's rated movie columns alone;
- ``item_vectors()`` gives each movie's vector in the model's space (similar movies), or None;
- ``params()`` are the parameters it was built with (recorded with each refresh).

Rows and columns are those of the interaction matrix it was fitted on (ascending raw ids).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np
import scipy.sparse as sp

from movierec.recommender.data import InteractionMatrix
from movierec.recommender.training import FactorModel

log = logging.getLogger(__name__)


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

    def params(self) -> dict[str, Any]: ...


def _float32(array: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(array, dtype=np.float32)


# -- PureSVD --------------------------------------------------------------------------------


@dataclass(frozen=True)
class PureSVDParams:
    n_factors: int = 32
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

    def params(self) -> dict[str, Any]:
        return asdict(self.config)


# -- ALS (implicit) ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ALSParams:
    n_factors: int = 64
    regularization: float = 0.05
    # Confidence of an observed entry: 1 + alpha (Hu, Koren & Volinsky 2008).
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
        self._model = AlternatingLeastSquares(
            factors=self.config.n_factors,
            regularization=self.config.regularization,
            alpha=1.0,  # already applied above
            iterations=self.config.iterations,
            random_state=self.config.random_state,
            num_threads=self.num_threads,
        )
        # implicit parallelises itself; a multi-threaded BLAS underneath only contends with it.
        with threadpool_limits(1, "blas"):
            self._model.fit(confidence, show_progress=False)
        self.user_ids, self.item_ids = interactions.user_ids, interactions.item_ids
        self.user_factors = _float32(self._model.user_factors)
        self.item_factors = _float32(self._model.item_factors)
        return self

    def score_users(self, first: int, stop: int) -> np.ndarray:
        return self.user_factors[first:stop] @ self.item_factors.T

    def fold_in(self, item_rows: np.ndarray, ratings: np.ndarray) -> np.ndarray:
        rows = np.asarray(item_rows, dtype=np.int64)
        # Minimise sum_i c_ui (p_ui - x.y_i)^2 + reg |x|^2 with p = 1 on the rated movies,
        # c = 1 + alpha there and 1 elsewhere:
        # x = (Y^T Y + alpha Y_r^T Y_r + reg I)^-1 (1 + alpha) Y_r^T 1.
        items = self.item_factors.astype(np.float64)
        rated = items[rows]
        gram = self._gram() + self.config.alpha * (rated.T @ rated)
        gram[np.diag_indices_from(gram)] += self.config.regularization
        user = np.linalg.solve(gram, (1.0 + self.config.alpha) * rated.sum(axis=0))
        return self.item_factors @ user.astype(np.float32)

    def _gram(self) -> np.ndarray:
        if getattr(self, "_yty", None) is None:
            items = self.item_factors.astype(np.float64)
            self._yty = items.T @ items
        return self._yty.copy()

    def item_vectors(self) -> np.ndarray:
        return self.item_factors

    def params(self) -> dict[str, Any]:
        return asdict(self.config)


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
        return self

    def score_users(self, first: int, stop: int) -> np.ndarray:
        return np.asarray(self._matrix[first:stop] @ self.weights)

    def fold_in(self, item_rows: np.ndarray, ratings: np.ndarray) -> np.ndarray:
        return self.weights[np.asarray(item_rows, dtype=np.int64)].sum(axis=0)

    def item_vectors(self) -> np.ndarray | None:
        return None

    def params(self) -> dict[str, Any]:
        return asdict(self.config)


# -- Surprise's SVD estimate (the original behaviour) ----------------------------------------


class RatingModelRanker:
    """Ranks by the rating model's unclipped estimate ``mu + b_u + b_i + p_u . q_i`` (MovieRec's
    original lists; RANKER=svd). It is fitted by the refresh's rating-model step, not here."""

    name: ClassVar[str] = "svd"

    def __init__(self, model: FactorModel | None = None) -> None:
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
        model = self.model
        scores = model.user_factors[first:stop] @ model.item_factors.T
        scores += np.add.outer(model.global_mean + model.user_bias[first:stop], model.item_bias)
        return scores

    def fold_in(self, item_rows: np.ndarray, ratings: np.ndarray) -> np.ndarray:
        # Without a user factor the estimate of a new user is mu + b_i (Surprise does the same
        # for an unknown user): the movies' biases.
        return self.model.global_mean + self.model.item_bias

    def item_vectors(self) -> np.ndarray:
        return self.model.item_factors

    def params(self) -> dict[str, Any]:
        return {}


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

    def params(self) -> dict[str, Any]:
        return {"min_votes": self.min_votes}


RANKERS: dict[str, type] = {
    cls.name: cls
    for cls in (PureSVDRanker, ALSRanker, EASERanker, RatingModelRanker, PopularityRanker)
}


PARAMS_TYPES: dict[str, type] = {
    PureSVDRanker.name: PureSVDParams,
    ALSRanker.name: ALSParams,
    EASERanker.name: EASEParams,
}


def ranker_params(name: str, given: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The full parameter set of ranker ``name``: its defaults updated with ``given`` (unknown
    names are an error, so a typo in a settings file is not silently ignored)."""
    if name not in RANKERS:
        raise RankerError(f"unknown ranker {name!r}: choose one of {', '.join(RANKERS)}")
    kind = PARAMS_TYPES.get(name)
    given = dict(given or {})
    if kind is None:
        return {}
    known = {f.name for f in fields(kind)}
    unknown = sorted(set(given) - known)
    if unknown:
        raise RankerError(f"ranker {name!r} has no parameter {', '.join(unknown)}")
    return asdict(kind(**given))


def build_ranker(
    name: str,
    params: Mapping[str, Any] | None = None,
    *,
    rating_model: FactorModel | Callable[[], FactorModel] | None = None,
    min_votes: int = 5,
    threads: int = 0,
) -> Ranker:
    """An unfitted ranker by name. ``rating_model`` (or a function that trains it) is only
    used by ``svd``, which ranks with it; ``min_votes`` only by ``popular``."""
    full = ranker_params(name, params)
    if name == PureSVDRanker.name:
        return PureSVDRanker(PureSVDParams(**full))
    if name == ALSRanker.name:
        return ALSRanker(ALSParams(**full), num_threads=threads)
    if name == EASERanker.name:
        return EASERanker(EASEParams(**full))
    if name == PopularityRanker.name:
        return PopularityRanker(min_votes)
    if rating_model is None:
        raise RankerError("the svd ranker needs the rating model")
    return RatingModelRanker(rating_model() if callable(rating_model) else rating_model)
