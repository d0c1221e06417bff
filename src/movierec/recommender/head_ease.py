"""Item-to-item taste over the catalogue's most-rated movies: EASE (Steck 2019) on the
``items`` movies the most users rated.

PureSVD sees a user's taste through a couple of dozen factors; an item-to-item model sees which
movies go with which, one by one, and the two together find more of the movies a user rated
anywhere in their history than either alone (docs/engine.md, "The sequential ranker"). EASE is
the strongest such model in closed form, but its weights are a dense movies x movies matrix
(14 GB at 59k movies). Restricted to the most-rated movies it stays small — 1,000 movies: a
4 MB matrix, a Gram matrix of users x 1,000 x 1,000 multiply-adds — and on MovieLens those
movies hold most ratings and most of what the lists show; the other movies get no score from
this part, only from the others.

The Gram matrix is summed over blocks of users made dense (0/1 values: every float32 sum of a
block is an exact integer), so memory is one block and the result does not depend on the
order of the sums.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp


@dataclass
class HeadEASE:
    """EASE's weights ``B = I - P / diag(P)``, ``P = (G + regularization I)^-1``, ``G`` the
    co-occurrence counts of the ``items`` most-rated movies (equal counts: the lower column
    first), each column ``b`` divided by ``count_b ** damping``. ``columns`` are those movies'
    columns, ascending; ``weights[a, b]`` how much having rated ``columns[a]`` says for
    ``columns[b]``."""

    items: int
    regularization: float
    # Each target movie's weights divided by (its user count) ** damping: EASE alone fills
    # lists with the best-known of those movies, and a little damping lets the less-rated of
    # them in (more of the catalogue shown) at little cost to NDCG, measured.
    damping: float = 0.0
    block_users: int = 8192
    columns: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    weights: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))
    _users: sp.csr_matrix | None = field(default=None, repr=False)
    _index: np.ndarray | None = field(default=None, repr=False)

    def fit(self, matrix: sp.csr_matrix) -> HeadEASE:
        """From ``matrix``, users x movies, a stored entry where a user rated a movie (its
        value is not used: who rated what)."""
        n_items = matrix.shape[1]
        # Counted from the indices, and only the chosen columns copied: at 25M ratings a copy
        # of the whole matrix (or its CSC) would be 200 MB more at the refresh's peak.
        counts = np.bincount(matrix.indices, minlength=n_items)
        by_count = np.lexsort((np.arange(n_items), -counts))
        self.columns = np.sort(by_count[: min(self.items, n_items)]).astype(np.int64)
        users = matrix[:, self.columns].tocsr().astype(np.float32)
        users.data[:] = 1.0
        gram = np.zeros((len(self.columns), len(self.columns)))
        for first in range(0, users.shape[0], self.block_users):
            block = users[first : first + self.block_users].toarray()
            gram += block.T @ block
        gram[np.diag_indices_from(gram)] += self.regularization
        inverse = np.linalg.inv(gram)
        weights = -inverse / np.diag(inverse)
        weights[np.diag_indices_from(weights)] = 0.0
        if self.damping:
            weights *= np.maximum(counts[self.columns], 1).astype(np.float64) ** -self.damping
        self.weights = np.ascontiguousarray(weights, dtype=np.float32)
        self._users = users
        return self

    def score_users(self, first: int, stop: int) -> np.ndarray:
        """The fitted user rows' scores for ``columns`` (rows x len(columns))."""
        if self._users is None:
            raise ValueError("scores of fitted users need a fit, not a restored model")
        return np.asarray(self._users[first:stop] @ self.weights)

    def fold_in(self, item_rows: np.ndarray, n_items: int) -> np.ndarray:
        """The scores for ``columns`` of a user who rated the movies at ``item_rows``."""
        index = self._index
        if index is None or len(index) != n_items:
            # Each movie's row of the weights (-1: not one of them); built once per placement.
            index = np.full(n_items, -1, dtype=np.int64)
            index[self.columns] = np.arange(len(self.columns))
            self._index = index
        rated = index[np.asarray(item_rows, dtype=np.int64)]
        return self.weights[rated[rated >= 0]].sum(axis=0, dtype=np.float32)

    def place(self, moved: np.ndarray) -> None:
        """Follow the catalogue's new columns: ``moved[c]`` is the new column of old column
        ``c`` (-1: gone). A movie gone leaves both as a source and as a target, for the fitted
        users too: fold-in cannot name it any more, and the refresh forgets it alike."""
        new_columns = moved[self.columns]
        kept = new_columns >= 0
        self.columns = new_columns[kept].astype(np.int64)
        self._index = None
        self.weights = np.ascontiguousarray(self.weights[np.ix_(kept, kept)])
        if self._users is not None:
            self._users = self._users[:, np.flatnonzero(kept)].tocsr()

    def add_to(self, scores: np.ndarray, part: np.ndarray, weight: float) -> None:
        """``scores`` (a row or a block of rows over every movie) plus ``part`` (this model's
        scores for ``columns``), each row of it divided by its largest absolute value and times
        ``weight``; in place."""
        best = np.abs(part).max(axis=-1, keepdims=True) if part.shape[-1] else 1.0
        part = part * (weight / np.where(best > 0, best, 1)).astype(part.dtype)
        scores[..., self.columns] += part
