"""The rating model as a ranker, MovieRec's original lists (``RANKER=svd``):
``RatingModelRanker`` ranks by Surprise's SVD estimate of the stars, with the rating model the
refresh trained (``recommender.training``); nothing is fitted here, and fold-in folds the user
into that rating model."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from movierec.recommender.data import InteractionMatrix
from movierec.recommender.ranking import RankerError
from movierec.recommender.training import FactorModel, fold_in_user, score_block


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
