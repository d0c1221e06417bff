"""The popularity ranker (``RANKER=popular``): ``PopularityRanker`` gives everyone the same list,
the movies by how many users rated them, then by average rating. It is the baseline every
evaluation reports, and the cold-start list new users get."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from movierec.recommender.data import InteractionMatrix
from movierec.recommender.ranking import reindexed


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
