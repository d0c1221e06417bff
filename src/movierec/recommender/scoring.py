"""Top-N lists for every user, scored in memory-bounded batches over any ranking model.

Instead of Surprise's anti-testset (one Python tuple and one ``predict`` call per unrated
user-movie pair), a batch of users is scored against every movie at once (``Ranker.score_users``:
a matrix product for the factor models), the movies each user rated are masked out, and the best
``n`` are picked with a partial sort. Batches are sized so the score block stays within a memory
budget whatever the catalogue size, and several batches are scored at once on a thread pool
(numpy and BLAS release the GIL), so scoring uses every core.

Ranking is by the ranker's score, best first; equal scores rank by ascending raw movie id (the
column order of the model), including at the cut-off.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple, Protocol, TypeVar

import numpy as np
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from movierec.recommender.data import positions
from movierec.recommender.topn import select_rows
from movierec.recommender.training import RATING_SCALE, FactorModel, estimate_pairs

if TYPE_CHECKING:
    from movierec.recommender.ranking import Ranker

# Bytes per movie column of one user row while a batch is ranked: the float64 score (float32
# scores are widened for the tie-break sort), the int64 partition indices, the boolean tie mask
# and slack for the temporaries of the ranker's own product.
_BYTES_PER_CELL = 8 + 8 + 1 + 8

BatchDone = Callable[[int, float], None]


T = TypeVar("T")


class HasIds(Protocol):
    user_ids: np.ndarray
    item_ids: np.ndarray


class UserList(NamedTuple):
    """One user's ranked movies: raw movie ids best first, with the ranker's scores."""

    user_id: int
    movie_ids: np.ndarray
    scores: np.ndarray


@dataclass(frozen=True)
class RatedItems:
    """The movies each user rated, as CSR rows over a model's user and item positions:
    the items of user row ``u`` are ``indices[indptr[u]:indptr[u + 1]]``."""

    indptr: np.ndarray
    indices: np.ndarray

    @classmethod
    def from_ratings(cls, model: HasIds, user_ids: np.ndarray, movie_ids: np.ndarray) -> RatedItems:
        """Build from parallel arrays of raw ids (e.g. the training ratings' two columns), for
        the rows and columns of ``model`` (anything with ascending ``user_ids``/``item_ids``).
        Pairs whose user or movie the model does not know are ignored."""
        users = positions(model.user_ids, np.asarray(user_ids))
        items = positions(model.item_ids, np.asarray(movie_ids))
        known = (users >= 0) & (items >= 0)
        users, items = users[known], items[known]
        order = np.lexsort((items, users))
        counts = np.bincount(users, minlength=len(model.user_ids))
        indptr = np.zeros(len(model.user_ids) + 1, dtype=np.int64)
        np.cumsum(counts, out=indptr[1:])
        return cls(indptr=indptr, indices=items[order])

    @classmethod
    def from_matrix(cls, matrix: sp.csr_matrix) -> RatedItems:
        """The stored entries of a users x movies CSR matrix (an ``InteractionMatrix``'s)."""
        return cls(indptr=matrix.indptr.astype(np.int64), indices=matrix.indices.astype(np.int64))

    def remapped(self, columns: np.ndarray) -> RatedItems:
        """The same rows over other columns: old column ``c`` becomes ``columns[c]``, dropped
        where that is -1 (a movie no longer served). ``columns`` must keep the order of the
        columns it keeps, so each row stays in the order it had."""
        new = np.asarray(columns, dtype=np.int64)[self.indices]
        kept = new >= 0
        rows = np.repeat(np.arange(len(self.indptr) - 1), np.diff(self.indptr))
        counts = np.bincount(rows[kept], minlength=len(self.indptr) - 1)
        indptr = np.zeros(len(self.indptr), dtype=np.int64)
        np.cumsum(counts, out=indptr[1:])
        return RatedItems(indptr=indptr, indices=new[kept])

    def count(self, user_row: int) -> int:
        return int(self.indptr[user_row + 1] - self.indptr[user_row])

    def including(self, other: RatedItems) -> RatedItems:
        """The movies of both, per user row (the same rows): each row's ``other`` movies go
        after its own, so a row is no longer in column order (masking needs no order). Cheap
        when ``other`` is small (the dismissed movies beside every rating)."""
        if len(other.indices) == 0:
            return self
        added = np.diff(other.indptr)
        rows = np.repeat(np.arange(len(added)), added)
        indices = np.insert(self.indices, self.indptr[rows + 1], other.indices)
        indptr = self.indptr + np.concatenate([[0], np.cumsum(added)])
        return RatedItems(indptr=indptr, indices=indices)


def users_per_batch(n_items: int, memory_bytes: int) -> int:
    """How many users fit in one scoring batch within ``memory_bytes``."""
    return max(1, memory_bytes // (max(n_items, 1) * _BYTES_PER_CELL))


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


def _rank_batch(
    ranker: Ranker, rated: RatedItems, n: int, first: int, stop: int
) -> tuple[list[UserList], float]:
    started = time.perf_counter()
    k = min(n, len(ranker.item_ids))
    columns = np.zeros((stop - first, k), dtype=np.int64)
    values = np.empty((stop - first, k))
    counts = np.zeros(stop - first, dtype=np.int64)
    select = getattr(ranker, "select_top", None)
    if k == 0:
        pass
    elif select is not None:  # a ranker with a cheaper way to its best (BlendedRanker)
        select(first, stop, rated.indptr, rated.indices, columns, values, counts)
    else:
        scores = ranker.score_users(first, stop)
        if scores.dtype not in (np.float32, np.float64):
            scores = scores.astype(np.float64)
        scores = np.require(scores, requirements=("C", "W"))
        select_rows(scores, rated.indptr, rated.indices, first, k, columns, values, counts)
    movie_ids = ranker.item_ids[columns]
    lists = []
    for row in range(stop - first):
        count = counts[row]
        lists.append(
            UserList(int(ranker.user_ids[first + row]), movie_ids[row, :count], values[row, :count])
        )
    return lists, time.perf_counter() - started


def iter_top_n(
    ranker: Ranker,
    rated: RatedItems,
    n: int,
    *,
    memory_bytes: int = 128 * 2**20,
    threads: int = 1,
    on_batch: BatchDone | None = None,
) -> Iterator[UserList]:
    """Yield a ``UserList`` for every user row of ``ranker``, in row order: the ``n`` best
    movies the user has not rated (fewer only when fewer are left).

    ``memory_bytes`` bounds one batch's score block; ``threads`` batches are scored at once
    (so the blocks held at once are bounded by ``threads * memory_bytes``). ``on_batch(users,
    seconds)`` is called after each batch with the time spent scoring it (not the time the
    consumer spent between batches).
    """
    n_users = len(ranker.user_ids)
    batch = users_per_batch(len(ranker.item_ids), memory_bytes)
    bounds = [(first, min(first + batch, n_users)) for first in range(0, n_users, batch)]

    def report(lists: list[UserList], seconds: float) -> list[UserList]:
        if on_batch is not None:
            on_batch(len(lists), seconds)
        return lists

    if threads <= 1:
        for first, stop in bounds:
            yield from report(*_rank_batch(ranker, rated, n, first, stop))
        return
    # With a pool, a batch's "seconds" are the wall time the consumer waited for it (scoring
    # that did not overlap with the consumer's own work), so the figures still add up to the
    # elapsed time.
    # One BLAS thread per scoring thread: N threads each running a 2-thread product on 2 cores
    # only contend (process-wide while the pool runs).
    with (
        threadpool_limits(1, "blas"),
        ThreadPoolExecutor(threads, thread_name_prefix="scoring") as pool,
    ):
        pending: deque = deque()
        for first, stop in bounds:
            pending.append(pool.submit(_rank_batch, ranker, rated, n, first, stop))
            if len(pending) > threads:
                yield from _collect(pending.popleft(), report)
        while pending:
            yield from _collect(pending.popleft(), report)


def _collect(future, report):  # type: ignore[no-untyped-def]
    waited = time.perf_counter()
    lists, _ = future.result()
    return report(lists, time.perf_counter() - waited)


class ScoredList(NamedTuple):
    """A user's list as published: movies best first, the ranker's scores, and the rating
    model's predicted stars (clipped to the scale; NaN for a movie it does not know)."""

    user_id: int
    movie_ids: np.ndarray
    scores: np.ndarray
    predicted_ratings: np.ndarray
    # Per movie the liked movies that explain it (``recommender.explanations``), best first,
    # -1 where there are fewer: shape (len(movie_ids), EXPLANATIONS_PER_MOVIE). None: unknown.
    reasons: np.ndarray | None = None
    # Per movie the one of the user's latest ratings it follows, where it comes mainly from
    # what people rate next (``recommender.just_watched``), -1 elsewhere; it is then the
    # movie's reason in place of ``reasons``. None: not a sequential ranker's list.
    followed: np.ndarray | None = None


def with_predicted_ratings(
    lists: Iterator[UserList], model: FactorModel, chunk: int = 1024
) -> Iterator[ScoredList]:
    """Attach the rating model's predicted stars to each list, as they stream past: ``chunk``
    users at a time in one vectorised estimate (a Python call per user cost more than the
    scoring itself at 5M ratings)."""
    for pending in in_chunks(lists, chunk):
        yield from _predicted(pending, model)


def in_chunks(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """``items`` as they come, ``size`` at a time (the last chunk shorter, none empty)."""
    pending: list[T] = []
    for item in items:
        pending.append(item)
        if len(pending) == size:
            yield pending
            pending = []
    if pending:
        yield pending


def _predicted(lists: list[UserList], model: FactorModel) -> Iterator[ScoredList]:
    if not lists:
        return
    lengths = np.array([len(user_list.movie_ids) for user_list in lists])
    movies = np.concatenate([user_list.movie_ids for user_list in lists])
    users = np.repeat(np.array([user_list.user_id for user_list in lists]), lengths)
    user_rows, item_rows = model.user_positions(users), model.item_positions(movies)
    stars = np.full(len(movies), np.nan)
    known = (user_rows >= 0) & (item_rows >= 0)
    stars[known] = estimate_pairs(model, user_rows[known], item_rows[known])
    new_user = (user_rows < 0) & (item_rows >= 0)  # Surprise's estimate for an unknown user
    stars[new_user] = model.global_mean + model.item_bias[item_rows[new_user]]
    np.clip(stars, *RATING_SCALE, out=stars)
    for user_list, part in zip(lists, np.split(stars, np.cumsum(lengths)[:-1]), strict=True):
        yield ScoredList(*user_list, part)
