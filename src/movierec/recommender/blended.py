"""A ranker's order nudged by the predicted stars: ``BlendedRanker`` adds ``rating_weight`` per
star the rating model predicts to any ranker's normalised scores (``RANKER_RATING_WEIGHT``). It
scores blocks of users, selects each user's top movies without computing the stars of movies
that cannot make the list (``recommender.topn``), and folds a new user into both models."""

from __future__ import annotations

from typing import Any

import numpy as np

from movierec.recommender.data import InteractionMatrix, positions
from movierec.recommender.ranking import Ranker
from movierec.recommender.topn import blend_prepare, blend_select, select_rows
from movierec.recommender.training import RATING_SCALE, FactorModel, fold_in_user, score_block

# BlendedRanker.select_top: above this fraction of candidate cells in a block, the predicted
# stars come from one BLAS product of the block rather than a dot product per candidate.
_BLAS_ABOVE = 0.05


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
