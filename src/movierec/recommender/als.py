"""Implicit-feedback ALS (Hu, Koren & Volinsky 2008) from the ``implicit`` library, on the binary
user x movie matrix: its parameters (``ALSParams``) and the ranker (``ALSRanker``), whose fold-in
is ALS's own user step solved in closed form against the fixed movie factors."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, ClassVar

import numpy as np

from movierec.recommender.data import InteractionMatrix
from movierec.recommender.ranking import as_float32, placed_vectors


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
        self.user_factors = as_float32(self._model.user_factors)
        self.item_factors = as_float32(self._model.item_factors)
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
        self.item_factors = placed_vectors(self.item_ids, item_ids, self.item_factors, vectors)
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
