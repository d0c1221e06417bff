"""The default ranker, time-aware: PureSVD's taste profile, EASE over the most-rated movies, and
what people rate after the user's latest movies.

Every static model treats a user's ratings as a bag; people don't watch that way. This ranker
keeps PureSVD for the long-term taste (all of the user's ratings, projected onto the movie
factors) and adds a transition part (``recommender.transitions``): the movies other people
rated within their next ``window`` ratings after the user's ``recent`` latest ones, each of
those weighted ``recent_decay ** (ratings since)``. The transitions win the temporal split
(what a user rates next) and cost the random one (movies missed anywhere in a user's history),
so an item-to-item part (``recommender.head_ease``: EASE over the ``taste_items`` most-rated
movies), which finds more of the latter than PureSVD does, pays for them. Each part is
normalised so that the user's best movie scores 1, then
``score = puresvd + taste_weight * ease + transition_weight * transitions``.

How the defaults were chosen (docs/engine.md, "The sequential ranker"): on the validation
splits of ml-latest-small and its variants (each user's previous 20% of training ratings,
temporal and random, never the test ratings). The transition part first: window 20, 50-100
successors and the latest 20 ratings decayed by 0.9 sit on a plateau; decaying the PureSVD
profile itself by rating age lowered NDCG at every value tried. Then the weights and the
item-to-item part, by the rule "the random split within 1% of PureSVD's and coverage at least
PureSVD's on every variant, then the best worst-case temporal gain": EASE over 1,000 movies at
weight 1 with damping 0.2, transitions at 0.75.

Fold-in needs the order of the user's ratings: ``fold_in`` takes the rated movies oldest first,
as the serving path reads them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp

from movierec.recommender.data import InteractionMatrix, positions
from movierec.recommender.head_ease import HeadEASE
from movierec.recommender.puresvd import PureSVDParams, PureSVDRanker
from movierec.recommender.ranking import RankerError
from movierec.recommender.transitions import (
    concatenated_ranges,
    decayed,
    latest_ratings,
    transition_table,
    user_sequences,
)


@dataclass(frozen=True)
class SequentialParams:
    # The PureSVD part (PureSVDParams' meaning).
    n_factors: int = 24
    weighting: str = "rating"
    # Followers of a movie: the movies rated within the next ``window`` ratings of a user.
    window: int = 20
    # The table keeps each movie's ``successors`` most frequent followers (its size bound:
    # movies x successors entries, published with the model for fold-in).
    successors: int = 50
    # The user's latest ``recent`` ratings feed the transition part, the latest at weight 1,
    # each older one ``recent_decay`` times the next.
    recent: int = 20
    recent_decay: float = 0.9
    # The transition part's weight against PureSVD's (each normalised to a best of 1).
    transition_weight: float = 0.75
    # The item-to-item part (``recommender.head_ease``): EASE over the ``taste_items``
    # most-rated movies (0: none), its regularisation, and its weight against PureSVD's.
    taste_items: int = 1000
    taste_regularization: float = 250.0
    taste_damping: float = 0.2
    taste_weight: float = 1.0

    def __post_init__(self) -> None:
        PureSVDParams(n_factors=self.n_factors, weighting=self.weighting)  # its own checks
        for name in ("window", "successors", "recent"):
            if int(getattr(self, name)) < 1:
                raise RankerError(f"sequential {name} must be at least 1")
        if not 0 < self.recent_decay <= 1:
            raise RankerError("sequential recent_decay must be in (0, 1]")
        for name in ("transition_weight", "taste_weight"):
            if not 0 <= getattr(self, name) < float("inf"):
                raise RankerError(f"sequential {name} must be >= 0")
        if int(self.taste_items) < 0:
            raise RankerError("sequential taste_items must be >= 0")
        if not 0 < self.taste_regularization < float("inf"):
            raise RankerError("sequential taste_regularization must be > 0")
        if not 0 <= self.taste_damping <= 1:
            raise RankerError("sequential taste_damping must be in [0, 1]")


def _normalise(scores: np.ndarray, weight: float = 1.0) -> np.ndarray:
    """``scores`` (a row or a block of rows) times ``weight``, each row divided by its largest
    absolute score, in place (a float32 block stays float32)."""
    best = np.abs(scores).max(axis=-1, keepdims=True)
    scores *= (weight / np.where(best > 0, best, 1)).astype(scores.dtype)
    return scores


class SequentialRanker:
    """PureSVD blended with a pruned "what people rate next" transition table over each user's
    latest ratings (module docstring). Needs the ratings' times (``InteractionMatrix.times``)."""

    name: ClassVar[str] = "sequential"

    def __init__(self, params: SequentialParams | None = None, num_threads: int = 1) -> None:
        self.config = params or SequentialParams()
        self.num_threads = max(1, num_threads)
        self.taste: HeadEASE | None = None
        # Columns of the movies the fit never saw (placed by their content), ascending.
        self._placed_columns = np.zeros(0, dtype=np.int64)
        self.base = PureSVDRanker(
            PureSVDParams(n_factors=self.config.n_factors, weighting=self.config.weighting)
        )

    def fit(self, interactions: InteractionMatrix) -> SequentialRanker:
        if interactions.times is None:
            raise RankerError("the sequential ranker needs the time of every rating")
        self.base.fit(interactions)
        self.user_ids, self.item_ids = interactions.user_ids, interactions.item_ids
        self._placed_columns = np.zeros(0, dtype=np.int64)
        matrix = interactions.matrix
        sequence = user_sequences(matrix.indptr, matrix.indices, interactions.times)
        self.transitions = transition_table(
            matrix.indptr, sequence, interactions.n_items, self.config.window,
            self.config.successors, threads=self.num_threads,
        )  # fmt: skip
        self._recent = latest_ratings(
            matrix.indptr, sequence, interactions.n_items, self.config.recent,
            self.config.recent_decay,
        )  # fmt: skip
        self.taste = None
        if self.config.taste_items and self.config.taste_weight:
            self.taste = HeadEASE(
                self.config.taste_items, self.config.taste_regularization,
                self.config.taste_damping,
            ).fit(matrix)  # fmt: skip
        return self

    @property
    def recent_weights(self) -> sp.csr_matrix:
        """Each user row's latest ``recent`` movies with their weights (users x movies, as
        fitted and placed): what the transition part is scored from at refresh, and what
        "because you just watched" reads there (``recommender.just_watched``)."""
        return self._recent

    def _blend(
        self, profile: np.ndarray, transitions: np.ndarray, taste: np.ndarray | None
    ) -> np.ndarray:
        # In place on both blocks: a refresh scores blocks of users x movies, and every extra
        # copy of one is as large as the block (the taste part covers the most-rated movies
        # only: a block of users x taste_items).
        profile = _normalise(profile)
        placed_only = self._placed_columns
        alone = profile[..., placed_only]
        if self.taste is not None and taste is not None:
            self.taste.add_to(profile, taste, self.config.taste_weight)
        profile += _normalise(transitions, self.config.transition_weight)
        if len(placed_only):
            # A movie the fit never saw (placed by its content) has a PureSVD score and
            # nothing else: no EASE weights, no followers. Left so, it would need to beat
            # movies that all three parts score; it is put on the blend's scale instead: as
            # good as the user's best movie by PureSVD, as good as their best movie.
            best = profile.max(axis=-1, keepdims=True)
            profile[..., placed_only] = alone * np.maximum(best, 0)
        return profile

    def score_users(self, first: int, stop: int) -> np.ndarray:
        followers = (self._recent[first:stop] @ self.transitions).toarray()
        taste = None if self.taste is None else self.taste.score_users(first, stop)
        return self._blend(self.base.score_users(first, stop), followers, taste)

    def transition_scores(self, item_rows: np.ndarray) -> np.ndarray:
        """The transition part for a user whose rated movies are ``item_rows``, oldest first
        (unnormalised: the decayed sum of the latest movies' rows of the table)."""
        rows = np.asarray(item_rows, dtype=np.int64)[-self.config.recent :]
        weights = decayed(np.arange(len(rows) - 1, -1, -1), self.config.recent_decay)
        # The rows' entries gathered by their positions and summed by np.bincount: a fold-in
        # answer's share of this part, where scipy's row indexing and np.add.at took most of it.
        table = self.transitions
        starts, lengths = table.indptr[rows], table.indptr[rows + 1] - table.indptr[rows]
        entries = concatenated_ranges(starts, lengths)
        contributions = np.repeat(weights, lengths) * table.data[entries]
        return np.bincount(
            table.indices[entries], weights=contributions, minlength=table.shape[0]
        ).astype(np.float32)

    def fold_in(self, item_rows: np.ndarray, ratings: np.ndarray) -> np.ndarray:
        """Scores for a user from their rated movie rows **oldest first** (the order decides
        which movies are the latest) and their stars."""
        profile = self.base.fold_in(item_rows, ratings)
        taste = None
        if self.taste is not None:
            taste = self.taste.fold_in(item_rows, self.transitions.shape[0])
        return self._blend(profile, self.transition_scores(item_rows), taste)

    def item_vectors(self) -> np.ndarray:
        return self.base.item_vectors()

    def place_items(self, item_ids: np.ndarray, vectors: np.ndarray | None) -> None:
        # A joining movie has no followers and follows nothing until people rate it; a leaving
        # one leaves both sides of the table (and the users' latest ratings, for scoring).
        item_ids = np.asarray(item_ids, dtype=np.int64)
        moved = positions(item_ids, self.item_ids)
        self.transitions = _moved(self.transitions, moved, moved, len(item_ids), len(item_ids))
        if getattr(self, "_recent", None) is not None:
            identity = np.arange(self._recent.shape[0])
            self._recent = _moved(
                self._recent, identity, moved, self._recent.shape[0], len(item_ids)
            )
        if self.taste is not None:
            self.taste.place(moved)
        # Joining movies are placed only; the others keep what they were.
        was_placed = np.zeros(len(moved), dtype=bool)
        was_placed[self._placed_columns] = True
        placed_only = np.ones(len(item_ids), dtype=bool)
        kept = moved >= 0
        placed_only[moved[kept]] = was_placed[kept]
        self._placed_columns = np.flatnonzero(placed_only)
        self.base.place_items(item_ids, vectors)
        self.item_ids = item_ids

    def params(self) -> dict[str, Any]:
        return asdict(self.config)

    def state(self) -> dict[str, np.ndarray]:
        table = self.transitions
        taste = {}
        if self.taste is not None:
            taste = {"taste.columns": self.taste.columns, "taste.weights": self.taste.weights}
        return {
            **self.base.state(),
            "transitions.indptr": table.indptr.astype(np.int64),
            "transitions.indices": table.indices.astype(np.int32),
            "transitions.data": table.data.astype(np.float32),
            "placed_columns": self._placed_columns,
            **taste,
        }

    @classmethod
    def restore(cls, params: dict[str, Any], state: dict[str, np.ndarray]) -> SequentialRanker:
        ranker = cls(SequentialParams(**params))
        ranker.base = PureSVDRanker.restore(
            {"n_factors": ranker.config.n_factors, "weighting": ranker.config.weighting},
            state,
        )
        n_items = len(state["transitions.indptr"]) - 1
        ranker.transitions = sp.csr_matrix(
            (state["transitions.data"], state["transitions.indices"],
             state["transitions.indptr"]),
            shape=(n_items, n_items),
        )  # fmt: skip
        # A model published before it said which movies were placed only: none were.
        placed = state["placed_columns"] if "placed_columns" in state else np.zeros(0)
        ranker._placed_columns = np.asarray(placed, dtype=np.int64)
        ranker.taste = None
        if "taste.columns" in state:
            ranker.taste = HeadEASE(
                ranker.config.taste_items, ranker.config.taste_regularization,
                ranker.config.taste_damping,
                columns=np.asarray(state["taste.columns"], dtype=np.int64),
                weights=np.asarray(state["taste.weights"], dtype=np.float32),
            )  # fmt: skip
        return ranker


def _moved(
    matrix: sp.csr_matrix, rows: np.ndarray, columns: np.ndarray, n_rows: int, n_columns: int
) -> sp.csr_matrix:
    """``matrix`` with entry (r, c) moved to (rows[r], columns[c]); entries whose row or column
    maps to -1 dropped."""
    coo = matrix.tocoo()
    new_rows, new_columns = rows[coo.row], columns[coo.col]
    kept = (new_rows >= 0) & (new_columns >= 0)
    return sp.csr_matrix(
        (coo.data[kept], (new_rows[kept], new_columns[kept])),
        shape=(n_rows, n_columns),
        dtype=np.float32,
    )
