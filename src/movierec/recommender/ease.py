"""EASE (Steck 2019), the closed-form item-item model: its parameters (``EASEParams``) and the
ranker (``EASERanker``). Its dense movies x movies weights limit it to small catalogues and are
too large to publish, so it is not served for fold-in (``FoldInUnavailable``)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, ClassVar

import numpy as np

from movierec.recommender.data import InteractionMatrix, positions
from movierec.recommender.ranking import FoldInUnavailable, RankerError, as_float32, reindexed


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
        self.weights = as_float32(weights)
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
