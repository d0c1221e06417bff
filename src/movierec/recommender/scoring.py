"""Top-N lists for every user, scored with vectorised numpy over a ``FactorModel``.

Instead of Surprise's anti-testset (one Python tuple and one ``predict`` call per unrated
user-movie pair), a batch of users is scored against every movie with one matrix product,
the movies each user rated are masked out, and the best ``n`` are picked with a partial sort.
Batches are sized so the score block stays within a memory budget whatever the catalogue size.

Ranking is by the unclipped estimate, best first; equal estimates rank by ascending raw movie
id (the column order of the model), including at the cut-off.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from movierec.recommender.training import FactorModel

# Bytes per movie column of one user row while a batch is ranked: the float64 score, the
# float64 bias sum it is added to, the int64 partition indices, and the boolean tie mask.
_BYTES_PER_CELL = 8 + 8 + 8 + 1

BatchDone = Callable[[int, float], None]


@dataclass(frozen=True)
class RatedItems:
    """The movies each user rated, as CSR rows over the model's user and item positions:
    the items of user row ``u`` are ``indices[indptr[u]:indptr[u + 1]]``."""

    indptr: np.ndarray
    indices: np.ndarray

    @classmethod
    def from_ratings(
        cls, model: FactorModel, user_ids: np.ndarray, movie_ids: np.ndarray
    ) -> RatedItems:
        """Build from parallel arrays of raw ids (e.g. the training frame's two columns).
        Pairs whose user or movie the model does not know are ignored."""
        users = model.user_positions(np.asarray(user_ids))
        items = model.item_positions(np.asarray(movie_ids))
        known = (users >= 0) & (items >= 0)
        users, items = users[known], items[known]
        order = np.lexsort((items, users))
        counts = np.bincount(users, minlength=model.n_users)
        indptr = np.zeros(model.n_users + 1, dtype=np.int64)
        np.cumsum(counts, out=indptr[1:])
        return cls(indptr=indptr, indices=items[order])

    def count(self, user_row: int) -> int:
        return int(self.indptr[user_row + 1] - self.indptr[user_row])


def users_per_batch(n_items: int, memory_bytes: int) -> int:
    """How many users fit in one scoring batch within ``memory_bytes``."""
    return max(1, memory_bytes // (max(n_items, 1) * _BYTES_PER_CELL))


def score_block(model: FactorModel, first: int, stop: int) -> np.ndarray:
    """Unclipped estimates of user rows ``first..stop-1`` against every movie.

    The sum is ``((mu + b_u) + b_i) + p_u . q_i``, the order of ``SVD.estimate``, so only the
    dot product's summation order (BLAS) can differ from Surprise, by a few ulps.
    """
    scores = model.user_factors[first:stop] @ model.item_factors.T
    scores += np.add.outer(model.global_mean + model.user_bias[first:stop], model.item_bias)
    return scores


def _mask_rated(scores: np.ndarray, rated: RatedItems, first: int, stop: int) -> None:
    start, end = rated.indptr[first], rated.indptr[stop]
    rows = np.repeat(np.arange(stop - first), np.diff(rated.indptr[first : stop + 1]))
    scores[rows, rated.indices[start:end]] = -np.inf


def top_k_columns(scores: np.ndarray, k: int) -> np.ndarray:
    """The columns of the ``k`` highest scores of each row, best first; equal scores rank by
    lower column first. ``-inf`` entries (masked) may appear at the end of rows that have
    fewer than ``k`` finite scores; the caller drops them."""
    n_rows, n_cols = scores.shape
    k = min(k, n_cols)
    if k == 0:
        return np.empty((n_rows, 0), dtype=np.int64)
    if k < n_cols:
        picked = np.argpartition(scores, n_cols - k, axis=1)[:, n_cols - k :]
    else:
        picked = np.broadcast_to(np.arange(n_cols), scores.shape)
    values = np.take_along_axis(scores, picked, axis=1)
    order = np.lexsort((picked, -values), axis=1)
    columns = np.take_along_axis(picked, order, axis=1)
    if k < n_cols:
        # argpartition cuts arbitrarily among scores equal to the k-th; redo those rows exactly.
        kth = np.take_along_axis(values, order[:, -1:], axis=1)
        at_least = np.count_nonzero(scores >= kth, axis=1)
        for row in np.flatnonzero((at_least > k) & np.isfinite(kth[:, 0])):
            candidates = np.flatnonzero(scores[row] >= kth[row, 0])
            ranked = np.lexsort((candidates, -scores[row, candidates]))[:k]
            columns[row] = candidates[ranked]
    return columns


def iter_top_n(
    model: FactorModel,
    rated: RatedItems,
    n: int,
    *,
    memory_bytes: int = 128 * 2**20,
    on_batch: BatchDone | None = None,
) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(raw user id, raw movie ids best first)`` for every user of the model: the ``n``
    best movies the user has not rated (fewer only when fewer are left).

    ``on_batch(users, seconds)`` is called after each batch with the time spent scoring it
    (not the time the consumer spent between batches).
    """
    batch = users_per_batch(model.n_items, memory_bytes)
    for first in range(0, model.n_users, batch):
        started = time.perf_counter()
        stop = min(first + batch, model.n_users)
        scores = score_block(model, first, stop)
        _mask_rated(scores, rated, first, stop)
        columns = top_k_columns(scores, n)
        finite = np.isfinite(np.take_along_axis(scores, columns, axis=1))
        movie_ids = model.item_ids[columns]
        lists = [
            movie_ids[row][finite[row]] if not finite[row].all() else movie_ids[row]
            for row in range(stop - first)
        ]
        del scores
        if on_batch is not None:
            on_batch(stop - first, time.perf_counter() - started)
        for row, movies in enumerate(lists):
            yield int(model.user_ids[first + row]), movies
