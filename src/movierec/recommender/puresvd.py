"""PureSVD (Cremonesi, Koren & Turrin 2010): a truncated SVD of the user x movie matrix, whose
movie factors rank each user's movies and are the space of similar movies. Holds its
parameters (``PureSVDParams``) and the ranker (``PureSVDRanker``); the time-aware ranker
(``recommender.sequential``, the default) builds on both."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp

from movierec.recommender.data import InteractionMatrix
from movierec.recommender.ranking import RankerError, as_float32, placed_vectors, reindexed


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
            self._column_scale = as_float32(counts**-self.config.popularity_damping)
            matrix = (matrix @ sp.diags(self._column_scale)).tocsr()
        k = min(self.config.n_factors, min(matrix.shape) - 1)
        if k < 1:
            raise RankerError("PureSVD needs at least two users and two movies")
        # ARPACK from a fixed start vector: the same data gives the same factors.
        start = np.random.default_rng(0).standard_normal(min(matrix.shape))
        _, _, vt = svds(matrix, k=k, v0=start, return_singular_vectors="vh")
        self.item_factors = as_float32(vt.T)  # movies x k, orthonormal columns
        self.user_ids, self.item_ids = interactions.user_ids, interactions.item_ids
        self.user_factors = as_float32(matrix @ self.item_factors)  # x_u V
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
        self.item_factors = placed_vectors(self.item_ids, item_ids, self.item_factors, vectors)
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
