"""Why a movie is recommended when it comes from what people rate next: "because you just
watched" the movie it follows.

The sequential ranker (``recommender.sequential``) adds two parts, each normalised to a best of
1 per user: PureSVD's scores ``svd`` and the transition part ``tr`` (the user's latest ratings
``i``, weighted ``w_i``, times their rows of the transition table ``T``). A recommended movie
``j`` comes mainly from the transition part when ``tr_j > 0`` and

    transition_weight * tr_j / max(tr) > svd_j / max(|svd|)

(the maxima over every movie, as the ranker normalises them). Its reason is then the one of
the user's latest ratings that contributes most to ``tr_j``, the largest ``w_i * T[i, j]``
(equal contributions: the smaller movie id), instead of the liked movies most similar to it
(``recommender.explanations``). ``UserFollowers`` answers it at refresh for every published
list, ``JustWatched.followed_by_one`` at read time for one user (``ServingModel.followed``),
so that a cached list is served with its reasons without reading the user's ratings.

The two paths must decide alike, and the ranker's own scores would not let them: the refresh
scores users from factors learnt before new movies were placed, in a BLAS product whose last
bits depend on the CPU, the read path from a fold-in. So both compute the two parts again,
from the published movie side and the user's ratings of the served movies, in arithmetic whose
result does not depend on the order of a BLAS or on fused multiply-adds:

- PureSVD's profile ``p = sum(stars * column scale * factors row)`` in float64, summed in
  column order (each product is exact: a half star, a float32 and a float32 take at most 52
  bits), rounded to float32; ``svd_j = p . v_j`` summed in float64 (each product of two
  float32 exact), in factor order;
- ``max |svd|`` over every movie without scoring every movie: the movies by descending length
  of ``v_j``, until ``|p| |v_j|`` (which bounds ``|svd_j|``) is below the best so far. On
  ml-latest-small a user needs about 200 of the 9,700 movies; the result is the exact maximum
  of the values above, however far each path had to look;
- ``tr_j`` in float64 (each ``w_i * T[i, j]`` exact), the latest rating first; the weights
  are the ranker's (``transitions.decayed``) over the user's whole sequence (movies the model
  does not serve keep their place in it, as in its weights at refresh), then those left out.

Every decision is a comparison of those exact-order numbers, so the refresh and the read path
agree on every CPU, ties included. Cheap: per user its latest ratings' rows of the table (20
rows of at most 50), a short scan and one product per listed movie, in compiled loops.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
from numba import njit

from movierec.recommender.blended import BlendedRanker
from movierec.recommender.data import positions
from movierec.recommender.sequential import SequentialRanker
from movierec.recommender.transitions import decayed

# |p| |v_j| bounds |svd_j| up to the rounding of the three: a little slack keeps the bound.
_BOUND_SLACK = 1.0 + 1e-6


@njit(cache=True, nogil=True)
def _profiles(indptr, indices, mapping, stars, binary, column_scale, factors, out):  # type: ignore[no-untyped-def]
    """PureSVD's profile of each row (``out``, float32): its columns (``mapping[indices]``
    when ``mapping`` is not empty; -1 left out), ascending, summed in float64."""
    k = factors.shape[1]
    total = np.zeros(k)
    for row in range(len(indptr) - 1):
        total[:] = 0.0
        for e in range(indptr[row], indptr[row + 1]):
            column = indices[e] if len(mapping) == 0 else mapping[indices[e]]
            if column < 0:
                continue
            weight = np.float64(column_scale[column])
            if not binary:
                weight *= np.float64(stars[e])
            for f in range(k):
                total[f] += weight * np.float64(factors[column, f])
        for f in range(k):
            out[row, f] = total[f]


@njit(cache=True, nogil=True)
def _largest_score(profile, length, by_length, lengths, factors):  # type: ignore[no-untyped-def]
    """``max |profile . v_j|`` over every movie: by descending length, while it can win."""
    best = 0.0
    k = factors.shape[1]
    for t in range(len(by_length)):
        if length * lengths[t] * _BOUND_SLACK < best:
            break
        column = by_length[t]
        score = 0.0
        for f in range(k):
            score += profile[f] * np.float64(factors[column, f])
        best = max(best, abs(score))
    return best


@njit(cache=True, nogil=True)
def _followed(  # type: ignore[no-untyped-def]
    profiles, entry_rows, entry_columns, source_indptr, source_columns, source_weights,
    table_indptr, table_indices, table_data, factors, by_length, lengths, transition_weight, out,
):  # fmt: skip
    """For each list entry ``e`` (movie column ``entry_columns[e]`` of user row
    ``entry_rows[e]``; a row's entries consecutive): the source column it follows into
    ``out[e]`` when the transition part wins (``out`` holds -1 beforehand)."""
    n_items, k = factors.shape
    shares = np.zeros(n_items)  # tr_j of the row
    strongest = np.zeros(n_items)  # the largest w_i * T[i, j] ...
    source_of = np.full(n_items, -1, dtype=np.int64)  # ... and its i; -1: j not touched
    touched = np.empty(n_items, dtype=np.int64)
    profile = np.empty(k)
    start, n_entries = 0, len(entry_rows)
    while start < n_entries:
        row, stop = entry_rows[start], start
        while stop < n_entries and entry_rows[stop] == row:
            stop += 1
        if row < 0:
            start = stop
            continue
        first, last = source_indptr[row], source_indptr[row + 1]
        # The latest rating first: by weight descending, equal weights by column (a few
        # sources: an insertion sort).
        order = np.arange(first, last)
        for a in range(1, last - first):
            s = order[a]
            b = a
            while b > 0 and (
                source_weights[order[b - 1]] < source_weights[s]
                or (
                    source_weights[order[b - 1]] == source_weights[s]
                    and source_columns[order[b - 1]] > source_columns[s]
                )
            ):
                order[b] = order[b - 1]
                b -= 1
            order[b] = s
        n_touched = 0
        for s in order:
            source, weight = source_columns[s], np.float64(source_weights[s])
            for t in range(table_indptr[source], table_indptr[source + 1]):
                j = table_indices[t]
                contribution = weight * np.float64(table_data[t])
                if source_of[j] < 0:
                    touched[n_touched] = j
                    n_touched += 1
                    source_of[j], strongest[j] = source, contribution
                elif contribution > strongest[j] or (
                    contribution == strongest[j] and source < source_of[j]
                ):
                    source_of[j], strongest[j] = source, contribution
                shares[j] += contribution
        most = 0.0
        for t in range(n_touched):
            most = max(most, shares[touched[t]])
        if most > 0:
            length = 0.0
            for f in range(k):
                profile[f] = np.float64(profiles[row, f])
                length += profile[f] * profile[f]
            scale = _largest_score(profile, np.sqrt(length), by_length, lengths, factors)
            scale = scale if scale > 0 else 1.0  # as the ranker normalises an all-zero part
            for e in range(start, stop):
                j = entry_columns[e]
                if j < 0 or shares[j] <= 0:
                    continue
                score = 0.0
                for f in range(k):
                    score += profile[f] * np.float64(factors[j, f])
                if transition_weight * shares[j] / most > score / scale:
                    out[e] = source_of[j]
        for t in range(n_touched):
            j = touched[t]
            shares[j], strongest[j], source_of[j] = 0.0, 0.0, -1
        start = stop


@dataclass(frozen=True)
class Sources:
    """The rows of a CSR matrix of float32 weights (each user row's latest ratings, or the
    transition table's rows), in the integer types the matrix has: no copy of the published
    table per web process."""

    indptr: np.ndarray
    columns: np.ndarray
    weights: np.ndarray  # float32

    @classmethod
    def of(cls, matrix: sp.csr_matrix) -> Sources:
        return cls(matrix.indptr, matrix.indices, np.asarray(matrix.data, dtype=np.float32))


@dataclass(frozen=True)
class JustWatched:
    """What decides "because you just watched" for a sequential ranker's lists: its movie side
    as published (PureSVD's factors and column scale, the transition table) and its settings."""

    factors: np.ndarray  # float32, served movies x factors
    column_scale: np.ndarray  # float32, per served movie
    binary: bool  # PureSVD weighs every rating 1, not its stars
    table: Sources  # the transition table's rows: served movies x served movies
    recent: int
    recent_decay: float
    transition_weight: float

    @classmethod
    def of(cls, ranker: Any) -> JustWatched | None:
        """For a sequential ranker (alone, or blended with the stars: ``BlendedRanker``), as
        fitted at refresh or restored from a published model; None for any other ranker."""
        if isinstance(ranker, BlendedRanker):
            ranker = ranker.base
        if not isinstance(ranker, SequentialRanker):
            return None
        state, config = ranker.base.state(), ranker.config
        return cls(
            np.asarray(state["item_factors"], dtype=np.float32),
            np.asarray(state["column_scale"], dtype=np.float32),
            config.weighting == "binary",
            Sources.of(ranker.transitions.tocsr()),
            config.recent,
            config.recent_decay,
            config.transition_weight,
        )

    @functools.cached_property
    def _by_length(self) -> tuple[np.ndarray, np.ndarray]:
        factors = self.factors.astype(np.float64)
        lengths = np.sqrt(np.einsum("ij,ij->i", factors, factors))
        order = np.argsort(-lengths, kind="stable")
        return order, lengths[order]

    def profiles(
        self,
        indptr: np.ndarray,
        indices: np.ndarray,
        stars: np.ndarray,
        mapping: np.ndarray | None = None,
    ) -> np.ndarray:
        """PureSVD's profile (float32, rows x factors) of each CSR row of rated movies: columns
        ``indices`` (or ``mapping[indices]``), ascending within a row, -1 left out."""
        out = np.empty((len(indptr) - 1, self.factors.shape[1]), dtype=np.float32)
        # The refresh's indices as they are (int32): a copy of every rating would be the
        # largest array of the step.
        _profiles(
            np.asarray(indptr), np.asarray(indices),
            np.empty(0, np.int64) if mapping is None else np.asarray(mapping, dtype=np.int64),
            np.asarray(stars, dtype=np.float32), self.binary, self.column_scale, self.factors,
            out,
        )  # fmt: skip
        return out

    def followed(
        self,
        profiles: np.ndarray,
        latest: Sources,
        entry_rows: np.ndarray,
        entry_columns: np.ndarray,
    ) -> np.ndarray:
        """The column each list entry follows (int64, -1 where the transition part does not
        win): entry ``e`` is movie column ``entry_columns[e]`` (-1: none) of user row
        ``entry_rows[e]`` (-1: none) of ``profiles`` and ``latest`` (each user's latest
        ratings with their weights), a row's entries consecutive."""
        out = np.full(len(entry_columns), -1, dtype=np.int64)
        order, lengths = self._by_length
        table = self.table
        _followed(
            profiles, np.asarray(entry_rows, dtype=np.int64),
            np.asarray(entry_columns, dtype=np.int64), latest.indptr, latest.columns,
            latest.weights, table.indptr, table.columns, table.weights, self.factors, order,
            lengths, float(self.transition_weight), out,
        )  # fmt: skip
        return out

    def followed_by_one(
        self, rated_columns: np.ndarray, stars: np.ndarray, recommended_columns: np.ndarray
    ) -> np.ndarray:
        """``followed`` for one user from their ratings **oldest first** (``rated_columns``,
        -1 for a movie not served, which still counts in the order) and their stars."""
        rated = np.asarray(rated_columns, dtype=np.int64)
        bounds = np.array([0, len(rated)], dtype=np.int64)
        # The refresh's weights (``latest_ratings``), by the same function, over the whole
        # sequence: a movie not served counts in the order before it is left out.
        latest = np.arange(max(len(rated) - self.recent, 0), len(rated))
        weights = decayed(len(rated) - 1 - latest, self.recent_decay)
        served = rated[latest] >= 0
        sources = Sources(
            np.array([0, served.sum()], np.int64), rated[latest][served], weights[served]
        )
        by_column = np.argsort(rated, kind="stable")
        profile = self.profiles(bounds, rated[by_column], np.asarray(stars)[by_column])
        entries = np.asarray(recommended_columns, dtype=np.int64)
        return self.followed(profile, sources, np.zeros(len(entries), np.int64), entries)

    def followed_ids(
        self,
        item_ids: np.ndarray,
        rated_ids: np.ndarray,
        ratings: np.ndarray,
        recommended_ids: np.ndarray,
    ) -> dict[int, int]:
        """``followed_by_one`` by movie id (``item_ids``: the served movies): recommended
        movie -> the movie it follows, for those where the transition part wins."""
        recommended = np.asarray(recommended_ids, dtype=np.int64)
        if not len(recommended):
            return {}
        found = self.followed_by_one(
            positions(item_ids, rated_ids), np.asarray(ratings), positions(item_ids, recommended)
        )
        return {
            int(movie): int(item_ids[column])
            for movie, column in zip(recommended, found, strict=True)
            if column >= 0
        }


@dataclass(frozen=True)
class UserFollowers:
    """What the refresh explains "just watched" by, for every user of a sequential ranker:
    their profiles from their ratings of the served movies, and their latest ratings."""

    just_watched: JustWatched
    profiles: np.ndarray  # float32, user rows x factors
    latest: Sources  # per user row: the ranker's recency weights over the served movies

    @classmethod
    def of(cls, ranker: Any, rated: sp.csr_matrix, moved: np.ndarray) -> UserFollowers | None:
        """For a sequential ranker fitted on ``rated`` (user rows x fitted movies, the stars)
        and placed on the served movies (``moved``: fitted column -> served column, -1 for a
        movie no longer served); None for any other ranker."""
        just_watched = JustWatched.of(ranker)
        if just_watched is None:
            return None
        sequential = ranker.base if isinstance(ranker, BlendedRanker) else ranker
        profiles = just_watched.profiles(rated.indptr, rated.indices, rated.data, moved)
        return cls(just_watched, profiles, Sources.of(sequential.recent_weights.tocsr()))

    def followed(
        self, item_ids: np.ndarray, user_rows: np.ndarray, list_movie_ids: list[np.ndarray]
    ) -> list[np.ndarray]:
        """For list ``i`` (movie ids of user row ``user_rows[i]``; -1 for a user it does not
        hold) the movie id each of its movies follows, -1 where the transition part does not
        win (``item_ids``: the served movies)."""
        lengths = np.array([len(movies) for movies in list_movie_ids], dtype=np.int64)
        if not len(lengths):
            return []
        columns = positions(item_ids, np.concatenate(list_movie_ids))
        rows = np.repeat(np.asarray(user_rows, dtype=np.int64), lengths)
        found = self.just_watched.followed(self.profiles, self.latest, rows, columns)
        found[found >= 0] = item_ids[found[found >= 0]]
        return np.split(found, np.cumsum(lengths)[:-1])
